// Building blocks shared by the views.
import { h } from '../dom.js';
import { fmtTime, isoTime } from '../format.js';

/** A card section with a heading. */
export function card(title, attrs, ...children) {
  return h('section', { class: 'card', ...attrs }, title ? h('h2', null, title) : null, ...children);
}

/** An error panel: title, MLflow error code and the server's message. */
export function errorBox(err, { testid = 'error', title = 'Request failed' } = {}) {
  const code = err && err.code ? err.code : '';
  const msg = err && err.message ? err.message : String(err);
  return h('div', { class: 'alert error', role: 'alert', testid },
    h('strong', null, title),
    code ? h('code', { class: 'error-code', testid: `${testid}-code` }, code) : null,
    h('div', { class: 'error-message', testid: `${testid}-message` }, msg));
}

/** A neutral notice panel. */
export function notice(text, testid, ...more) {
  return h('div', { class: 'alert info', testid }, text, ...more);
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'muted loading' }, text);
}

const STATUS_CLASS = {
  FINISHED: 'ok', READY: 'ok', RUNNING: 'run', SCHEDULED: 'run', PENDING_REGISTRATION: 'run',
  FAILED: 'bad', KILLED: 'bad', FAILED_REGISTRATION: 'bad',
};

export function statusBadge(status) {
  const s = status || 'UNKNOWN';
  return h('span', { class: `badge status-${STATUS_CLASS[s] || 'other'}`, testid: 'status', title: s },
    s.charAt(0) + s.slice(1).toLowerCase().replace(/_/g, ' '));
}

export function chip(text, cls = '') {
  return h('span', { class: `chip ${cls}`.trim() }, text);
}

/** <time> with a local timestamp and the ISO form as tooltip. */
export function timeEl(ms) {
  const t = fmtTime(ms);
  return t ? h('time', { datetime: isoTime(ms), title: isoTime(ms) }, t) : '';
}

/** A definition list from [label, value] pairs; empty values are skipped. */
export function kvList(pairs, testid) {
  const dl = h('dl', { class: 'kv', testid });
  for (const [k, v] of pairs) {
    if (v === '' || v === null || v === undefined) continue;
    dl.append(h('dt', null, k), h('dd', null, v));
  }
  return dl;
}

/** A simple two-column key/value table for params and tags. */
export function keyValueTable(items, { testid, empty = 'None', keyLabel = 'Key' } = {}) {
  if (!items.length) return h('p', { class: 'muted', testid: testid && `${testid}-empty` }, empty);
  return h('table', { class: 'grid kv-table', testid },
    h('thead', null, h('tr', null, h('th', null, keyLabel), h('th', null, 'Value'))),
    h('tbody', null, items.map((it) => h('tr', { 'data-key': it.key },
      h('th', { scope: 'row', class: 'key' }, it.key),
      h('td', { class: 'value' }, it.value ?? '')))));
}

/** Debounce a function by ms. */
export function debounce(fn, ms) {
  let t;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

/** An abortable no-op guard: true when the view was left. */
export const gone = (ctx) => ctx.signal.aborted;
