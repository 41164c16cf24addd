// #/models and #/models/<name>: the model registry. A server without the
// registry endpoints (404 / ENDPOINT_NOT_FOUND) gets "registry not available".
import { h, replace, route } from '../dom.js';
import {
  searchRegisteredModels, getRegisteredModel, modelVersions, isMissingEndpoint, ApiError,
} from '../api.js';
import { card, errorBox, notice, timeEl, chip, debounce, keyValueTable, statusBadge, loading, kvList } from './common.js';
import { tagMap, byKey } from '../format.js';

const isPrompt = (m) => tagMap(m.tags).get('mlflow.prompt.is_prompt') === 'true';

function unavailable() {
  return notice('Model registry not available on this server.', 'registry-unavailable');
}

function stageChip(stage) {
  const s = stage || 'None';
  return chip(s, `stage stage-${s.toLowerCase()}`);
}

export function modelsView(main, ctx) {
  ctx.title('Models');
  const search = h('input', {
    type: 'search', class: 'search', placeholder: 'Search models by name…',
    'aria-label': 'Search models by name', testid: 'model-search', autocomplete: 'off',
  });
  const count = h('span', { class: 'muted count', testid: 'models-count' });
  const results = h('div', { class: 'table-scroll', testid: 'models-results' }, loading());
  main.append(h('div', { class: 'page-head' }, h('h1', null, 'Registered models'), count),
    h('div', { class: 'toolbar' }, search), results);
  let op = 'ILIKE';
  let seq = 0;

  async function load() {
    const my = ++seq;
    const text = search.value.trim();
    ctx.setQuery({ q: text });
    const models = [];
    let token;
    try {
      for (let i = 0; i < 100; i++) {
        let resp;
        try {
          resp = await searchRegisteredModels({
            filter: text ? `name ${op} '%${text.replace(/'/g, '_')}%'` : '', pageToken: token, signal: ctx.signal,
          });
        } catch (e) {
          if (text && op === 'ILIKE' && e instanceof ApiError && e.status === 400) { op = 'LIKE'; continue; }
          throw e;
        }
        models.push(...(resp.registered_models || []).filter((m) => !isPrompt(m)));
        token = resp.next_page_token;
        if (!token) break;
      }
    } catch (e) {
      if (my !== seq || ctx.signal.aborted) return;
      count.textContent = '';
      replace(results, isMissingEndpoint(e) ? unavailable()
        : errorBox(e, { testid: 'models-error', title: 'Could not load registered models' }));
      return;
    }
    if (my !== seq) return;
    count.textContent = `${models.length} model${models.length === 1 ? '' : 's'}`;
    if (!models.length) {
      replace(results, h('p', { class: 'muted empty', testid: 'models-empty' },
        text ? `No model name contains “${text}”.` : 'No registered models yet.'));
      return;
    }
    replace(results, h('table', { class: 'grid', testid: 'models-table' },
      h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Latest versions'),
        h('th', null, 'Aliases'), h('th', null, 'Last modified'), h('th', null, 'Description'))),
      h('tbody', null, models.map((m) => h('tr', { testid: 'model-row', 'data-model': m.name },
        h('td', null, h('a', { href: route('models', m.name), testid: 'model-link' }, m.name)),
        h('td', null, (m.latest_versions || []).map((v) =>
          h('span', { class: 'ver' }, h('a', { href: route('models', m.name, 'versions', v.version) }, `v${v.version}`),
            ' ', stageChip(v.current_stage)))),
        h('td', null, (m.aliases || []).map((a) => chip(`@${a.alias} → v${a.version}`, 'alias'))),
        h('td', { class: 'nowrap' }, timeEl(m.last_updated_timestamp)),
        h('td', { class: 'trunc', title: m.description || null }, m.description || ''))))));
  }

  const reload = () => ctx.track(load());
  search.value = ctx.query.get('q') || '';
  search.addEventListener('input', debounce(reload, 250));
  reload();
  return { update(q) { search.value = q.get('q') || ''; reload(); } };
}

export function modelView(main, ctx) {
  const name = ctx.params[0];
  const focus = ctx.params[1];
  ctx.title(name);
  const body = h('div', null, loading());
  main.append(
    h('nav', { class: 'crumbs' }, h('a', { href: '#/models' }, 'Models'), ' / ', name),
    h('div', { class: 'page-head' }, h('h1', { testid: 'model-name' }, name)),
    body);

  async function load() {
    let model, versions;
    try {
      [{ registered_model: model }, versions] = await Promise.all([
        getRegisteredModel(name, ctx.signal), modelVersions(name, ctx.signal)]);
    } catch (e) {
      if (ctx.signal.aborted) return;
      replace(body, isMissingEndpoint(e) ? unavailable()
        : errorBox(e, { testid: 'model-error', title: 'Could not load the model' }));
      return;
    }
    model = model || { name };
    versions.sort((a, b) => Number(b.version) - Number(a.version));
    const aliasesOf = new Map();
    for (const a of model.aliases || []) {
      if (!aliasesOf.has(String(a.version))) aliasesOf.set(String(a.version), []);
      aliasesOf.get(String(a.version)).push(a.alias);
    }
    const tags = [...(model.tags || [])].sort(byKey);
    replace(body,
      card(null, { class: 'card overview' },
        kvList([
          ['Created', timeEl(model.creation_timestamp)],
          ['Last modified', timeEl(model.last_updated_timestamp)],
          ['Aliases', (model.aliases || []).length
            ? model.aliases.map((a) => chip(`@${a.alias} → v${a.version}`, 'alias')) : ''],
        ], 'model-info'),
        model.description ? h('div', { class: 'note', testid: 'model-description' }, model.description) : null),
      card(`Versions (${versions.length})`, { testid: 'versions-card' },
        versions.length ? h('div', { class: 'table-scroll' }, h('table', { class: 'grid', testid: 'model-versions' },
          h('thead', null, h('tr', null, h('th', null, 'Version'), h('th', null, 'Registered'),
            h('th', null, 'Stage'), h('th', null, 'Aliases'), h('th', null, 'Status'),
            h('th', null, 'Source run'), h('th', null, 'Source'), h('th', null, 'Description'))),
          h('tbody', null, versions.map((v) => {
            const aliases = v.aliases && v.aliases.length ? v.aliases : (aliasesOf.get(String(v.version)) || []);
            return h('tr', {
              testid: 'version-row', 'data-version': v.version,
              class: focus && String(focus) === String(v.version) ? 'selected' : null,
            },
            h('td', { class: 'mono' }, `v${v.version}`),
            h('td', { class: 'nowrap' }, timeEl(v.creation_timestamp)),
            h('td', null, stageChip(v.current_stage)),
            h('td', null, aliases.map((a) => chip(`@${a}`, 'alias'))),
            h('td', null, statusBadge(v.status)),
            h('td', null, v.run_id ? h('a', { href: route('runs', v.run_id), class: 'mono' }, v.run_id.slice(0, 12)) : ''),
            h('td', { class: 'mono trunc', title: v.source || null }, v.source || ''),
            h('td', { class: 'trunc', title: v.description || null }, v.description || ''));
          }))))
          : h('p', { class: 'muted' }, 'No versions yet.')),
      card('Tags', { testid: 'model-tags-card' }, keyValueTable(tags, { testid: 'model-tags', empty: 'No tags.', keyLabel: 'Tag' })));
  }

  ctx.track(load());
}
