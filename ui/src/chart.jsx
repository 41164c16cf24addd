// Metric charts on uPlot: several metrics of several runs in one chart;
// step, wall-time and relative-time axes; smoothing; log scale; drag to
// zoom (double-click resets); a legend with min, max and last per series.
// Histories come from get-history-bulk-interval, which samples long ones
// down to a bounded number of points per run (1,000 here), so a 100k-step
// metric costs what a 1k-step one does. Zooming in on steps reads the
// zoomed range again at full detail (up to the same bound).
import uPlot from 'uplot';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { metricHistoryBulk } from './api.js';
import { fmtNumber, metricValue } from './format.js';
import { ErrorBox } from './components.jsx';

export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2',
  '#7f7f7f', '#bcbd22', '#17becf'];
const POINTS = 1000; // per run and metric
const BULK_RUNS = 100; // get-history-bulk-interval's cap on run_ids

/**
 * Loads the histories of keys for runs: {key: {runId: [{step, timestamp, value}]}}.
 * range: [startStep, endStep] or null.
 */
async function loadHistories(runs, keys, range, signal) {
  const out = {};
  await Promise.all(keys.map(async (key) => {
    out[key] = {};
    for (let i = 0; i < runs.length; i += BULK_RUNS) {
      const ids = runs.slice(i, i + BULK_RUNS).map((r) => r.id);
      const ms = await metricHistoryBulk({ runIds: ids, key, maxResults: POINTS, range, signal });
      for (const m of ms) (out[key][m.run_id] ||= []).push(m);
    }
  }));
  return out;
}

/** Exponential moving average with debiasing (TensorBoard's smoothing). */
export function smooth(ys, w) {
  if (!(w > 0)) return ys;
  const out = new Array(ys.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y === null || y === undefined || !Number.isFinite(y)) { out[i] = y; continue; }
    last = last * w + (1 - w) * y;
    n++;
    out[i] = last / (1 - w ** n);
  }
  return out;
}

/** One series' points as [xs, ys], sorted by x, one point per x (the last logged). */
function seriesXY(points, xMode) {
  const t0 = points.reduce((m, p) => Math.min(m, Number(p.timestamp)), Infinity);
  const byX = new Map();
  for (const p of points) {
    const ts = Number(p.timestamp);
    const x = xMode === 'time' ? ts / 1000 : xMode === 'relative' ? (ts - t0) / 1000 : Number(p.step || 0);
    byX.set(x, metricValue(p.value));
  }
  const xs = [...byX.keys()].sort((a, b) => a - b);
  return [xs, xs.map((x) => byX.get(x))];
}

function stats(ys) {
  let min = Infinity;
  let max = -Infinity;
  let last;
  for (const y of ys) {
    if (!Number.isFinite(y)) continue;
    if (y < min) min = y;
    if (y > max) max = y;
    last = y;
  }
  return last === undefined ? null : { min, max, last };
}

/** The controls of a chart: x axis, smoothing, log scale. */
export function ChartControls({ opts, setOpts }) {
  return (
    <div class="chart-controls toolbar">
      <label>X axis{' '}
        <select data-testid="chart-x" value={opts.x} onChange={(ev) => setOpts({ ...opts, x: ev.currentTarget.value })}>
          <option value="step">Step</option>
          <option value="time">Wall time</option>
          <option value="relative">Relative time</option>
        </select>
      </label>
      <label>Smoothing{' '}
        <input type="range" min="0" max="0.99" step="0.01" value={opts.smoothing} data-testid="chart-smoothing"
          aria-label="Smoothing" onInput={(ev) => setOpts({ ...opts, smoothing: Number(ev.currentTarget.value) })} />
        <span class="mono smoothing-value">{opts.smoothing.toFixed(2)}</span>
      </label>
      <label><input type="checkbox" data-testid="chart-log" checked={opts.log}
        onChange={(ev) => setOpts({ ...opts, log: ev.currentTarget.checked })} /> Log scale</label>
    </div>
  );
}

export const defaultChartOpts = () => ({ x: 'step', smoothing: 0, log: false });

/**
 * A chart of metric keys for runs [{id, name}]. opts: {x, smoothing, log}.
 * ctx.track keeps the page "loading" while histories load.
 */
export function MetricChart({ ctx, runs, keys, opts, height = 300, testid = 'metric-chart' }) {
  const box = useRef(null);
  const plot = useRef(null);
  const [hist, setHist] = useState(null);
  const [err, setErr] = useState(null);
  const [range, setRange] = useState(null);
  const [hidden, setHidden] = useState(() => new Set());
  const runKey = runs.map((r) => r.id).join(',');
  const keyKey = keys.join('\u0000');

  useEffect(() => { setRange(null); }, [runKey, keyKey, opts.x]);
  useEffect(() => {
    if (!runs.length || !keys.length) { setHist({}); return undefined; }
    let live = true;
    setErr(null);
    ctx.track(loadHistories(runs, keys, opts.x === 'step' ? range : null, ctx.signal)
      .then((h) => { if (live) setHist(h); }, (e) => { if (live && !ctx.signal.aborted) setErr(e); }));
    return () => { live = false; };
  }, [runKey, keyKey, opts.x === 'step' ? JSON.stringify(range) : '', opts.x]);

  // Series: one per (run, key) that has points.
  const series = useMemo(() => {
    if (!hist) return [];
    const out = [];
    let i = 0;
    for (const key of keys) {
      for (const r of runs) {
        const pts = (hist[key] || {})[r.id];
        if (!pts || !pts.length) continue;
        const [xs, ys] = seriesXY(pts, opts.x);
        const label = runs.length > 1 && keys.length > 1 ? `${r.name} · ${key}` : runs.length > 1 ? r.name : key;
        out.push({ label, key, run: r.id, xs, ys, stats: stats(ys), color: PALETTE[i++ % PALETTE.length] });
      }
    }
    return out;
  }, [hist, opts.x, runKey, keyKey]);

  // (Re)build the plot when the data or the options change.
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    if (plot.current) { plot.current.destroy(); plot.current = null; }
    if (!series.length) return undefined;
    const tables = series.map((s) => [s.xs, smooth(opts.log ? s.ys.map((y) => (y > 0 ? y : null)) : s.ys, opts.smoothing)]);
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    const width = Math.max(240, el.clientWidth || 600);
    const u = new uPlot({
      width,
      height,
      legend: { show: false },
      cursor: { drag: { x: true, y: false }, points: { size: 6 } },
      scales: {
        x: { time: opts.x === 'time', ...(range && opts.x === 'step' ? { min: range[0], max: range[1] } : {}) },
        y: opts.log ? { distr: 3 } : {},
      },
      axes: [
        { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.18)' }, label: opts.x === 'step' ? 'step' : opts.x === 'relative' ? 'seconds' : undefined },
        { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.18)' }, size: 64, values: (_, ticks) => ticks.map(fmtNumber) },
      ],
      series: [{ label: opts.x }, ...series.map((s) => ({
        label: s.label, stroke: s.color, fill: undefined, width: 1.5, spanGaps: true, show: !hidden.has(s.label),
        points: { show: s.xs.length < 60, size: 5, fill: s.color },
      }))],
      hooks: {
        setSelect: [(uu) => {
          if (opts.x !== 'step' || uu.select.width < 5) return;
          const lo = Math.floor(uu.posToVal(uu.select.left, 'x'));
          const hi = Math.ceil(uu.posToVal(uu.select.left + uu.select.width, 'x'));
          if (hi > lo) setRange([lo, hi]);
        }],
      },
    }, data, el);
    el.__uplot = u; // for the browser tests
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(240, el.clientWidth || 600);
      if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => { ro.disconnect(); u.destroy(); if (plot.current === u) plot.current = null; };
  }, [series, opts.smoothing, opts.log, height]);

  function toggle(label) {
    const h = new Set(hidden);
    if (h.has(label)) h.delete(label); else h.add(label);
    setHidden(h);
    const u = plot.current;
    const i = series.findIndex((s) => s.label === label);
    if (u && i >= 0) u.setSeries(i + 1, { show: !h.has(label) });
  }

  if (err) return <ErrorBox err={err} testid="chart-error" title="Could not load the metric history" />;
  return (
    <div class="metric-chart" data-testid={testid} data-series={series.length}>
      <div class="chart-head">
        {range ? (
          <button type="button" class="link" data-testid="chart-reset-zoom" onClick={() => setRange(null)}>
            Reset zoom (steps {range[0]}–{range[1]})
          </button>
        ) : <span class="muted chart-hint">Drag to zoom{opts.x === 'step' ? ' (reads the range in detail)' : ''}; double-click to reset.</span>}
      </div>
      <div class="chart-canvas" ref={box} onDblClick={() => setRange(null)} />
      {hist && !series.length ? <p class="muted" data-testid="chart-empty">No values for {keys.join(', ') || 'these metrics'}.</p> : null}
      {series.length ? (
        <table class="grid chart-legend" data-testid="chart-legend">
          <thead><tr><th /><th>Series</th><th class="num">Min</th><th class="num">Max</th><th class="num">Last</th></tr></thead>
          <tbody>
            {series.map((s) => (
              <tr key={s.label} data-testid="chart-legend-row" data-series={s.label}
                class={hidden.has(s.label) ? 'off' : ''}>
                <td><button type="button" class="swatch" aria-pressed={hidden.has(s.label) ? 'false' : 'true'}
                  title={hidden.has(s.label) ? 'Show' : 'Hide'} onClick={() => toggle(s.label)}>
                  <span class="swatch-color" style={{ background: s.color }} />
                </button></td>
                <td class="trunc" title={s.label}>{s.label}</td>
                <td class="num" data-testid="legend-min">{s.stats ? fmtNumber(s.stats.min) : ''}</td>
                <td class="num" data-testid="legend-max">{s.stats ? fmtNumber(s.stats.max) : ''}</td>
                <td class="num" data-testid="legend-last">{s.stats ? fmtNumber(s.stats.last) : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}
