// #/runs/<id>: one run: overview, metrics with a history chart, params,
// tags and artifacts. Query: ?metric=<key>&x=step|time
import { h, replace, route } from '../dom.js';
import { getRun, getExperiment, metricHistory } from '../api.js';
import { card, errorBox, statusBadge, timeEl, kvList, keyValueTable, loading, chip } from './common.js';
import { fmtNumber, fmtDuration, fmtTime, metricValue, runDuration, runName, tagMap, byKey } from '../format.js';
import { lineChart } from '../chart.js';
import { artifactTree } from './artifacts.js';

export function runView(main, ctx) {
  const runId = ctx.params[0];
  ctx.title(`Run ${runId}`);
  const state = { metric: ctx.query.get('metric') || '', x: ctx.query.get('x') === 'time' ? 'time' : 'step' };
  const history = new Map(); // metric key → Promise of history
  let metricsTable = null;
  let chartSlot = null;
  let chartHead = null;
  let xToggle = null;
  let metricKeys = [];

  const crumbs = h('nav', { class: 'crumbs' }, h('a', { href: '#/experiments' }, 'Experiments'));
  const body = h('div', null, loading());
  main.append(crumbs, body);

  function syncQuery() {
    ctx.setQuery({ metric: state.metric, x: state.x === 'time' ? 'time' : '' });
  }

  async function load() {
    let run;
    try {
      ({ run } = await getRun(runId, ctx.signal));
    } catch (e) {
      if (ctx.signal.aborted) return;
      replace(body, errorBox(e, { testid: 'run-error', title: 'Could not load the run' }));
      return;
    }
    const info = run.info || {};
    const data = run.data || {};
    const tags = tagMap(data.tags);
    const name = runName(run);
    ctx.title(name);

    const expLink = h('a', { href: route('experiments', info.experiment_id), testid: 'run-experiment-link' },
      `Experiment ${info.experiment_id}`);
    replace(crumbs, h('a', { href: '#/experiments' }, 'Experiments'), ' / ', expLink, ' / ', name);
    ctx.track(getExperiment(info.experiment_id, ctx.signal).then(({ experiment }) => {
      if (experiment && experiment.name) expLink.textContent = experiment.name;
    }, () => {}));

    const parent = tags.get('mlflow.parentRunId');
    const commit = tags.get('mlflow.source.git.commit');
    const overview = card(null, { class: 'card overview' },
      kvList([
        ['Run ID', h('span', { class: 'mono', testid: 'run-id' }, info.run_id || info.run_uuid)],
        ['Status', statusBadge(info.status)],
        ['User', info.user_id || tags.get('mlflow.user') || ''],
        ['Started', timeEl(info.start_time)],
        ['Ended', timeEl(info.end_time)],
        ['Duration', info.end_time ? runDuration(info) : (info.status === 'RUNNING' ? 'running' : '')],
        ['Lifecycle', info.lifecycle_stage === 'deleted' ? chip('deleted', 'chip-bad') : ''],
        ['Parent run', parent ? h('a', { href: route('runs', parent), class: 'mono' }, parent) : ''],
        ['Source', tags.get('mlflow.source.name') || ''],
        ['Git commit', commit ? h('span', { class: 'mono' }, commit) : ''],
        ['Artifact URI', h('span', { class: 'mono' }, info.artifact_uri || '')],
      ], 'run-info'),
      tags.get('mlflow.note.content')
        ? h('div', { class: 'note', testid: 'run-description' }, tags.get('mlflow.note.content')) : null);

    const metrics = [...(data.metrics || [])].sort(byKey);
    metricKeys = metrics.map((m) => m.key);
    if (!metricKeys.includes(state.metric)) state.metric = metricKeys[0] || '';
    metricsTable = metrics.length ? h('table', { class: 'grid metrics-table', testid: 'run-metrics' },
      h('thead', null, h('tr', null, h('th', null, 'Metric'), h('th', { class: 'num' }, 'Latest'),
        h('th', { class: 'num' }, 'Step'), h('th', null, 'Logged at'))),
      h('tbody', null, metrics.map((m) => h('tr', { 'data-key': m.key, testid: 'metric-row' },
        h('th', { scope: 'row', class: 'key' }, h('button', {
          type: 'button', class: 'link-btn', testid: 'metric-select', title: `Plot ${m.key}`,
          onclick: () => selectMetric(m.key),
        }, m.key)),
        h('td', { class: 'num', testid: 'metric-value', title: String(m.value) }, fmtNumber(m.value)),
        h('td', { class: 'num' }, String(m.step || 0)),
        h('td', { class: 'nowrap' }, timeEl(m.timestamp))))))
      : h('p', { class: 'muted', testid: 'run-metrics-empty' }, 'No metrics logged.');

    chartHead = h('h3', { class: 'chart-title', testid: 'chart-title' });
    xToggle = h('div', { class: 'segmented', role: 'group', 'aria-label': 'X axis' },
      ['step', 'time'].map((x) => h('button', {
        type: 'button', 'data-x': x, testid: `chart-x-${x}`,
        onclick: () => { state.x = x; syncQuery(); drawChart(); },
      }, x === 'step' ? 'Step' : 'Time')));
    chartSlot = h('div', { class: 'chart-slot' });
    const metricsCard = card('Metrics', { testid: 'metrics-card' },
      h('div', { class: 'metrics-layout' },
        h('div', { class: 'metrics-list' }, metricsTable),
        metrics.length ? h('div', { class: 'chart-panel' },
          h('div', { class: 'chart-head' }, chartHead, xToggle), chartSlot) : null));

    const params = [...(data.params || [])].sort(byKey);
    const allTags = [...(data.tags || [])].sort(byKey);
    const userTags = allTags.filter((t) => !t.key.startsWith('mlflow.'));
    const sysTags = allTags.filter((t) => t.key.startsWith('mlflow.'));

    replace(body,
      h('div', { class: 'page-head' },
        h('h1', { testid: 'run-name' }, name), statusBadge(info.status)),
      overview,
      metricsCard,
      h('div', { class: 'two-col' },
        card('Parameters', { testid: 'params-card' },
          keyValueTable(params, { testid: 'run-params', empty: 'No parameters logged.', keyLabel: 'Parameter' })),
        card('Tags', { testid: 'tags-card' },
          keyValueTable(userTags, { testid: 'run-tags', empty: 'No tags.', keyLabel: 'Tag' }),
          sysTags.length ? h('details', { class: 'system-tags' },
            h('summary', null, `System tags (${sysTags.length})`),
            keyValueTable(sysTags, { testid: 'run-system-tags', keyLabel: 'Tag' })) : null)),
      card('Artifacts', { testid: 'artifacts-card' }, artifactTree(info, ctx.signal, ctx.track)));
    if (state.metric) drawChart();
  }

  function selectMetric(key) {
    if (!metricKeys.includes(key)) return;
    state.metric = key;
    syncQuery();
    drawChart();
  }

  function drawChart() {
    if (!chartSlot || !state.metric) return;
    const key = state.metric;
    const xMode = state.x;
    for (const tr of metricsTable.querySelectorAll('tbody tr')) {
      tr.classList.toggle('selected', tr.dataset.key === key);
    }
    for (const b of xToggle.querySelectorAll('button')) {
      b.classList.toggle('active', b.dataset.x === xMode);
      b.setAttribute('aria-pressed', String(b.dataset.x === xMode));
    }
    chartHead.textContent = key;
    replace(chartSlot, loading('Loading history…'));
    if (!history.has(key)) history.set(key, metricHistory(runId, key, { signal: ctx.signal }));
    ctx.track(history.get(key).then((hist) => {
      if (state.metric !== key || state.x !== xMode) return;
      replace(chartSlot, chartFor(key, hist, xMode));
    }, (e) => {
      history.delete(key);
      if (ctx.signal.aborted || state.metric !== key) return;
      replace(chartSlot, errorBox(e, { testid: 'chart-error', title: 'Could not load the metric history' }));
    }));
  }

  function chartFor(key, hist, xMode) {
    const t0 = hist.reduce((a, m) => Math.min(a, Number(m.timestamp)), Infinity);
    let skipped = 0;
    const pts = [];
    for (const m of hist) {
      const y = metricValue(m.value);
      if (!Number.isFinite(y)) { skipped++; continue; }
      const x = xMode === 'time' ? Number(m.timestamp) - t0 : Number(m.step || 0);
      pts.push({ x, y, m });
    }
    pts.sort((a, b) => a.x - b.x || Number(a.m.timestamp) - Number(b.m.timestamp));
    let ymin = Infinity, ymax = -Infinity;
    for (const p of pts) { if (p.y < ymin) ymin = p.y; if (p.y > ymax) ymax = p.y; }
    const chart = lineChart(pts, {
      xLabel: xMode === 'time' ? 'time since first value' : 'step',
      yLabel: key,
      integerX: xMode === 'step',
      xFormat: xMode === 'time' ? (v) => fmtDuration(v) : undefined,
      describe: (p) => `step ${p.m.step || 0} · ${fmtNumber(p.m.value)} · ${fmtTime(p.m.timestamp)}`,
    });
    const summary = h('p', { class: 'muted chart-summary', testid: 'chart-summary' },
      `${hist.length} value${hist.length === 1 ? '' : 's'}`,
      pts.length ? ` · min ${fmtNumber(ymin)} · max ${fmtNumber(ymax)}` : '',
      skipped ? ` · ${skipped} non-finite not plotted` : '');
    return h('div', null, chart, summary);
  }

  ctx.track(load());
  return {
    update(q) {
      const metric = q.get('metric') || state.metric;
      const x = q.get('x') === 'time' ? 'time' : 'step';
      if (metric !== state.metric || x !== state.x) {
        state.metric = metricKeys.includes(metric) ? metric : state.metric;
        state.x = x;
        drawChart();
      }
    },
  };
}
