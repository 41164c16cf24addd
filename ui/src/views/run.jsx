// #/runs/<id>: one run. Overview; editable name, description (Markdown)
// and tags; metrics with a chart of the chosen ones; params; datasets and
// model inputs/outputs; the run's MLflow 3 logged models; artifacts with
// previews. Query: ?metrics=a,b&x=step|time|relative&smooth=0.6&log=1
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  deleteRunTag, getExperiment, getRun, isMissingEndpoint, quote, searchLoggedModels, setRunTag, updateRunName,
} from '../api.js';
import { route } from '../route.js';
import { byKey, fmtNumber, runDuration, runName, tagMap } from '../format.js';
import { Chip, ErrorBox, KV, StatusBadge, Time, preactView, toggleKey } from '../components.jsx';
import { ChartControls, MetricChart } from '../chart.jsx';
import { Markdown } from '../markdown.jsx';
import { Artifacts, artifactRoot } from './artifacts.jsx';

const NOTE = 'mlflow.note.content';

function RunPage({ ctx, query }) {
  const runId = ctx.params[0];
  const [run, setRun] = useState(null);
  const [err, setErr] = useState(null);
  const [expName, setExpName] = useState('');
  const [version, setVersion] = useState(0);

  useEffect(() => {
    ctx.track(getRun(runId, ctx.signal).then(({ run: r }) => {
      setRun(r);
      ctx.title(runName(r));
    }, (e) => { if (!ctx.signal.aborted) setErr(e); }));
  }, [runId, version]);
  const expId = run && run.info.experiment_id;
  useEffect(() => {
    if (!expId) return;
    ctx.track(getExperiment(expId, ctx.signal).then(({ experiment: e }) => setExpName((e && e.name) || ''), () => {}));
  }, [expId]);

  if (err) return <><nav class="crumbs"><a href="#/experiments">Experiments</a></nav><ErrorBox err={err} testid="run-error" title="Could not load the run" /></>;
  if (!run) return <><nav class="crumbs"><a href="#/experiments">Experiments</a></nav><p class="muted loading">Loading…</p></>;
  const reload = () => setVersion((v) => v + 1);
  const info = run.info;
  const data = run.data || {};
  const tags = tagMap(data.tags);
  const name = runName(run);
  return (
    <>
      <nav class="crumbs">
        <a href="#/experiments">Experiments</a> / <a href={route('experiments', info.experiment_id)} data-testid="run-experiment-link">
          {expName || `Experiment ${info.experiment_id}`}</a> / <span>{name}</span>
      </nav>
      <RunName ctx={ctx} run={run} reload={reload} />
      <div class="run-page">
        <section class="card overview">
          <KV testid="run-info" pairs={[
            ['Run ID', <span class="mono" data-testid="run-id">{info.run_id}</span>],
            ['Status', <StatusBadge status={info.status} />],
            ['User', info.user_id || tags.get('mlflow.user') || ''],
            ['Started', <Time ms={info.start_time} />],
            ['Ended', <Time ms={info.end_time} />],
            ['Duration', info.end_time ? runDuration(info) : (info.status === 'RUNNING' ? 'running' : '')],
            ['Lifecycle', info.lifecycle_stage === 'deleted' ? <Chip cls="chip-bad">deleted</Chip> : ''],
            ['Parent run', tags.get('mlflow.parentRunId')
              ? <a href={route('runs', tags.get('mlflow.parentRunId'))} class="mono">{tags.get('mlflow.parentRunId')}</a> : ''],
            ['Source', tags.get('mlflow.source.name') || ''],
            ['Git commit', tags.get('mlflow.source.git.commit') ? <span class="mono">{tags.get('mlflow.source.git.commit')}</span> : ''],
            ['Artifact URI', <span class="mono">{info.artifact_uri || ''}</span>],
          ]} />
        </section>
        <Description ctx={ctx} run={run} reload={reload} />
        <MetricsCard ctx={ctx} run={run} query={query} />
        <div class="two-col">
          <section class="card" data-testid="params-card">
            <h2>Parameters</h2>
            <KeyValues items={[...(data.params || [])].sort(byKey)} testid="run-params" keyLabel="Parameter" empty="No parameters." />
          </section>
          <TagsCard ctx={ctx} run={run} reload={reload} />
        </div>
        <Inputs run={run} />
        <LoggedModels ctx={ctx} run={run} />
        <section class="card" data-testid="artifacts-card">
          <h2>Artifacts</h2>
          <Artifacts ctx={ctx} root={artifactRoot(info)} />
        </section>
      </div>
    </>
  );
}

function RunName({ ctx, run, reload }) {
  const [editing, setEditing] = useState(false);
  const [err, setErr] = useState(null);
  const input = useRef(null);
  const name = runName(run);
  useEffect(() => { if (editing && input.current) { input.current.value = name; input.current.focus(); } }, [editing]);
  if (!editing) {
    return (
      <div class="page-head">
        <h1 data-testid="run-name">{name}</h1>
        <button type="button" class="secondary small" data-testid="run-rename" onClick={() => setEditing(true)}>Rename</button>
      </div>
    );
  }
  const save = (ev) => {
    ev.preventDefault();
    const v = input.current.value.trim();
    if (!v) return;
    setErr(null);
    ctx.track(updateRunName(run.info.run_id, v, ctx.signal).then(() => { setEditing(false); reload(); },
      (e) => { if (!ctx.signal.aborted) setErr(e); }));
  };
  return (
    <form class="page-head edit-form" onSubmit={save}>
      <input ref={input} class="title-input" aria-label="Run name" data-testid="run-name-input" maxLength={250} />
      <button type="submit" data-testid="run-name-save">Save</button>
      <button type="button" class="secondary" onClick={() => setEditing(false)}>Cancel</button>
      {err ? <ErrorBox err={err} testid="run-name-error" title="Could not rename the run" /> : null}
    </form>
  );
}

function Description({ ctx, run, reload }) {
  const note = tagMap(run.data.tags).get(NOTE) || '';
  const [editing, setEditing] = useState(false);
  const [err, setErr] = useState(null);
  const area = useRef(null);
  useEffect(() => { if (editing && area.current) { area.current.value = note; area.current.focus(); } }, [editing]);
  const save = () => {
    setErr(null);
    ctx.track(setRunTag(run.info.run_id, NOTE, area.current.value, ctx.signal).then(() => { setEditing(false); reload(); },
      (e) => { if (!ctx.signal.aborted) setErr(e); }));
  };
  return (
    <section class="card" data-testid="description-card">
      <div class="card-head">
        <h2>Description</h2>
        {!editing ? <button type="button" class="secondary small" data-testid="run-description-edit" onClick={() => setEditing(true)}>Edit</button> : null}
      </div>
      {editing ? (
        <div class="edit-form">
          <textarea ref={area} rows={8} class="mono" aria-label="Description (Markdown)" data-testid="run-description-input" />
          <div class="toolbar">
            <button type="button" data-testid="run-description-save" onClick={save}>Save</button>
            <button type="button" class="secondary" onClick={() => setEditing(false)}>Cancel</button>
            <span class="muted">Markdown: # headings, lists, **bold**, *italic*, `code`, [links](https://…)</span>
          </div>
          {err ? <ErrorBox err={err} testid="run-description-error" title="Could not save the description" /> : null}
        </div>
      ) : note ? <Markdown text={note} testid="run-description" /> : <p class="muted" data-testid="run-description-empty">No description.</p>}
    </section>
  );
}

function MetricsCard({ ctx, run, query }) {
  const metrics = [...(run.data.metrics || [])].sort(byKey);
  const all = metrics.map((m) => m.key);
  const fromQuery = (query.get('metrics') || query.get('metric') || '').split(',').filter((k) => all.includes(k));
  const [keys, setKeys] = useState(() => (fromQuery.length ? fromQuery : all.slice(0, 1)));
  const [opts, setOpts] = useState(() => ({
    x: ['time', 'relative'].includes(query.get('x')) ? query.get('x') : 'step',
    smoothing: Number(query.get('smooth')) || 0, log: query.get('log') === '1',
  }));
  useEffect(() => {
    const dflt = keys.length === 1 && keys[0] === all[0]; // the default stays out of the URL
    ctx.setQuery({ metrics: dflt ? '' : keys.join(','), x: opts.x === 'step' ? '' : opts.x,
      smooth: opts.smoothing ? String(opts.smoothing) : '', log: opts.log ? '1' : '' });
  }, [keys.join(','), opts.x, opts.smoothing, opts.log]);
  if (!metrics.length) {
    return <section class="card" data-testid="metrics-card"><h2>Metrics</h2><p class="muted" data-testid="run-metrics-empty">No metrics logged.</p></section>;
  }
  const toggle = (k, on) => setKeys((cur) => toggleKey(all, cur, k, on));
  return (
    <section class="card" data-testid="metrics-card">
      <h2>Metrics</h2>
      <div class="metrics-layout">
        <div class="table-scroll metrics-list">
          <table class="grid metrics-table" data-testid="run-metrics">
            <thead><tr><th /><th>Metric</th><th class="num">Latest</th><th class="num">Step</th><th>Logged at</th></tr></thead>
            <tbody>
              {metrics.map((m) => (
                <tr key={m.key} data-key={m.key} data-testid="metric-row" class={keys.includes(m.key) ? 'selected' : ''}>
                  <td><input type="checkbox" data-testid="metric-select" aria-label={`Chart ${m.key}`} checked={keys.includes(m.key)}
                    onChange={(ev) => toggle(m.key, ev.currentTarget.checked)} /></td>
                  <th scope="row" class="key trunc" title={m.key}>{m.key}</th>
                  <td class="num mono" data-testid="metric-value" title={String(m.value)}>{fmtNumber(m.value)}</td>
                  <td class="num">{m.step || 0}</td>
                  <td class="nowrap"><Time ms={m.timestamp} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div class="metrics-chart">
          <ChartControls opts={opts} setOpts={setOpts} />
          <MetricChart ctx={ctx} runs={[{ id: run.info.run_id, name: runName(run) }]} keys={keys} opts={opts} testid="run-chart" />
        </div>
      </div>
    </section>
  );
}

function KeyValues({ items, testid, keyLabel = 'Key', empty = 'None', actions }) {
  if (!items.length) return <p class="muted" data-testid={`${testid}-empty`}>{empty}</p>;
  return (
    <table class="grid kv-table" data-testid={testid}>
      <thead><tr><th>{keyLabel}</th><th>Value</th>{actions ? <th /> : null}</tr></thead>
      <tbody>
        {items.map((it) => (
          <tr key={it.key} data-key={it.key}>
            <th scope="row" class="key">{it.key}</th>
            <td class="value">{it.value ?? ''}</td>
            {actions ? <td class="actions">{actions(it)}</td> : null}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function TagsCard({ ctx, run, reload }) {
  const all = [...(run.data.tags || [])].sort(byKey);
  const user = all.filter((t) => !t.key.startsWith('mlflow.'));
  const system = all.filter((t) => t.key.startsWith('mlflow.') && t.key !== NOTE);
  const [err, setErr] = useState(null);
  const key = useRef(null);
  const value = useRef(null);
  const id = run.info.run_id;
  const act = (p) => { setErr(null); ctx.track(p.then(reload, (e) => { if (!ctx.signal.aborted) setErr(e); })); };
  const edit = (t) => { key.current.value = t.key; value.current.value = t.value; value.current.focus(); };
  return (
    <section class="card" data-testid="tags-card">
      <h2>Tags</h2>
      <KeyValues items={user} testid="run-tags" keyLabel="Tag" empty="No tags." actions={(t) => (
        <>
          <button type="button" class="link" data-testid="tag-edit" aria-label={`Edit tag ${t.key}`} onClick={() => edit(t)}>Edit</button>
          <button type="button" class="link" data-testid="tag-delete" aria-label={`Delete tag ${t.key}`}
            onClick={() => act(deleteRunTag(id, t.key, ctx.signal))}>Delete</button>
        </>
      )} />
      <form class="tag-form" onSubmit={(ev) => {
        ev.preventDefault();
        const k = key.current.value.trim();
        if (!k) { key.current.focus(); return; }
        act(setRunTag(id, k, value.current.value, ctx.signal).then(() => { key.current.value = ''; value.current.value = ''; }));
      }}>
        <input ref={key} class="mono" placeholder="key" aria-label="Tag key" data-testid="tag-key-input" />
        <input ref={value} class="mono" placeholder="value" aria-label="Tag value" data-testid="tag-value-input" />
        <button type="submit" class="secondary" data-testid="tag-save">Set tag</button>
      </form>
      {err ? <ErrorBox err={err} testid="tag-error" title="Could not change the tag" /> : null}
      {system.length ? (
        <details class="system-tags">
          <summary>System tags ({system.length})</summary>
          <KeyValues items={system} testid="run-system-tags" keyLabel="Tag" />
        </details>
      ) : null}
    </section>
  );
}

function Inputs({ run }) {
  const ds = (run.inputs && run.inputs.dataset_inputs) || [];
  const mins = (run.inputs && run.inputs.model_inputs) || [];
  const mouts = (run.outputs && run.outputs.model_outputs) || [];
  if (!ds.length && !mins.length && !mouts.length) return null;
  return (
    <section class="card" data-testid="inputs-card">
      <h2>Datasets and model inputs</h2>
      {ds.length ? (
        <div class="table-scroll">
          <table class="grid" data-testid="run-datasets">
            <thead><tr><th>Dataset</th><th>Digest</th><th>Context</th><th>Source</th><th>Schema</th></tr></thead>
            <tbody>
              {ds.map((d, i) => {
                const x = d.dataset || {};
                const ctxTag = (d.tags || []).find((t) => t.key === 'mlflow.data.context');
                return (
                  <tr key={i} data-testid="dataset-row">
                    <td>{x.name}</td>
                    <td class="mono">{x.digest}</td>
                    <td>{ctxTag ? ctxTag.value : ''}</td>
                    <td class="trunc" title={x.source || ''}>{x.source_type}{x.source ? `: ${x.source}` : ''}</td>
                    <td>{x.schema ? <details><summary>schema</summary><pre class="preview-text">{x.schema}</pre></details> : ''}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
      {mins.length ? <p>Model inputs: {mins.map((m) => <a key={m.model_id} class="chip mono" href={route('logged-models', m.model_id)}>{m.model_id}</a>)}</p> : null}
      {mouts.length ? <p>Model outputs: {mouts.map((m) => <a key={m.model_id} class="chip mono" href={route('logged-models', m.model_id)}>{m.model_id}{m.step ? ` (step ${m.step})` : ''}</a>)}</p> : null}
    </section>
  );
}

function LoggedModels({ ctx, run }) {
  const [models, setModels] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => {
    ctx.track(searchLoggedModels({ experimentIds: [run.info.experiment_id], filter: `source_run_id = ${quote(run.info.run_id)}`, signal: ctx.signal })
      .then((r) => setModels(r.models || []), (e) => { if (!ctx.signal.aborted) { if (isMissingEndpoint(e)) setModels([]); else setErr(e); } }));
  }, [run.info.run_id]);
  if (err) return <section class="card"><h2>Logged models</h2><ErrorBox err={err} testid="logged-models-error" title="Could not list the logged models" /></section>;
  if (!models || !models.length) return null;
  return (
    <section class="card" data-testid="logged-models-card">
      <h2>Logged models</h2>
      <table class="grid" data-testid="run-logged-models">
        <thead><tr><th>Name</th><th>Model ID</th><th>Status</th><th>Params</th><th>Metrics</th><th>Created</th></tr></thead>
        <tbody>
          {models.map((m) => {
            const i = m.info || {};
            const d = m.data || {};
            return (
              <tr key={i.model_id} data-testid="logged-model-row">
                <td><a href={route('logged-models', i.model_id)} data-testid="logged-model-link">{i.name}</a></td>
                <td class="mono trunc">{i.model_id}</td>
                <td>{i.status}</td>
                <td class="trunc">{(i.params || d.params || []).map((p) => `${p.key}=${p.value}`).join(', ')}</td>
                <td class="trunc">{(d.metrics || []).map((x) => `${x.key}=${fmtNumber(x.value)}`).join(', ')}</td>
                <td class="nowrap"><Time ms={i.creation_timestamp_ms} /></td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

export const runView = preactView(RunPage, 'runView');
