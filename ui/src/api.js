// Client for the MLflow REST API as served under /ajax-api/2.0/mlflow (same
// JSON as /api/2.0/mlflow) and the artifact proxy under
// /api/2.0/mlflow-artifacts. URLs are resolved against the UI root, which is
// derived from this module's own URL, so the UI also works behind a reverse
// proxy that mounts the server under a path prefix.

export const ROOT = new URL('../', import.meta.url);
const MLFLOW = new URL('ajax-api/2.0/mlflow/', ROOT);
const ARTIFACTS = new URL('api/2.0/mlflow-artifacts/artifacts', ROOT);

const STATUS_CODES = {
  400: 'BAD_REQUEST', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'ENDPOINT_NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED', 429: 'REQUEST_LIMIT_EXCEEDED', 500: 'INTERNAL_ERROR',
  501: 'NOT_IMPLEMENTED', 503: 'TEMPORARILY_UNAVAILABLE',
};

/** An API failure: HTTP status, MLflow error_code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
  toString() {
    return this.code ? `${this.code}: ${this.message}` : this.message;
  }
}

// The session's CSRF token (app/session.go): sent with every request that
// is not a GET, as the login cookie alone does not authorize those.
let csrfToken = '';
export function setCsrfToken(t) { csrfToken = t || ''; }

/** Called with the error of any request answered 401 (main.jsx shows the login page). */
let onUnauthenticated = null;
export function setUnauthenticatedHandler(f) { onUnauthenticated = f; }

async function call(url, { method = 'GET', body, signal } = {}) {
  // X-Requested-With: the server then answers 401 without a Basic challenge,
  // so the browser shows the UI's login page instead of its own prompt.
  const init = { method, signal, credentials: 'same-origin', headers: { Accept: 'application/json', 'X-Requested-With': 'mlbox-ui' } };
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) init.headers['X-CSRF-Token'] = csrfToken;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(url, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'NETWORK_ERROR', `cannot reach the server (${e.message})`);
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!resp.ok) {
    if (resp.status === 401 && onUnauthenticated && !String(url).endsWith('/api/mlbox/v1/session')) onUnauthenticated();
    if (data && typeof data === 'object' && (data.error_code || data.message)) {
      throw new ApiError(resp.status, data.error_code || STATUS_CODES[resp.status], data.message || '');
    }
    const snippet = text && text.length < 200 && !/^\s*</.test(text) ? text.trim() : resp.statusText;
    throw new ApiError(resp.status, STATUS_CODES[resp.status] || `HTTP_${resp.status}`, snippet || `HTTP ${resp.status}`);
  }
  if (text && (data === null || typeof data !== 'object')) {
    throw new ApiError(resp.status, 'BAD_RESPONSE', 'the server did not answer with a JSON object');
  }
  return data || {};
}

function mlflowUrl(path, query) {
  const url = new URL(path, MLFLOW);
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null || v === '') continue;
    for (const item of Array.isArray(v) ? v : [v]) url.searchParams.append(k, String(item));
  }
  return url;
}

const get = (path, query, signal) => call(mlflowUrl(path, query), { signal });
const post = (path, body, signal) => call(mlflowUrl(path), { method: 'POST', body, signal });

/** True when err means "this server has no such endpoint" (feature not there). */
export function isMissingEndpoint(err) {
  if (!(err instanceof ApiError)) return false;
  if (err.code === 'ENDPOINT_NOT_FOUND' || err.code === 'NOT_IMPLEMENTED') return true;
  if (err.status === 404 && err.code !== 'RESOURCE_DOES_NOT_EXIST') return true;
  return err.status === 405 || err.status === 501 || err.status === 503;
}

export function searchExperiments({ filter, viewType, pageToken, signal } = {}) {
  const body = { max_results: 1000 };
  if (filter) body.filter = filter;
  if (viewType) body.view_type = viewType;
  if (pageToken) body.page_token = pageToken;
  return post('experiments/search', body, signal);
}

export const getExperiment = (id, signal) => get('experiments/get', { experiment_id: id }, signal);

export function searchRuns({ experimentId, filter, orderBy, viewType, pageToken, maxResults = 100, signal }) {
  const body = { experiment_ids: [experimentId], max_results: maxResults };
  if (filter) body.filter = filter;
  if (orderBy && orderBy.length) body.order_by = orderBy;
  if (viewType) body.run_view_type = viewType;
  if (pageToken) body.page_token = pageToken;
  return post('runs/search', body, signal);
}

export const getRun = (id, signal) => get('runs/get', { run_id: id }, signal);

/** Whole history of one metric, following next_page_token (capped at `limit` points). */
export async function metricHistory(runId, key, { signal, limit = 200000 } = {}) {
  const out = [];
  let token;
  for (;;) {
    const resp = await get('metrics/get-history',
      { run_id: runId, metric_key: key, max_results: 25000, page_token: token }, signal);
    out.push(...(resp.metrics || []));
    token = resp.next_page_token;
    if (!token || out.length >= limit) return out;
  }
}

/** List one directory of the artifact proxy: [{path (basename), is_dir, file_size}]. */
export async function listArtifacts(path, signal) {
  const url = new URL(ARTIFACTS);
  url.searchParams.set('path', path);
  const resp = await call(url, { signal });
  return resp.files || [];
}

/** Download URL of an artifact-proxy path such as "1/<run>/artifacts/model/MLmodel". */
export function artifactUrl(path) {
  return ARTIFACTS.href + '/' + path.split('/').filter(Boolean).map(encodeURIComponent).join('/');
}

export function searchRegisteredModels({ filter, pageToken, signal } = {}) {
  return get('registered-models/search',
    { filter, max_results: 1000, page_token: pageToken }, signal);
}

export const getRegisteredModel = (name, signal) => get('registered-models/get', { name }, signal);

/** A filter-string literal: 'x', or "x" when x contains a single quote. */
export function quote(s) {
  return s.includes("'") ? '"' + s + '"' : "'" + s + "'";
}

export async function modelVersions(name, signal) {
  const out = [];
  let token;
  for (let i = 0; i < 50; i++) {
    const resp = await get('model-versions/search',
      { filter: `name=${quote(name)}`, max_results: 1000, page_token: token }, signal);
    out.push(...(resp.model_versions || []));
    token = resp.next_page_token;
    if (!token) break;
  }
  return out;
}

// mlbox's own endpoints for the UI (app/uiapi.go).
const MLBOX = new URL('api/mlbox/v1/', ROOT);

/** How many runs a search matches (all its pages). */
export function countRuns({ experimentId, filter, viewType, signal }) {
  const body = { experiment_ids: [experimentId] };
  if (filter) body.filter = filter;
  if (viewType) body.run_view_type = viewType;
  return call(new URL('runs/count', MLBOX), { method: 'POST', body, signal }).then((r) => r.count || 0);
}

/** The param, metric and tag keys an experiment's runs have. */
export const runColumns = (experimentId, signal) =>
  call(new URL(`experiments/${encodeURIComponent(experimentId)}/columns`, MLBOX), { signal });

/** The page token of the page that starts at offset (mlbox and MLflow: base64 JSON {"offset": n}). */
export const offsetToken = (offset) => (offset > 0 ? btoa(JSON.stringify({ offset })) : undefined);

export const deleteRun = (id, signal) => post('runs/delete', { run_id: id }, signal);
export const restoreRun = (id, signal) => post('runs/restore', { run_id: id }, signal);
export const setRunTag = (id, key, value, signal) => post('runs/set-tag', { run_id: id, key, value }, signal);

/**
 * Sampled histories of one metric for up to 100 runs (get-history-bulk-interval):
 * [{key, value, timestamp, step, run_id}]. range: [startStep, endStep] or null.
 */
export async function metricHistoryBulk({ runIds, key, maxResults = 1000, range, signal }) {
  const q = { run_ids: runIds, metric_key: key, max_results: maxResults };
  if (range) { q.start_step = range[0]; q.end_step = range[1]; }
  const resp = await get('metrics/get-history-bulk-interval', q, signal);
  return resp.metrics || [];
}

export const updateRunName = (id, name, signal) => post('runs/update', { run_id: id, run_name: name }, signal);
export const deleteRunTag = (id, key, signal) => post('runs/delete-tag', { run_id: id, key }, signal);

/** MLflow 3 logged models of experiments, optionally filtered ("source_run_id = '…'"). */
export function searchLoggedModels({ experimentIds, filter, signal }) {
  const body = { experiment_ids: experimentIds, max_results: 100 };
  if (filter) body.filter = filter;
  return post('logged-models/search', body, signal);
}

export const getLoggedModel = (id, signal) => call(mlflowUrl(`logged-models/${encodeURIComponent(id)}`), { signal });

export const createExperiment = (name, signal) => post('experiments/create', { name }, signal);
export const renameExperiment = (id, name, signal) => post('experiments/update', { experiment_id: id, new_name: name }, signal);
export const deleteExperiment = (id, signal) => post('experiments/delete', { experiment_id: id }, signal);
export const restoreExperiment = (id, signal) => post('experiments/restore', { experiment_id: id }, signal);

// --- accounts (app/session.go, app/users.go, app/tokens.go) ---

const SESSION = new URL('api/mlbox/v1/session', ROOT);
const MLFLOW3 = new URL('ajax-api/3.0/mlflow/', ROOT);
const TOKENS = new URL('api/mlbox/v1/tokens', ROOT);

/** {auth: "none"|"token"|"accounts", authenticated, user?, is_admin?, csrf_token?} */
export const getSession = (signal) => call(SESSION, { signal });
export const login = (username, password) => call(SESSION, { method: 'POST', body: { username, password } });
export const logout = () => call(SESSION, { method: 'DELETE' });

const mlflow3Url = (path, query) => {
  const url = new URL(path, MLFLOW3);
  for (const [k, v] of Object.entries(query || {})) url.searchParams.set(k, String(v));
  return url;
};

export const listUsers = (signal) => get('users/list', {}, signal).then((r) => r.users || []);
export const createUser = (username, password) => post('users/create', { username, password });
export const deleteUser = (username) => call(mlflowUrl('users/delete'), { method: 'DELETE', body: { username } });
export const setUserAdmin = (username, isAdmin) => call(mlflowUrl('users/update-admin'), { method: 'PATCH', body: { username, is_admin: isAdmin } });
export const setUserPassword = (username, password) => call(mlflowUrl('users/update-password'), { method: 'PATCH', body: { username, password } });

/** A user's permissions: [{role_name, resource_type, resource_pattern, permission}]. */
export const listUserPermissions = (username, signal) =>
  call(mlflow3Url('users/permissions/list', { username }), { signal }).then((r) => r.permissions || []);
export const grantPermission = (username, resourceType, resourceId, permission) =>
  call(mlflow3Url('users/permissions/grant'), { method: 'POST', body: { username, resource_type: resourceType, resource_id: resourceId, permission } });
export const revokePermission = (username, resourceType, resourceId) =>
  call(mlflow3Url('users/permissions/revoke'), { method: 'POST', body: { username, resource_type: resourceType, resource_id: resourceId } });

/** Access tokens: one's own; {user} or {all: true} for admins. */
export function listTokens({ user, all, signal } = {}) {
  const url = new URL(TOKENS);
  if (user) url.searchParams.set('user', user);
  if (all) url.searchParams.set('all', 'true');
  return call(url, { signal }).then((r) => r.tokens || []);
}
/** {name, expires_in_days, models?, description?, user?} → {token, secret} */
export const createToken = (body) => call(TOKENS, { method: 'POST', body });
export const revokeToken = (id) => call(new URL(`tokens/${encodeURIComponent(id)}`, MLBOX), { method: 'DELETE' });
