// mlbox UI entry point: a hash router (#/experiments/1, #/runs/<id>,
// #/models/<name>) that mounts one view at a time into <main>.
//
// Each view is a function (main, ctx), made from a Preact component by
// preactView(), that renders into <main>, starts its loads through
// ctx.track(promise) and returns {update(query)} to re-render on a
// query-string change of the same route and {destroy()} to unmount. <main>'s
// data-state is "loading" while tracked loads are pending and "ready" after,
// which the browser test waits for.
import { render } from 'preact';
import { withQuery } from './route.js';
import { ROOT } from './api.js';
import { ErrorBox, preactView } from './components.jsx';
import { experimentsView } from './views/experiments.jsx';
import { runsView } from './views/runs.jsx';
import { compareView } from './views/compare.jsx';
import { runView } from './views/run.jsx';
import { loggedModelView } from './views/loggedmodel.jsx';
import { modelsView, modelView } from './views/models.jsx';
import { loginView, tokensView, usersView, userView } from './views/account.jsx';
import { loadSession, onSessionChange, session, signOut } from './session.js';
import { setUnauthenticatedHandler } from './api.js';

const ROUTES = [
  { re: /^(?:experiments)?$/, view: experimentsView, nav: 'experiments' },
  { re: /^experiments\/([^/]+)$/, view: runsView, nav: 'experiments' },
  // MLflow's own run URLs (the Python client prints these).
  { re: /^experiments\/[^/]+\/runs\/([^/]+)(?:\/.*)?$/, view: runView, nav: 'experiments' },
  { re: /^runs\/([^/]+)$/, view: runView, nav: 'experiments' },
  { re: /^logged-models\/([^/]+)$/, view: loggedModelView, nav: 'experiments' },
  // MLflow's own logged-model URLs.
  { re: /^experiments\/[^/]+\/models\/([^/]+)(?:\/.*)?$/, view: loggedModelView, nav: 'experiments' },
  { re: /^compare$/, view: compareView, nav: 'experiments' },
  { re: /^models$/, view: modelsView, nav: 'models' },
  { re: /^models\/([^/]+)(?:\/versions\/([^/]+))?$/, view: modelView, nav: 'models' },
  { re: /^login$/, view: loginView, nav: '' },
  { re: /^account\/tokens$/, view: tokensView, nav: 'tokens' },
  { re: /^admin\/users$/, view: usersView, nav: 'admin' },
  { re: /^admin\/users\/([^/]+)$/, view: userView, nav: 'admin' },
];

const main = document.getElementById('main');

// A deep link without a fragment (/experiments/1, served as the SPA
// fallback) becomes the equivalent #/ route.
{
  const root = ROOT.pathname;
  const p = location.pathname;
  if (!location.hash && p !== root && p.startsWith(root)) {
    const rest = p.slice(root.length).replace(/^index\.html$/, '').replace(/\/+$/, '');
    history.replaceState(null, '', root + (rest ? '#/' + rest : ''));
  }
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const i = raw.indexOf('?');
  const path = (i < 0 ? raw : raw.slice(0, i)).replace(/\/+$/, '');
  const query = new URLSearchParams(i < 0 ? '' : raw.slice(i + 1));
  return { path, query };
}

function decode(s) {
  try { return decodeURIComponent(s); } catch { return s; }
}

let current = null;

function NotFound({ ctx }) {
  ctx.title('Not found');
  return (
    <>
      <h1>Not found</h1>
      <p data-testid="not-found">No page at <code>{'#/' + ctx.path}</code>. <a href="#/">Back to experiments</a></p>
    </>
  );
}
const notFound = preactView(NotFound, 'notFound');

/** An error no view caught, shown below the view. */
function showError(err) {
  const box = document.createElement('div');
  render(<ErrorBox err={err} title="Something went wrong" />, box);
  main.append(box);
}

/** The login page, coming back to where the user was (accounts only). */
function toLogin() {
  const here = location.hash && !location.hash.startsWith('#/login') ? location.hash : '';
  location.replace(withQuery('#/login', { next: here }));
}

/** The user's name, their tokens and log out, in the top bar. */
function UserBox() {
  if (session.auth !== 'accounts' || !session.authenticated) return null;
  const name = session.user ? session.user.username : 'service';
  return (
    <>
      <span class="username" data-testid="current-user">{name}</span>
      {session.user ? <a href="#/account/tokens" data-nav="tokens" data-testid="nav-tokens">Tokens</a> : null}
      {session.csrf_token ? (
        <button type="button" class="secondary small" data-testid="logout"
          onClick={() => signOut().finally(toLogin)}>Log out</button>
      ) : null}
    </>
  );
}

function drawUserBox() {
  render(<UserBox />, document.getElementById('userbox'));
  const admin = document.querySelector('[data-nav="admin"]');
  if (admin) admin.hidden = !(session.auth === 'accounts' && session.authenticated && session.is_admin);
}
onSessionChange(drawUserBox);

setUnauthenticatedHandler(() => {
  if (session.auth !== 'accounts') return; // the browser's own prompt
  session.authenticated = false;
  drawUserBox();
  if (!location.hash.startsWith('#/login')) toLogin();
});

function mount() {
  const { path, query } = parseHash();
  if (session.auth === 'accounts' && !session.authenticated && path !== 'login') {
    toLogin();
    return;
  }
  let route = null;
  let params = [];
  for (const r of ROUTES) {
    const m = r.re.exec(path);
    if (m) {
      route = r;
      params = m.slice(1).map((x) => (x === undefined ? undefined : decode(x)));
      break;
    }
  }
  if (current && current.path === path && current.instance && current.instance.update) {
    current.instance.update(query);
    return;
  }
  if (current) {
    current.ctrl.abort();
    if (current.instance && current.instance.destroy) current.instance.destroy();
  }
  const ctrl = new AbortController();
  let pending = 0;
  // "ready" waits a little: Preact renders and runs effects (which may
  // start more loads) after paint, or at the latest 35 ms after a render.
  const settle = () => setTimeout(() => {
    if (pending === 0 && !ctrl.signal.aborted) main.dataset.state = 'ready';
  }, 60);
  const ctx = {
    path, params, query, signal: ctrl.signal,
    title(s) { document.title = s ? `${s} · mlbox` : 'mlbox'; },
    /** Replace the route's query string without re-rendering (no hashchange). */
    setQuery(q) {
      if (!ctrl.signal.aborted) history.replaceState(null, '', withQuery('#/' + path, q));
    },
    /** Track a load: <main data-state> is "loading" until all tracked loads settle. */
    track(promise) {
      pending++;
      main.dataset.state = 'loading';
      return Promise.resolve(promise).catch((err) => {
        if (ctrl.signal.aborted || (err && err.name === 'AbortError')) return;
        console.error(err);
        showError(err);
      }).finally(() => {
        if (ctrl.signal.aborted) return;
        if (--pending === 0) settle();
      });
    },
  };
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', !!route && a.dataset.nav === route.nav);
  }
  main.replaceChildren();
  main.dataset.state = 'loading';
  main.dataset.view = route ? route.view.name : 'notFound';
  const instance = (route ? route.view : notFound)(main, ctx);
  current = { path, ctrl, instance };
  if (pending === 0) settle();
  window.scrollTo(0, 0);
}

loadSession().catch((e) => console.error('session', e)).finally(() => {
  drawUserBox();
  window.addEventListener('hashchange', mount);
  mount();
});
