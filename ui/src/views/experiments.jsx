// #/experiments: all experiments, with a name search, and create, rename,
// delete and restore. Query: ?q=<name text>&deleted=1
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  ApiError, createExperiment, deleteExperiment, renameExperiment, restoreExperiment, searchExperiments,
} from '../api.js';
import { route } from '../route.js';
import { tagMap } from '../format.js';
import { Chip, ErrorBox, Time, preactView } from '../components.jsx';

/** name ILIKE '%text%' (a quote in text becomes the one-char wildcard _). */
function nameFilter(text, op) {
  return text ? `name ${op} '%${text.replace(/'/g, '_')}%'` : '';
}

// Case-insensitive search, falling back to LIKE on servers without ILIKE.
let likeOp = 'ILIKE';

async function loadAll(text, deleted, signal) {
  const exps = [];
  let token;
  for (;;) {
    let resp;
    try {
      resp = await searchExperiments({ filter: nameFilter(text, likeOp), viewType: deleted ? 'ALL' : undefined, pageToken: token, signal });
    } catch (e) {
      if (text && likeOp === 'ILIKE' && e instanceof ApiError && e.status === 400) { likeOp = 'LIKE'; continue; }
      throw e;
    }
    exps.push(...(resp.experiments || []));
    token = resp.next_page_token;
    if (!token || exps.length >= 50000) return exps;
  }
}

function ExperimentsPage({ ctx, query }) {
  const [text, setText] = useState(query.get('q') || '');
  const [deleted, setDeleted] = useState(query.get('deleted') === '1');
  const [exps, setExps] = useState(null);
  const [err, setErr] = useState(null);
  const [actionErr, setActionErr] = useState(null);
  const [version, setVersion] = useState(0);
  const [renaming, setRenaming] = useState(null);
  const seq = useRef(0);
  const qs = query.toString();
  useEffect(() => { setText(query.get('q') || ''); setDeleted(query.get('deleted') === '1'); }, [qs]);

  useEffect(() => {
    ctx.title('Experiments');
    ctx.setQuery({ q: text.trim(), deleted: deleted ? '1' : '' });
    const my = ++seq.current;
    const t = setTimeout(() => {
      ctx.track(loadAll(text.trim(), deleted, ctx.signal).then((x) => {
        if (my === seq.current) { setExps(x); setErr(null); }
      }, (e) => { if (my === seq.current && !ctx.signal.aborted) setErr(e); }));
    }, version === 0 && exps === null ? 0 : 200);
    return () => clearTimeout(t);
  }, [text, deleted, version]);

  const act = (p) => {
    setActionErr(null);
    return ctx.track(p.then(() => { setRenaming(null); setVersion((v) => v + 1); }, (e) => { if (!ctx.signal.aborted) setActionErr(e); }));
  };

  return (
    <>
      <div class="page-head">
        <h1>Experiments</h1>
        <span class="muted count" data-testid="experiments-count">
          {exps ? `${exps.length} experiment${exps.length === 1 ? '' : 's'}` : ''}
        </span>
      </div>
      <div class="toolbar">
        <input type="search" class="search" placeholder="Search experiments by name…" aria-label="Search experiments by name"
          data-testid="experiment-search" autocomplete="off" value={text} onInput={(ev) => setText(ev.currentTarget.value)} />
        <label class="check"><input type="checkbox" data-testid="experiments-show-deleted" checked={deleted}
          onChange={(ev) => setDeleted(ev.currentTarget.checked)} /> Show deleted</label>
        <CreateForm ctx={ctx} act={act} />
      </div>
      {actionErr ? <ErrorBox err={actionErr} testid="experiment-action-error" title="The change was not made" /> : null}
      <div class="table-scroll" data-testid="experiments-results">
        {err ? <ErrorBox err={err} testid="experiments-error" title="Could not load experiments" />
          : !exps ? <p class="muted loading">Loading…</p>
            : !exps.length ? <p class="muted empty" data-testid="experiments-empty">{text ? `No experiment name contains “${text}”.` : 'No experiments yet.'}</p>
              : (
                <table class="grid" data-testid="experiments-table">
                  <thead><tr><th>Name</th><th>ID</th><th>Created</th><th>Last updated</th><th>Description</th><th>Artifact location</th><th /></tr></thead>
                  <tbody>
                    {exps.map((e) => {
                      const tags = tagMap(e.tags);
                      const isDeleted = e.lifecycle_stage === 'deleted';
                      return (
                        <tr key={e.experiment_id} data-testid="experiment-row" data-experiment-id={e.experiment_id}>
                          <td>
                            {renaming === e.experiment_id ? (
                              <RenameForm ctx={ctx} exp={e} act={act} cancel={() => setRenaming(null)} />
                            ) : <a href={route('experiments', e.experiment_id)} data-testid="experiment-link">{e.name || '(unnamed)'}</a>}
                            {isDeleted ? <Chip cls="chip-bad">deleted</Chip> : null}
                          </td>
                          <td class="mono">{e.experiment_id}</td>
                          <td><Time ms={e.creation_time} /></td>
                          <td><Time ms={e.last_update_time} /></td>
                          <td class="trunc" title={tags.get('mlflow.note.content') || undefined}>{tags.get('mlflow.note.content') || ''}</td>
                          <td class="mono trunc muted" title={e.artifact_location || undefined}>{e.artifact_location || ''}</td>
                          <td class="actions">
                            {isDeleted ? (
                              <button type="button" class="link" data-testid="experiment-restore"
                                onClick={() => act(restoreExperiment(e.experiment_id, ctx.signal))}>Restore</button>
                            ) : (
                              <>
                                <button type="button" class="link" data-testid="experiment-rename" onClick={() => setRenaming(e.experiment_id)}>Rename</button>
                                {e.experiment_id !== '0' ? (
                                  <button type="button" class="link" data-testid="experiment-delete"
                                    onClick={() => { if (window.confirm(`Delete experiment “${e.name}” and its runs? It can be restored until it is purged.`)) act(deleteExperiment(e.experiment_id, ctx.signal)); }}>Delete</button>
                                ) : null}
                              </>
                            )}
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              )}
      </div>
    </>
  );
}

function CreateForm({ ctx, act: run }) {
  const name = useRef(null);
  return (
    <form class="inline-form" onSubmit={(ev) => {
      ev.preventDefault();
      const n = name.current.value.trim();
      if (!n) { name.current.focus(); return; }
      run(createExperiment(n, ctx.signal).then(() => { name.current.value = ''; }));
    }}>
      <input ref={name} placeholder="New experiment name" aria-label="New experiment name" data-testid="experiment-new-name" maxLength={500} />
      <button type="submit" data-testid="experiment-create">Create</button>
    </form>
  );
}

function RenameForm({ ctx, exp, act: run, cancel }) {
  const name = useRef(null);
  useEffect(() => { name.current.value = exp.name; name.current.focus(); }, []);
  return (
    <form class="inline-form" onSubmit={(ev) => {
      ev.preventDefault();
      const n = name.current.value.trim();
      if (n) run(renameExperiment(exp.experiment_id, n, ctx.signal));
    }}>
      <input ref={name} aria-label="Experiment name" data-testid="experiment-rename-input" maxLength={500} />
      <button type="submit" class="small" data-testid="experiment-rename-save">Save</button>
      <button type="button" class="secondary small" onClick={cancel}>Cancel</button>
    </form>
  );
}

export const experimentsView = preactView(ExperimentsPage, 'experimentsView');
