// A small line chart drawn as inline SVG (no chart library). Styling comes
// from style.css via classes; no inline style attributes (CSP style-src 'self').
import { h, svg } from './dom.js';

const W = 720;
const H = 260;
const M = { top: 14, right: 18, bottom: 34, left: 64 };

function niceStep(range, count) {
  const raw = range / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

/** Nice [lo, hi, step] covering [min, max] with about `count` intervals. */
export function niceScale(min, max, count, integer = false) {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1, 0.2];
  if (min === max) {
    const d = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= d;
    max += d;
  }
  let step = niceStep(max - min, count);
  if (integer) step = Math.max(1, Math.round(step));
  return [Math.floor(min / step) * step, Math.ceil(max / step) * step, step];
}

function ticks(lo, hi, step) {
  const out = [];
  for (let i = 0, v = lo; v <= hi + step * 1e-9 && i < 100; i++, v = lo + i * step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

/** Keep at most ~2*buckets points, preserving each bucket's min and max. */
export function downsample(points, buckets = 1000) {
  if (points.length <= buckets * 2) return points;
  const out = [];
  const size = points.length / buckets;
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor(b * size);
    const to = Math.min(points.length, Math.floor((b + 1) * size));
    let lo = from;
    let hi = from;
    for (let i = from; i < to; i++) {
      if (points[i].y < points[lo].y) lo = i;
      if (points[i].y > points[hi].y) hi = i;
    }
    if (lo === hi) out.push(points[lo]);
    else if (lo < hi) out.push(points[lo], points[hi]);
    else out.push(points[hi], points[lo]);
  }
  return out;
}

function tickLabel(v) {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(1);
  return String(Number(v.toPrecision(6)));
}

/**
 * lineChart(points, opts) → element. points: [{x, y}] with finite numbers,
 * sorted by x. opts: xLabel, yLabel, integerX, xFormat(v), yFormat(v),
 * describe(point) for the hover readout and point tooltips.
 */
export function lineChart(points, opts = {}) {
  const xFormat = opts.xFormat || tickLabel;
  const yFormat = opts.yFormat || tickLabel;
  const describe = opts.describe || ((p) => `${xFormat(p.x)}: ${yFormat(p.y)}`);
  const pts = downsample(points);
  const wrap = h('div', { class: 'chart-wrap', testid: 'metric-chart' });
  if (!pts.length) {
    wrap.append(h('p', { class: 'muted' }, 'No finite values to plot.'));
    return wrap;
  }
  let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
  for (const p of pts) {
    if (p.x < xmin) xmin = p.x;
    if (p.x > xmax) xmax = p.x;
    if (p.y < ymin) ymin = p.y;
    if (p.y > ymax) ymax = p.y;
  }
  const [x0, x1, xs] = niceScale(xmin, xmax, 8, opts.integerX);
  const [y0, y1, ys] = niceScale(ymin, ymax, 5);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x) => M.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y) => M.top + ph - ((y - y0) / (y1 - y0)) * ph;
  const r2 = (v) => Math.round(v * 100) / 100;

  const chart = svg('svg', {
    class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': `${opts.yLabel || 'value'} by ${opts.xLabel || 'x'}`,
    preserveAspectRatio: 'xMidYMid meet',
  });
  const grid = svg('g', { class: 'grid' });
  const labels = svg('g', { class: 'tick-labels' });
  for (const t of ticks(y0, y1, ys)) {
    const y = r2(sy(t));
    grid.append(svg('line', { x1: M.left, x2: W - M.right, y1: y, y2: y }));
    labels.append(svg('text', { x: M.left - 8, y: y + 4, 'text-anchor': 'end' }, tickLabel(t)));
  }
  for (const t of ticks(x0, x1, xs)) {
    const x = r2(sx(t));
    grid.append(svg('line', { x1: x, x2: x, y1: M.top, y2: M.top + ph, class: 'vgrid' }));
    labels.append(svg('text', { x, y: H - M.bottom + 16, 'text-anchor': 'middle' }, xFormat(t)));
  }
  chart.append(grid, labels);
  chart.append(svg('rect', { class: 'frame', x: M.left, y: M.top, width: pw, height: ph }));
  if (opts.xLabel) {
    chart.append(svg('text', { class: 'axis-label', x: M.left + pw / 2, y: H - 4, 'text-anchor': 'middle' }, opts.xLabel));
  }

  let d = '';
  pts.forEach((p, i) => { d += `${i ? 'L' : 'M'}${r2(sx(p.x))},${r2(sy(p.y))}`; });
  chart.append(svg('path', { class: 'line', d, testid: 'chart-line' }));
  if (pts.length <= 200) {
    const dots = svg('g', { class: 'dots' });
    for (const p of pts) {
      dots.append(svg('circle', { cx: r2(sx(p.x)), cy: r2(sy(p.y)), r: 2.5 }, svg('title', null, describe(p))));
    }
    chart.append(dots);
  }

  // Hover readout: nearest point by x.
  const cross = svg('line', { class: 'crosshair', x1: 0, x2: 0, y1: M.top, y2: M.top + ph, visibility: 'hidden' });
  const marker = svg('circle', { class: 'marker', r: 4, cx: 0, cy: 0, visibility: 'hidden' });
  const overlay = svg('rect', { class: 'overlay', x: M.left, y: M.top, width: pw, height: ph });
  chart.append(cross, marker, overlay);
  const readout = h('div', { class: 'chart-readout muted', testid: 'chart-readout' }, '\u00a0');
  const nearest = (x) => {
    let lo = 0, hi = pts.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (pts[mid].x < x) lo = mid; else hi = mid;
    }
    return Math.abs(pts[lo].x - x) <= Math.abs(pts[hi].x - x) ? pts[lo] : pts[hi];
  };
  overlay.addEventListener('mousemove', (ev) => {
    const rect = chart.getBoundingClientRect();
    if (!rect.width) return;
    const vx = ((ev.clientX - rect.left) / rect.width) * W;
    const p = nearest(x0 + ((vx - M.left) / pw) * (x1 - x0));
    const cx = r2(sx(p.x)), cy = r2(sy(p.y));
    cross.setAttribute('x1', cx); cross.setAttribute('x2', cx);
    marker.setAttribute('cx', cx); marker.setAttribute('cy', cy);
    cross.setAttribute('visibility', 'visible');
    marker.setAttribute('visibility', 'visible');
    readout.textContent = describe(p);
  });
  overlay.addEventListener('mouseleave', () => {
    cross.setAttribute('visibility', 'hidden');
    marker.setAttribute('visibility', 'hidden');
    readout.textContent = '\u00a0';
  });

  wrap.append(chart, readout);
  return wrap;
}
