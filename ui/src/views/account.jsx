// Accounts (auth.enabled): #/login, #/account/tokens (one's access
// tokens; admins everyone's), #/admin/users and #/admin/users/<name>
// (users, their permissions and tokens).
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  createToken, createUser, deleteUser, grantPermission, listTokens, listUserPermissions, listUsers,
  login, revokePermission, revokeToken, setUserAdmin, setUserPassword,
} from '../api.js';
import { route, withQuery } from '../route.js';
import { Chip, ErrorBox, Time, preactView } from '../components.jsx';
import { session, signedIn } from '../session.js';

function LoginPage({ ctx, query }) {
  const user = useRef(null);
  const pw = useRef(null);
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => { ctx.title('Log in'); user.current.focus(); }, []);
  const next = query.get('next') || '#/';
  return (
    <div class="login-box">
      <h1>Log in to mlbox</h1>
      <form class="stack-form" data-testid="login-form" onSubmit={(ev) => {
        ev.preventDefault();
        setErr(null);
        setBusy(true);
        login(user.current.value.trim(), pw.current.value).then((s) => {
          signedIn(s);
          location.hash = next.startsWith('#/') && !next.startsWith('#/login') ? next : '#/';
        }, (e) => { setErr(e); setBusy(false); pw.current.value = ''; pw.current.focus(); });
      }}>
        <label>User name <input ref={user} name="username" autocomplete="username" data-testid="login-username" required maxLength={255} /></label>
        <label>Password <input ref={pw} type="password" name="password" autocomplete="current-password" data-testid="login-password" required maxLength={1024} /></label>
        {err ? <ErrorBox err={err} testid="login-error" title={err.status === 401 ? 'Wrong user name or password' : 'Could not log in'} /> : null}
        <button type="submit" data-testid="login-submit" disabled={busy}>Log in</button>
      </form>
      <p class="muted small">Scripts and the MLflow client log in with MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, or a token.</p>
    </div>
  );
}
export const loginView = preactView(LoginPage, 'loginView');

/**
 * A page's changes: act(promise) tracks one, shows its error (clearing the
 * last one first) and, when it succeeds, bumps version, which the page's
 * loading effect depends on.
 */
function useActions(ctx) {
  const [err, setErr] = useState(null);
  const [version, setVersion] = useState(0);
  const act = (p) => {
    setErr(null);
    return ctx.track(p.then(() => setVersion((v) => v + 1), (e) => { if (!ctx.signal.aborted) setErr(e); }));
  };
  return { err, setErr, version, act };
}

const EXPIRY = [['7', '7 days'], ['30', '30 days'], ['90', '90 days'], ['365', '1 year'], ['0', 'Never']];

/** The tokens table with revoke buttons; owner column when showUser. */
function TokenTable({ tokens, showUser, onRevoke }) {
  if (!tokens.length) return <p class="muted empty" data-testid="tokens-empty">No tokens.</p>;
  return (
    <div class="table-scroll">
      <table class="grid" data-testid="tokens-table">
        <thead><tr><th>Name</th>{showUser ? <th>User</th> : null}<th>Kind</th><th>Created</th><th>Expires</th><th>Last used</th><th>Description</th><th /></tr></thead>
        <tbody>
          {tokens.map((t) => (
            <tr key={t.id} data-testid="token-row" data-token-id={t.id}>
              <td>{t.name}</td>
              {showUser ? <td>{t.user}</td> : null}
              <td>{t.kind === 'inference' ? <>inference: <span class="mono">{(t.models || []).join(', ')}</span></> : 'personal'}</td>
              <td><Time ms={t.created_ms} /></td>
              <td>{t.expires_ms ? <Time ms={t.expires_ms} /> : 'never'}</td>
              <td>{t.last_used_ms ? <Time ms={t.last_used_ms} /> : <span class="muted">never</span>}</td>
              <td class="trunc">{t.description || ''}</td>
              <td class="actions"><button type="button" class="link" data-testid="token-revoke"
                onClick={() => { if (window.confirm(`Revoke the token “${t.name}”? Clients using it stop working at once.`)) onRevoke(t); }}>Revoke</button></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function TokensPage({ ctx, query }) {
  const all = query.get('all') === '1' && session.is_admin;
  const [tokens, setTokens] = useState(null);
  const { err, setErr, version, act } = useActions(ctx);
  const [made, setMade] = useState(null);
  const name = useRef(null);
  const days = useRef(null);
  const models = useRef(null);
  const desc = useRef(null);
  useEffect(() => {
    ctx.title('Access tokens');
    ctx.track(listTokens({ all, signal: ctx.signal }).then(setTokens, setErr));
  }, [all, version]);
  return (
    <>
      <div class="page-head">
        <h1>Access tokens</h1>
        {session.is_admin ? (
          <label class="check count"><input type="checkbox" data-testid="tokens-all" checked={all}
            onChange={(ev) => { location.hash = withQuery('#/account/tokens', { all: ev.currentTarget.checked ? '1' : '' }); }} /> All users</label>
        ) : null}
      </div>
      <p class="muted">A personal token acts as you: give it to a script as <code>MLFLOW_TRACKING_TOKEN</code>.
        An inference token names models and can only call <code>/models/&lt;name&gt;/…</code> of those.</p>
      <form class="inline-form toolbar" data-testid="token-form" onSubmit={(ev) => {
        ev.preventDefault();
        const n = name.current.value.trim();
        if (!n) { name.current.focus(); return; }
        const body = { name: n, expires_in_days: Number(days.current.value) };
        const ms = models.current.value.split(',').map((x) => x.trim()).filter(Boolean);
        if (ms.length) body.models = ms;
        if (desc.current.value.trim()) body.description = desc.current.value.trim();
        setMade(null);
        act(createToken(body).then((r) => { setMade(r); name.current.value = ''; models.current.value = ''; desc.current.value = ''; }));
      }}>
        <input ref={name} placeholder="Token name" aria-label="Token name" data-testid="token-name" maxLength={100} />
        <select ref={days} aria-label="Expires after" data-testid="token-expiry">
          {EXPIRY.map(([v, l]) => <option value={v} selected={v === '90'}>{l}</option>)}
        </select>
        <input ref={models} placeholder="Models (inference only), comma-separated" aria-label="Models" data-testid="token-models" class="wide" />
        <input ref={desc} placeholder="Description" aria-label="Description" data-testid="token-description" maxLength={1000} />
        <button type="submit" data-testid="token-create">Create token</button>
      </form>
      {made ? (
        <div class="alert info" data-testid="token-secret-box">
          <strong>Token “{made.token.name}” created.</strong> Copy it now: it is not shown again.
          <div><input readOnly class="secret mono" data-testid="token-secret" value={made.secret} onFocus={(ev) => ev.currentTarget.select()} /></div>
        </div>
      ) : null}
      {err ? <ErrorBox err={err} testid="tokens-error" /> : null}
      {tokens ? <TokenTable tokens={tokens} showUser={all} onRevoke={(t) => act(revokeToken(t.id))} /> : <p class="muted loading">Loading…</p>}
    </>
  );
}
export const tokensView = preactView(TokensPage, 'tokensView');

function UsersPage({ ctx }) {
  const [users, setUsers] = useState(null);
  const { err, setErr, version, act } = useActions(ctx);
  const name = useRef(null);
  const pw = useRef(null);
  useEffect(() => {
    ctx.title('Users');
    ctx.track(listUsers(ctx.signal).then(setUsers, setErr));
  }, [version]);
  const me = session.user && session.user.username;
  return (
    <>
      <div class="page-head">
        <h1>Users</h1>
        <span class="muted count" data-testid="users-count">{users ? `${users.length} user${users.length === 1 ? '' : 's'}` : ''}</span>
      </div>
      <form class="inline-form toolbar" data-testid="user-form" onSubmit={(ev) => {
        ev.preventDefault();
        const n = name.current.value.trim();
        if (!n) { name.current.focus(); return; }
        act(createUser(n, pw.current.value).then(() => { name.current.value = ''; pw.current.value = ''; }));
      }}>
        <input ref={name} placeholder="User name" aria-label="New user name" data-testid="user-new-name" autocomplete="off" maxLength={255} />
        <input ref={pw} type="password" placeholder="Password (12+ characters)" aria-label="New user's password" data-testid="user-new-password" autocomplete="new-password" />
        <button type="submit" data-testid="user-create">Create user</button>
      </form>
      {err ? <ErrorBox err={err} testid="users-error" title="The change was not made" /> : null}
      {!users ? <p class="muted loading">Loading…</p> : (
        <div class="table-scroll">
          <table class="grid" data-testid="users-table">
            <thead><tr><th>User</th><th>ID</th><th>Role</th><th /></tr></thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.id} data-testid="user-row" data-username={u.username}>
                  <td><a href={route('admin', 'users', u.username)} data-testid="user-link">{u.username}</a>{u.username === me ? <Chip>you</Chip> : null}</td>
                  <td class="mono">{u.id}</td>
                  <td>{u.is_admin ? <Chip cls="chip-ok">admin</Chip> : 'user'}</td>
                  <td class="actions">
                    <button type="button" class="link" data-testid="user-toggle-admin" disabled={u.username === me}
                      onClick={() => act(setUserAdmin(u.username, !u.is_admin))}>{u.is_admin ? 'Remove admin' : 'Make admin'}</button>
                    <button type="button" class="link" data-testid="user-set-password" onClick={() => {
                      const p = window.prompt(`New password for ${u.username} (12+ characters):`);
                      if (p) act(setUserPassword(u.username, p));
                    }}>Set password</button>
                    <button type="button" class="link" data-testid="user-delete" disabled={u.username === me}
                      onClick={() => { if (window.confirm(`Delete the user “${u.username}”, their permissions and tokens?`)) act(deleteUser(u.username)); }}>Delete</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
export const usersView = preactView(UsersPage, 'usersView');

const LEVELS = ['READ', 'USE', 'EDIT', 'MANAGE', 'NO_PERMISSIONS', 'DENY'];

function UserPage({ ctx }) {
  const username = ctx.params[0];
  const [perms, setPerms] = useState(null);
  const [tokens, setTokens] = useState(null);
  const { err, setErr, version, act } = useActions(ctx);
  const type = useRef(null);
  const id = useRef(null);
  const level = useRef(null);
  useEffect(() => {
    ctx.title(username);
    ctx.track(listUserPermissions(username, ctx.signal).then(setPerms, setErr));
    ctx.track(listTokens({ user: username, signal: ctx.signal }).then(setTokens, setErr));
  }, [version]);
  const own = (perms || []).filter((p) => /^__user_\d+__$/.test(p.role_name));
  const viaRoles = (perms || []).filter((p) => !/^__user_\d+__$/.test(p.role_name));
  return (
    <>
      <div class="crumbs"><a href={route('admin', 'users')}>Users</a> / {username}</div>
      <div class="page-head"><h1 data-testid="user-name">{username}</h1></div>
      <h2>Permissions</h2>
      <form class="inline-form toolbar" data-testid="grant-form" onSubmit={(ev) => {
        ev.preventDefault();
        const rid = id.current.value.trim();
        if (!rid) { id.current.focus(); return; }
        act(grantPermission(username, type.current.value, rid, level.current.value).catch((e) => {
          // Already granted: change it.
          if (e.code === 'RESOURCE_ALREADY_EXISTS') return revokePermission(username, type.current.value, rid)
            .then(() => grantPermission(username, type.current.value, rid, level.current.value));
          throw e;
        }).then(() => { id.current.value = ''; }));
      }}>
        <select ref={type} aria-label="Resource type" data-testid="grant-type">
          <option value="experiment">Experiment (id)</option>
          <option value="registered_model">Registered model (name)</option>
        </select>
        <input ref={id} placeholder="Experiment id or model name" aria-label="Resource" data-testid="grant-resource" />
        <select ref={level} aria-label="Permission" data-testid="grant-level">{LEVELS.map((l) => <option value={l}>{l}</option>)}</select>
        <button type="submit" data-testid="grant-submit">Grant</button>
      </form>
      {err ? <ErrorBox err={err} testid="user-error" title="The change was not made" /> : null}
      {!perms ? <p class="muted loading">Loading…</p> : !own.length && !viaRoles.length
        ? <p class="muted empty" data-testid="perms-empty">No grants: the default permission applies.</p> : (
          <div class="table-scroll">
            <table class="grid" data-testid="perms-table">
              <thead><tr><th>Resource</th><th>Permission</th><th>From</th><th /></tr></thead>
              <tbody>
                {[...own, ...viaRoles].map((p) => (
                  <tr key={`${p.role_id}-${p.resource_type}-${p.resource_pattern}`} data-testid="perm-row"
                    data-resource={`${p.resource_type}:${p.resource_pattern}`}>
                    <td>{p.resource_type === 'experiment' && p.resource_pattern !== '*'
                      ? <a href={route('experiments', p.resource_pattern)}>experiment {p.resource_pattern}</a>
                      : p.resource_type === 'registered_model' && p.resource_pattern !== '*'
                        ? <a href={route('models', p.resource_pattern)}>model {p.resource_pattern}</a>
                        : `${p.resource_type} ${p.resource_pattern}`}</td>
                    <td data-testid="perm-level">{p.permission}</td>
                    <td>{own.includes(p) ? 'granted to the user' : `role ${p.role_name}`}</td>
                    <td class="actions">{own.includes(p) && (p.resource_type === 'experiment' || p.resource_type === 'registered_model') ? (
                      <button type="button" class="link" data-testid="perm-revoke"
                        onClick={() => act(revokePermission(username, p.resource_type, p.resource_pattern))}>Revoke</button>
                    ) : null}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      <h2>Tokens</h2>
      {tokens ? <TokenTable tokens={tokens} onRevoke={(t) => act(revokeToken(t.id))} /> : null}
    </>
  );
}
export const userView = preactView(UserPage, 'userView');
