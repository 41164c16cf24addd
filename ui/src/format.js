// Formatting helpers: all return plain strings (rendered as text).

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** Epoch milliseconds → "YYYY-MM-DD HH:MM:SS" in local time; "" when unset. */
export function fmtTime(ms) {
  if (ms === undefined || ms === null || ms === '') return '';
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Full ISO timestamp for tooltips. */
export function isoTime(ms) {
  if (ms === undefined || ms === null || ms === '') return '';
  const d = new Date(Number(ms));
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

/** Milliseconds → "850ms", "12.3s", "4m 05s", "2h 03m", "3d 04h". */
export function fmtDuration(ms) {
  if (ms === undefined || ms === null || !Number.isFinite(Number(ms))) return '';
  ms = Math.max(0, Math.round(Number(ms)));
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${pad(Math.floor(s % 60))}s`;
  const hr = Math.floor(m / 60);
  if (hr < 24) return `${hr}h ${pad(m % 60)}m`;
  return `${Math.floor(hr / 24)}d ${pad(hr % 24)}h`;
}

/** Run duration, or "" when it has no end and is not running. */
export function runDuration(info) {
  if (!info || !info.start_time) return '';
  if (info.end_time) return fmtDuration(Number(info.end_time) - Number(info.start_time));
  return '';
}

/** A metric value for display: ints as is, otherwise 6 significant digits. */
export function fmtNumber(v) {
  if (typeof v === 'string') return v; // "NaN", "Infinity", "-Infinity"
  if (v === undefined || v === null) return '';
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e9 || a < 1e-4)) return v.toExponential(4);
  return String(Number(v.toPrecision(6)));
}

/** Number of bytes → "512 B", "1.5 KiB", ... */
export function fmtBytes(n) {
  if (n === undefined || n === null || n === '') return '';
  n = Number(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? `${n} B` : `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

/** Numeric value of a metric (accepts "NaN"/"Infinity" strings). */
export function metricValue(v) {
  if (typeof v === 'number') return v;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return Number(v);
}

/** Tag list [{key,value}] → Map. */
export function tagMap(tags) {
  const m = new Map();
  for (const t of tags || []) m.set(t.key, t.value ?? '');
  return m;
}

/** A run's display name: run_name, mlflow.runName tag, or its id. */
export function runName(run) {
  const info = run.info || {};
  if (info.run_name) return info.run_name;
  const t = (run.data && run.data.tags || []).find((x) => x.key === 'mlflow.runName');
  return t ? t.value : (info.run_id || info.run_uuid || '');
}

export const byKey = (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
