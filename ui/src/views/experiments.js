// #/experiments: all experiments, with a name search.
import { h, replace, route } from '../dom.js';
import { searchExperiments, ApiError } from '../api.js';
import { errorBox, timeEl, debounce, chip, loading } from './common.js';
import { tagMap } from '../format.js';

/** name ILIKE '%text%' (a quote in text becomes the one-char wildcard _). */
function nameFilter(text, op) {
  return text ? `name ${op} '%${text.replace(/'/g, '_')}%'` : '';
}

export function experimentsView(main, ctx) {
  ctx.title('Experiments');
  const search = h('input', {
    type: 'search', class: 'search', placeholder: 'Search experiments by name…',
    'aria-label': 'Search experiments by name', testid: 'experiment-search', autocomplete: 'off',
  });
  const deleted = h('input', { type: 'checkbox', testid: 'experiments-show-deleted' });
  const count = h('span', { class: 'muted count', testid: 'experiments-count' });
  const results = h('div', { class: 'table-scroll', testid: 'experiments-results' }, loading());
  main.append(
    h('div', { class: 'page-head' }, h('h1', null, 'Experiments'), count),
    h('div', { class: 'toolbar' }, search, h('label', { class: 'check' }, deleted, ' Show deleted')),
    results);

  // Case-insensitive search, falling back to LIKE on servers without ILIKE.
  let op = 'ILIKE';
  let seq = 0;

  function fromQuery(q) {
    search.value = q.get('q') || '';
    deleted.checked = q.get('deleted') === '1';
  }

  async function load() {
    const my = ++seq;
    const text = search.value.trim();
    ctx.setQuery({ q: text, deleted: deleted.checked ? '1' : '' });
    const exps = [];
    let token;
    try {
      for (;;) {
        let resp;
        try {
          resp = await searchExperiments({
            filter: nameFilter(text, op), viewType: deleted.checked ? 'ALL' : undefined,
            pageToken: token, signal: ctx.signal,
          });
        } catch (e) {
          if (text && op === 'ILIKE' && e instanceof ApiError && e.status === 400) {
            op = 'LIKE'; // retry the same page
            continue;
          }
          throw e;
        }
        exps.push(...(resp.experiments || []));
        token = resp.next_page_token;
        if (!token || exps.length >= 50000) break;
      }
    } catch (e) {
      if (my !== seq || ctx.signal.aborted) return;
      count.textContent = '';
      replace(results, errorBox(e, { testid: 'experiments-error', title: 'Could not load experiments' }));
      return;
    }
    if (my !== seq) return;
    count.textContent = `${exps.length} experiment${exps.length === 1 ? '' : 's'}`;
    replace(results, table(exps, text));
  }

  function table(exps, text) {
    if (!exps.length) {
      return h('p', { class: 'muted empty', testid: 'experiments-empty' },
        text ? `No experiment name contains “${text}”.` : 'No experiments yet.');
    }
    return h('table', { class: 'grid', testid: 'experiments-table' },
      h('thead', null, h('tr', null,
        h('th', null, 'Name'), h('th', null, 'ID'), h('th', null, 'Created'),
        h('th', null, 'Last updated'), h('th', null, 'Description'), h('th', null, 'Artifact location'))),
      h('tbody', null, exps.map((e) => {
        const tags = tagMap(e.tags);
        return h('tr', { testid: 'experiment-row', 'data-experiment-id': e.experiment_id },
          h('td', null, h('a', { href: route('experiments', e.experiment_id), testid: 'experiment-link' }, e.name || '(unnamed)'),
            e.lifecycle_stage === 'deleted' ? chip('deleted', 'chip-bad') : null),
          h('td', { class: 'mono' }, e.experiment_id),
          h('td', null, timeEl(e.creation_time)),
          h('td', null, timeEl(e.last_update_time)),
          h('td', { class: 'trunc', title: tags.get('mlflow.note.content') || null }, tags.get('mlflow.note.content') || ''),
          h('td', { class: 'mono trunc muted', title: e.artifact_location || null }, e.artifact_location || ''));
      })));
  }

  const reload = () => ctx.track(load());
  search.addEventListener('input', debounce(reload, 250));
  search.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') reload(); });
  deleted.addEventListener('change', reload);
  fromQuery(ctx.query);
  reload();
  return { update(q) { fromQuery(q); reload(); } };
}
