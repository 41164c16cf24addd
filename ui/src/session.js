// Who is logged in (GET /api/mlbox/v1/session), shared by main.jsx and the
// views. session.auth is "none" (no authentication), "token" (a shared
// token: the browser's own login prompt) or "accounts" (the login page).
import { getSession, logout as apiLogout, setCsrfToken } from './api.js';

export const session = { auth: 'none', authenticated: true, user: null, is_admin: false };

const listeners = new Set();
/** Call f() after every change of the session. */
export function onSessionChange(f) { listeners.add(f); }

function apply(s) {
  Object.assign(session, { user: null, is_admin: false, csrf_token: '' }, s);
  setCsrfToken(session.csrf_token);
  for (const f of listeners) f();
}

export async function loadSession() {
  apply(await getSession());
}

/** After a successful login (its answer). */
export function signedIn(s) {
  apply({ ...s, auth: 'accounts', authenticated: true });
}

export async function signOut() {
  try { await apiLogout(); } finally { apply({ auth: session.auth, authenticated: false }); }
}
