// #/compare?runs=<id>,<id>,...: runs side by side. A table of attributes,
// params and latest metrics with the differing rows marked; the runs'
// metrics overlaid in one chart; a parallel-coordinates plot; a scatter of
// any two columns.
// Query: runs, metrics (the charted keys, comma-separated), x, smooth, log.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { getRun } from '../api.js';
import { route } from '../route.js';
import { fmtNumber, metricValue, runDuration, runName } from '../format.js';
import { ErrorBox, StatusBadge, Time, preactView, toggleKey } from '../components.jsx';
import { ChartControls, MetricChart, PALETTE } from '../chart.jsx';

export const MAX_COMPARE = 100;

const splitList = (s) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : []);

function ComparePage({ ctx, query }) {
  const ids = useMemo(() => [...new Set(splitList(query.get('runs')))].slice(0, MAX_COMPARE), [query.get('runs')]);
  const [runs, setRuns] = useState(null);
  const [err, setErr] = useState(null);
  const [diffOnly, setDiffOnly] = useState(query.get('diff') === '1');
  const [keys, setKeys] = useState(() => splitList(query.get('metrics')));
  const [opts, setOpts] = useState(() => ({
    x: query.get('x') || 'step', smoothing: Number(query.get('smooth')) || 0, log: query.get('log') === '1',
  }));

  useEffect(() => {
    ctx.title(`Compare ${ids.length} runs`);
    if (!ids.length) { setRuns([]); return; }
    ctx.track(Promise.all(ids.map((id) => getRun(id, ctx.signal).then((r) => r.run)))
      .then(setRuns, (e) => { if (!ctx.signal.aborted) setErr(e); }));
  }, [ids.join(',')]);

  const model = useMemo(() => (runs ? columnsOf(runs) : null), [runs]);
  // Default chart: the first metric.
  useEffect(() => {
    if (model && !keys.length && model.metricKeys.length) setKeys(model.metricKeys.slice(0, 1));
  }, [model]);
  useEffect(() => {
    ctx.setQuery({
      runs: ids.join(','), metrics: keys.join(','), x: opts.x === 'step' ? '' : opts.x,
      smooth: opts.smoothing ? String(opts.smoothing) : '', log: opts.log ? '1' : '', diff: diffOnly ? '1' : '',
    });
  }, [keys.join(','), opts.x, opts.smoothing, opts.log, diffOnly]);

  if (err) return <><h1>Compare runs</h1><ErrorBox err={err} testid="compare-error" title="Could not load the runs" /></>;
  if (!ids.length) {
    return (
      <>
        <h1>Compare runs</h1>
        <p class="muted" data-testid="compare-empty">No runs chosen. Select runs in an experiment's table and press Compare.</p>
      </>
    );
  }
  if (!runs) return <><h1>Compare {ids.length} runs</h1><p class="muted loading">Loading…</p></>;
  const expId = runs[0].info.experiment_id;
  const chartRuns = runs.map((r) => ({ id: r.info.run_id, name: runName(r) }));
  return (
    <>
      <nav class="crumbs"><a href="#/experiments">Experiments</a> / <a href={route('experiments', expId)}>Experiment {expId}</a> / <span>Compare</span></nav>
      <div class="page-head"><h1 data-testid="compare-title">Compare {runs.length} runs</h1></div>
      <section class="card">
        <div class="toolbar">
          <h2>Parameters and metrics</h2>
          <label><input type="checkbox" data-testid="compare-diff-only" checked={diffOnly}
            onChange={(ev) => setDiffOnly(ev.currentTarget.checked)} /> Only rows that differ</label>
        </div>
        <CompareTable runs={runs} model={model} diffOnly={diffOnly} />
      </section>
      <section class="card">
        <h2>Metrics</h2>
        <KeyPicker all={model.metricKeys} keys={keys} setKeys={setKeys} />
        <ChartControls opts={opts} setOpts={setOpts} />
        <MetricChart ctx={ctx} runs={chartRuns} keys={keys} opts={opts} testid="compare-chart" />
      </section>
      <section class="card">
        <h2>Parallel coordinates</h2>
        <ParallelCoords runs={runs} model={model} />
      </section>
      <section class="card">
        <h2>Scatter</h2>
        <Scatter runs={runs} model={model} />
      </section>
    </>
  );
}

/** Column model: every param and metric key and each run's values. */
function columnsOf(runs) {
  const params = new Set();
  const metrics = new Set();
  for (const r of runs) {
    for (const p of r.data.params || []) params.add(p.key);
    for (const m of r.data.metrics || []) metrics.add(m.key);
  }
  const paramKeys = [...params].sort();
  const metricKeys = [...metrics].sort();
  const value = (r, col) => {
    if (col.kind === 'param') {
      const p = (r.data.params || []).find((x) => x.key === col.key);
      return p ? p.value : undefined;
    }
    const m = (r.data.metrics || []).find((x) => x.key === col.key);
    return m ? metricValue(m.value) : undefined;
  };
  const cols = [
    ...paramKeys.map((key) => ({ kind: 'param', key, label: key })),
    ...metricKeys.map((key) => ({ kind: 'metric', key, label: key })),
  ];
  for (const c of cols) {
    c.values = runs.map((r) => value(r, c));
    c.numeric = c.values.every((v) => v === undefined || (v !== '' && Number.isFinite(Number(v))));
    c.differs = new Set(c.values.map((v) => (v === undefined ? '\u0000' : String(v)))).size > 1;
  }
  return { paramKeys, metricKeys, cols };
}

function CompareTable({ runs, model, diffOnly }) {
  const row = (label, cells, differs, testid, cls = '') => (diffOnly && !differs ? null : (
    <tr key={`${testid}-${label}`} class={`${differs ? 'diff' : ''} ${cls}`.trim()} data-testid={testid} data-key={label}
      data-differs={differs ? 'true' : 'false'}>
      <th scope="row" class="key trunc" title={label}>{label}</th>
      {cells}
    </tr>
  ));
  const attr = (label, f) => {
    const vals = runs.map(f);
    const text = vals.map((v) => (typeof v === 'string' ? v : ''));
    return row(label, vals.map((v, i) => <td key={i}>{v}</td>), new Set(text).size > 1, 'compare-attr');
  };
  return (
    <div class="table-scroll">
      <table class="grid compare" data-testid="compare-table">
        <thead>
          <tr><th />{runs.map((r, i) => (
            <th key={r.info.run_id} scope="col" class="trunc">
              <span class="swatch-color" style={{ background: PALETTE[i % PALETTE.length] }} />{' '}
              <a href={route('runs', r.info.run_id)} data-testid="compare-run-link" title={r.info.run_id}>{runName(r)}</a>
            </th>
          ))}</tr>
        </thead>
        <tbody>
          {attr('Status', (r) => <StatusBadge status={r.info.status} />)}
          {attr('Start time', (r) => <Time ms={r.info.start_time} />)}
          {attr('Duration', (r) => runDuration(r.info))}
          {model.cols.filter((c) => c.kind === 'param').length ? <tr class="section"><th colSpan={runs.length + 1}>Parameters</th></tr> : null}
          {model.cols.filter((c) => c.kind === 'param').map((c) => row(c.key,
            c.values.map((v, i) => <td key={i} class="trunc" title={v ?? ''}>{v ?? ''}</td>), c.differs, 'compare-param'))}
          {model.cols.filter((c) => c.kind === 'metric').length ? <tr class="section"><th colSpan={runs.length + 1}>Metrics (latest)</th></tr> : null}
          {model.cols.filter((c) => c.kind === 'metric').map((c) => row(c.key,
            c.values.map((v, i) => <td key={i} class="num">{v === undefined ? '' : fmtNumber(v)}</td>), c.differs, 'compare-metric'))}
        </tbody>
      </table>
    </div>
  );
}

function KeyPicker({ all, keys, setKeys }) {
  if (!all.length) return <p class="muted">These runs have no metrics.</p>;
  return (
    <div class="key-picker" data-testid="metric-picker">
      {all.map((k) => (
        <label key={k} class="chip-check">
          <input type="checkbox" data-metric={k} checked={keys.includes(k)}
            onChange={(ev) => setKeys(toggleKey(all, keys, k, ev.currentTarget.checked))} />
          {' '}{k}
        </label>
      ))}
    </div>
  );
}

/** Linear scale of the finite values to [a, b]; a constant column maps to the middle. */
function scaler(values, a, b) {
  const fin = values.filter(Number.isFinite);
  const lo = Math.min(...fin);
  const hi = Math.max(...fin);
  if (!fin.length) return () => null;
  if (hi === lo) return (v) => (Number.isFinite(v) ? (a + b) / 2 : null);
  return (v) => (Number.isFinite(v) ? a + ((v - lo) / (hi - lo)) * (b - a) : null);
}

/** An axis's position of each run: numbers scaled, strings as evenly spaced categories. */
function axisPositions(col, top, bottom) {
  if (col.numeric) {
    const nums = col.values.map((v) => (v === undefined ? NaN : Number(v)));
    const s = scaler(nums, bottom, top);
    const fin = nums.filter(Number.isFinite);
    return { pos: nums.map(s), lo: fin.length ? fmtNumber(Math.min(...fin)) : '', hi: fin.length ? fmtNumber(Math.max(...fin)) : '' };
  }
  const cats = [...new Set(col.values.filter((v) => v !== undefined).map(String))].sort();
  const step = cats.length > 1 ? (bottom - top) / (cats.length - 1) : 0;
  const at = new Map(cats.map((c, i) => [c, cats.length > 1 ? bottom - i * step : (top + bottom) / 2]));
  return { pos: col.values.map((v) => (v === undefined ? null : at.get(String(v)))), lo: cats[0] || '', hi: cats[cats.length - 1] || '' };
}

const MAX_AXES = 12;

function ParallelCoords({ runs, model }) {
  const candidates = model.cols.filter((c) => c.differs || model.cols.length <= MAX_AXES);
  const [axes, setAxes] = useState(() => candidates.slice(0, 8).map((c) => `${c.kind}:${c.key}`));
  const cols = axes.map((id) => model.cols.find((c) => `${c.kind}:${c.key}` === id)).filter(Boolean);
  const W = Math.max(480, cols.length * 130);
  const H = 280;
  const top = 30;
  const bottom = H - 30;
  const x = (i) => (cols.length > 1 ? 50 + (i * (W - 100)) / (cols.length - 1) : W / 2);
  const pos = cols.map((c) => axisPositions(c, top, bottom));
  return (
    <div data-testid="parallel-coords">
      <div class="key-picker">
        {model.cols.map((c) => {
          const id = `${c.kind}:${c.key}`;
          return (
            <label key={id} class="chip-check">
              <input type="checkbox" data-axis={id} checked={axes.includes(id)}
                onChange={(ev) => setAxes(ev.currentTarget.checked ? [...axes, id].slice(-MAX_AXES) : axes.filter((a) => a !== id))} />
              {' '}{c.kind === 'param' ? 'param' : 'metric'} {c.key}
            </label>
          );
        })}
      </div>
      {cols.length < 2 ? <p class="muted">Choose at least two columns.</p> : (
        <div class="table-scroll">
          <svg class="pcoords" width={W} height={H} viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Parallel coordinates">
            {runs.map((r, ri) => {
              const pts = cols.map((_, ci) => [x(ci), pos[ci].pos[ri]]).filter(([, y]) => y !== null && y !== undefined);
              return (
                <polyline key={r.info.run_id} data-testid="pcoords-line" points={pts.map(([a, b]) => `${a},${b}`).join(' ')}
                  fill="none" stroke={PALETTE[ri % PALETTE.length]} stroke-width="1.5" stroke-opacity="0.85">
                  <title>{runName(r)}</title>
                </polyline>
              );
            })}
            {cols.map((c, ci) => (
              <g key={`${c.kind}:${c.key}`} class="pc-axis">
                <line x1={x(ci)} x2={x(ci)} y1={top} y2={bottom} />
                <text x={x(ci)} y={top - 12} text-anchor="middle" class="pc-label">{c.key}</text>
                <text x={x(ci) + 4} y={top + 4} class="pc-tick">{pos[ci].hi}</text>
                <text x={x(ci) + 4} y={bottom} class="pc-tick">{pos[ci].lo}</text>
              </g>
            ))}
          </svg>
        </div>
      )}
    </div>
  );
}

function Scatter({ runs, model }) {
  const numeric = model.cols.filter((c) => c.numeric);
  // Defaults: the param and the metric that most runs have.
  const have = (c) => c.values.filter((v) => v !== undefined).length;
  const ranked = numeric.slice().sort((a, b) => have(b) - have(a));
  const idOf = (c) => (c ? `${c.kind}:${c.key}` : '');
  const [xId, setX] = useState(() => idOf(ranked.find((c) => c.kind === 'param') || ranked[0]));
  const [yId, setY] = useState(() => idOf(ranked.find((c) => c.kind === 'metric' && idOf(c) !== xId) ||
    ranked.find((c) => idOf(c) !== xId) || ranked[0]));
  if (!numeric.length) return <p class="muted">No numeric columns to plot.</p>;
  const find = (id) => numeric.find((c) => `${c.kind}:${c.key}` === id) || numeric[0];
  const cx = find(xId);
  const cy = find(yId);
  const W = 520;
  const H = 340;
  const m = 50;
  const xs = cx.values.map((v) => (v === undefined ? NaN : Number(v)));
  const ys = cy.values.map((v) => (v === undefined ? NaN : Number(v)));
  const sx = scaler(xs, m, W - 20);
  const sy = scaler(ys, H - m, 20);
  const fin = (a) => a.filter(Number.isFinite);
  const select = (value, set, testid) => (
    <select data-testid={testid} value={value} onChange={(ev) => set(ev.currentTarget.value)}>
      {numeric.map((c) => <option key={`${c.kind}:${c.key}`} value={`${c.kind}:${c.key}`}>{c.kind} {c.key}</option>)}
    </select>
  );
  return (
    <div data-testid="scatter">
      <div class="toolbar">
        <label>X {select(`${cx.kind}:${cx.key}`, setX, 'scatter-x')}</label>
        <label>Y {select(`${cy.kind}:${cy.key}`, setY, 'scatter-y')}</label>
      </div>
      <svg class="scatter" width={W} height={H} viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${cy.key} against ${cx.key}`}>
        <line class="axis" x1={m} x2={W - 20} y1={H - m} y2={H - m} />
        <line class="axis" x1={m} x2={m} y1={20} y2={H - m} />
        <text class="pc-tick" x={m} y={H - m + 16}>{fin(xs).length ? fmtNumber(Math.min(...fin(xs))) : ''}</text>
        <text class="pc-tick" x={W - 20} y={H - m + 16} text-anchor="end">{fin(xs).length ? fmtNumber(Math.max(...fin(xs))) : ''}</text>
        <text class="pc-label" x={(W + m) / 2} y={H - 12} text-anchor="middle">{cx.key}</text>
        <text class="pc-tick" x={m - 4} y={H - m} text-anchor="end">{fin(ys).length ? fmtNumber(Math.min(...fin(ys))) : ''}</text>
        <text class="pc-tick" x={m - 4} y={26} text-anchor="end">{fin(ys).length ? fmtNumber(Math.max(...fin(ys))) : ''}</text>
        <text class="pc-label" x={14} y={(H - m) / 2} text-anchor="middle" transform={`rotate(-90 14 ${(H - m) / 2})`}>{cy.key}</text>
        {runs.map((r, i) => {
          const px = sx(xs[i]);
          const py = sy(ys[i]);
          if (px === null || py === null) return null;
          return (
            <circle key={r.info.run_id} data-testid="scatter-point" cx={px} cy={py} r="5" fill={PALETTE[i % PALETTE.length]}>
              <title>{`${runName(r)}: ${cx.key}=${fmtNumber(xs[i])}, ${cy.key}=${fmtNumber(ys[i])}`}</title>
            </circle>
          );
        })}
      </svg>
    </div>
  );
}

export const compareView = preactView(ComparePage, 'compareView');
