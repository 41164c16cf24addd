// #/experiments/<id>: the experiment's runs table with an MLflow filter
// string, server-side sorting by any column and next_page_token paging.
// Query: ?filter=<mlflow filter>&order=<order_by clause>&view=ALL|DELETED_ONLY
import { h, replace, route } from '../dom.js';
import { getExperiment, searchRuns } from '../api.js';
import { errorBox, statusBadge, timeEl, kvList, chip, loading } from './common.js';
import { fmtNumber, runDuration, runName, tagMap } from '../format.js';

const PAGE = 100;

/** "metrics.`val loss` DESC" → {key: "metrics.`val loss`", desc: true} */
function parseOrder(s) {
  if (!s) return null;
  const m = /^(.*?)\s+(ASC|DESC)$/i.exec(s.trim());
  return m ? { key: m[1], desc: m[2].toUpperCase() === 'DESC' } : { key: s.trim(), desc: false };
}
const orderString = (o) => `${o.key} ${o.desc ? 'DESC' : 'ASC'}`;
const quoteKey = (k) => '`' + k + '`';

export function runsView(main, ctx) {
  const expId = ctx.params[0];
  ctx.title(`Experiment ${expId}`);
  const state = { filter: '', order: null, view: '', runs: [], token: undefined };
  let seq = 0;

  const title = h('h1', { testid: 'experiment-name' }, `Experiment ${expId}`);
  const meta = h('div', { class: 'exp-meta' });
  const filterInput = h('input', {
    type: 'search', class: 'filter-input mono', testid: 'runs-filter', spellcheck: 'false', autocomplete: 'off',
    placeholder: "e.g. metrics.accuracy > 0.9 and params.model = 'tree' and attributes.status = 'FINISHED'",
    'aria-label': 'Filter runs (MLflow search syntax)',
  });
  const viewSel = h('select', { testid: 'runs-view-type', 'aria-label': 'Which runs' },
    h('option', { value: '' }, 'Active runs'),
    h('option', { value: 'DELETED_ONLY' }, 'Deleted runs'),
    h('option', { value: 'ALL' }, 'All runs'));
  const clear = h('button', { type: 'button', class: 'secondary', testid: 'runs-filter-clear' }, 'Clear');
  const form = h('form', { class: 'toolbar filter-bar', testid: 'runs-filter-form', role: 'search' },
    filterInput, h('button', { type: 'submit', testid: 'runs-filter-apply' }, 'Search'), clear, viewSel);
  const errorSlot = h('div', { class: 'error-slot' });
  const tableSlot = h('div', { class: 'table-scroll', testid: 'runs-results' }, loading());
  const footer = h('div', { class: 'table-footer' });
  const crumb = h('span', null, `Experiment ${expId}`);
  main.append(
    h('nav', { class: 'crumbs' }, h('a', { href: '#/experiments' }, 'Experiments'), ' / ', crumb),
    h('div', { class: 'page-head' }, title), meta, form, errorSlot, tableSlot, footer);

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.filter = filterInput.value.trim();
    reload();
  });
  clear.addEventListener('click', () => {
    filterInput.value = '';
    state.filter = '';
    reload();
  });
  viewSel.addEventListener('change', () => { state.view = viewSel.value; reload(); });

  function fromQuery(q) {
    state.filter = q.get('filter') || '';
    state.order = parseOrder(q.get('order'));
    state.view = q.get('view') || '';
    filterInput.value = state.filter;
    viewSel.value = state.view;
  }

  function syncQuery() {
    ctx.setQuery({ filter: state.filter, order: state.order ? orderString(state.order) : '', view: state.view });
  }

  async function loadExperiment() {
    const { experiment: e } = await getExperiment(expId, ctx.signal);
    if (!e) return;
    ctx.title(e.name);
    crumb.textContent = e.name || `Experiment ${expId}`;
    replace(title, e.name || `Experiment ${expId}`,
      e.lifecycle_stage === 'deleted' ? chip('deleted', 'chip-bad') : null);
    const tags = tagMap(e.tags);
    const note = tags.get('mlflow.note.content');
    const userTags = (e.tags || []).filter((t) => !t.key.startsWith('mlflow.'));
    replace(meta,
      kvList([
        ['Experiment ID', h('span', { class: 'mono' }, e.experiment_id)],
        ['Artifact location', h('span', { class: 'mono' }, e.artifact_location || '')],
        ['Created', timeEl(e.creation_time)],
        ['Last updated', timeEl(e.last_update_time)],
        ['Tags', userTags.length ? userTags.map((t) => chip(`${t.key}: ${t.value}`)) : ''],
      ], 'experiment-meta'),
      note ? h('p', { class: 'note' }, note) : null);
  }

  async function loadRuns(append) {
    const my = ++seq;
    if (!append) syncQuery();
    let resp;
    try {
      resp = await searchRuns({
        experimentId: expId, filter: state.filter, viewType: state.view || undefined,
        orderBy: state.order ? [orderString(state.order)] : undefined,
        pageToken: append ? state.token : undefined, maxResults: PAGE, signal: ctx.signal,
      });
    } catch (e) {
      if (my !== seq || ctx.signal.aborted) return;
      if (!append) {
        state.runs = [];
        state.token = undefined;
        replace(tableSlot);
        replace(footer);
      }
      replace(errorSlot, errorBox(e, {
        testid: 'runs-error',
        title: state.filter && e.status === 400 ? 'Invalid filter' : 'Could not load runs',
      }));
      return;
    }
    if (my !== seq) return;
    state.runs = append ? state.runs.concat(resp.runs || []) : (resp.runs || []);
    state.token = resp.next_page_token || undefined;
    replace(errorSlot);
    render();
  }

  function sortBy(key, firstDesc) {
    if (state.order && state.order.key === key) state.order = { key, desc: !state.order.desc };
    else state.order = { key, desc: firstDesc };
    reload();
  }

  function sortHeader(label, key, firstDesc, testid, cls) {
    const active = state.order ? state.order.key === key : key === 'attributes.start_time';
    const desc = state.order ? state.order.desc : true; // server default: start_time DESC
    const arrow = active ? (desc ? ' ▼' : ' ▲') : '';
    return h('th', {
      class: `sortable ${cls || ''}${active ? ' sorted' : ''}`.trim(),
      'aria-sort': active ? (desc ? 'descending' : 'ascending') : null,
      scope: 'col',
    }, h('button', {
      type: 'button', class: 'sort-btn', testid, 'data-order-key': key, title: `Sort by ${label}`,
      onclick: () => sortBy(key, firstDesc),
    }, label, h('span', { class: 'arrow' }, arrow)));
  }

  function render() {
    const runs = state.runs;
    const paramKeys = new Set();
    const metricKeys = new Set();
    for (const r of runs) {
      for (const p of (r.data && r.data.params) || []) paramKeys.add(p.key);
      for (const m of (r.data && r.data.metrics) || []) metricKeys.add(m.key);
    }
    const pk = [...paramKeys].sort();
    const mk = [...metricKeys].sort();
    const groupRow = h('tr', { class: 'group-row' },
      h('th', { colspan: 5 }, ''),
      pk.length ? h('th', { colspan: pk.length, class: 'group col-param first' }, 'Parameters') : null,
      mk.length ? h('th', { colspan: mk.length, class: 'group col-metric first' }, 'Metrics') : null);
    const headRow = h('tr', null,
      sortHeader('Run name', 'attributes.run_name', false, 'col-run_name'),
      sortHeader('Status', 'attributes.status', false, 'col-status'),
      sortHeader('Start time', 'attributes.start_time', true, 'col-start_time'),
      h('th', { scope: 'col', class: 'num' }, 'Duration'),
      sortHeader('User', 'attributes.user_id', false, 'col-user_id'),
      pk.map((k, i) => sortHeader(k, `params.${quoteKey(k)}`, false, `col-param-${k}`, `col-param${i ? '' : ' first'}`)),
      mk.map((k, i) => sortHeader(k, `metrics.${quoteKey(k)}`, true, `col-metric-${k}`, `num col-metric${i ? '' : ' first'}`)));

    const rows = runs.map((r) => {
      const info = r.info || {};
      const id = info.run_id || info.run_uuid;
      const tags = tagMap(r.data && r.data.tags);
      const params = new Map(((r.data && r.data.params) || []).map((p) => [p.key, p.value]));
      const metrics = new Map(((r.data && r.data.metrics) || []).map((m) => [m.key, m]));
      return h('tr', { testid: 'run-row', 'data-run-id': id },
        h('td', { class: 'run-name' },
          h('a', { href: route('runs', id), testid: 'run-link', title: id }, runName(r)),
          info.lifecycle_stage === 'deleted' ? chip('deleted', 'chip-bad') : null),
        h('td', null, statusBadge(info.status)),
        h('td', { class: 'nowrap' }, timeEl(info.start_time)),
        h('td', { class: 'nowrap num' }, info.status === 'RUNNING' && !info.end_time ? 'running' : runDuration(info)),
        h('td', { class: 'trunc' }, info.user_id || tags.get('mlflow.user') || ''),
        pk.map((k, i) => {
          const v = params.get(k);
          return h('td', { class: `trunc col-param${i ? '' : ' first'}`, title: v ?? null, 'data-param': k }, v ?? '');
        }),
        mk.map((k, i) => {
          const m = metrics.get(k);
          return h('td', {
            class: `num col-metric${i ? '' : ' first'}`, 'data-metric': k,
            title: m ? `${m.value} (step ${m.step || 0})` : null,
          }, m ? fmtNumber(m.value) : '');
        }));
    });
    const body = rows.length ? rows
      : [h('tr', null, h('td', { colspan: 5 + pk.length + mk.length, class: 'muted empty', testid: 'runs-empty' },
        state.filter ? 'No runs match this filter.' : 'No runs in this experiment yet.'))];
    replace(tableSlot, h('table', { class: 'grid runs', testid: 'runs-table' },
      h('thead', null, groupRow, headRow), h('tbody', null, body)));
    replace(footer,
      h('span', { class: 'muted', testid: 'runs-count' },
        `${runs.length} run${runs.length === 1 ? '' : 's'}${state.token ? ' loaded' : ''}`),
      state.token ? h('button', {
        type: 'button', class: 'secondary', testid: 'runs-load-more',
        onclick: (ev) => { ev.target.disabled = true; ctx.track(loadRuns(true)); },
      }, `Load ${PAGE} more`) : null);
  }

  const reload = () => ctx.track(loadRuns(false));
  fromQuery(ctx.query);
  ctx.track(loadExperiment().catch((e) => {
    if (ctx.signal.aborted) return;
    replace(meta, errorBox(e, { testid: 'experiment-error', title: 'Could not load the experiment' }));
  }));
  reload();
  return { update(q) { fromQuery(q); reload(); } };
}
