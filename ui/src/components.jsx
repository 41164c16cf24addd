// Building blocks shared by the views.
import { render } from 'preact';
import { fmtTime, isoTime } from './format.js';

/**
 * A router view from a component: (main, ctx) → {update, destroy}. The
 * component gets {ctx, query}; a query-string change of the same route
 * re-renders it with the new query (its state is kept).
 */
export function preactView(Component, name) {
  const view = (main, ctx) => {
    const draw = (query) => render(<Component ctx={ctx} query={query} />, main);
    draw(ctx.query);
    return {
      update: draw,
      destroy: () => render(null, main),
    };
  };
  Object.defineProperty(view, 'name', { value: name });
  return view;
}

/**
 * The keys chosen after ticking (on) or unticking key k, kept in the order
 * of all (a chosen set of columns, metrics, …).
 */
export const toggleKey = (all, chosen, k, on) => (on ? all.filter((x) => x === k || chosen.includes(x)) : chosen.filter((x) => x !== k));

/** An error panel: title, MLflow error code and the server's message. */
export function ErrorBox({ err, testid = 'error', title = 'Request failed' }) {
  const code = err && err.code ? err.code : '';
  const msg = err && err.message ? err.message : String(err);
  return (
    <div class="alert error" role="alert" data-testid={testid}>
      <strong>{title}</strong>
      {code ? <code class="error-code" data-testid={`${testid}-code`}>{code}</code> : null}
      <div class="error-message" data-testid={`${testid}-message`}>{msg}</div>
    </div>
  );
}

const STATUS_CLASS = {
  FINISHED: 'ok', READY: 'ok', RUNNING: 'run', SCHEDULED: 'run', PENDING_REGISTRATION: 'run',
  FAILED: 'bad', KILLED: 'bad', FAILED_REGISTRATION: 'bad',
};

export function StatusBadge({ status }) {
  const s = status || 'UNKNOWN';
  return (
    <span class={`badge status-${STATUS_CLASS[s] || 'other'}`} data-testid="status" title={s}>
      {s.charAt(0) + s.slice(1).toLowerCase().replace(/_/g, ' ')}
    </span>
  );
}

export function Chip({ children, cls = '' }) {
  return <span class={`chip ${cls}`.trim()}>{children}</span>;
}

/** <time> with a local timestamp and the ISO form as tooltip. */
export function Time({ ms }) {
  const t = fmtTime(ms);
  return t ? <time dateTime={isoTime(ms)} title={isoTime(ms)}>{t}</time> : null;
}

/** A definition list from [label, value] pairs; empty values are skipped. */
export function KV({ pairs, testid }) {
  return (
    <dl class="kv" data-testid={testid}>
      {pairs.filter(([, v]) => v !== '' && v !== null && v !== undefined)
        .map(([k, v]) => [<dt key={`t-${k}`}>{k}</dt>, <dd key={`d-${k}`}>{v}</dd>])}
    </dl>
  );
}
