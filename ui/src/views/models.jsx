// #/models and #/models/<name>[/versions/<v>]: the model registry. A server
// without the registry endpoints (404 / ENDPOINT_NOT_FOUND) gets "registry
// not available". Query of #/models: ?q=<name text>
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  searchRegisteredModels, getRegisteredModel, modelVersions, isMissingEndpoint, ApiError,
} from '../api.js';
import { route } from '../route.js';
import { tagMap, byKey } from '../format.js';
import { Chip, ErrorBox, KV, StatusBadge, Time, preactView } from '../components.jsx';

const isPrompt = (m) => tagMap(m.tags).get('mlflow.prompt.is_prompt') === 'true';

const Unavailable = () => (
  <div class="alert info" data-testid="registry-unavailable">Model registry not available on this server.</div>
);

function StageChip({ stage }) {
  const s = stage || 'None';
  return <Chip cls={`stage stage-${s.toLowerCase()}`}>{s}</Chip>;
}

// Case-insensitive search, falling back to LIKE on servers without ILIKE.
let likeOp = 'ILIKE';

async function loadModels(text, signal) {
  const models = [];
  let token;
  for (let i = 0; i < 100; i++) {
    let resp;
    try {
      resp = await searchRegisteredModels({
        filter: text ? `name ${likeOp} '%${text.replace(/'/g, '_')}%'` : '', pageToken: token, signal,
      });
    } catch (e) {
      if (text && likeOp === 'ILIKE' && e instanceof ApiError && e.status === 400) { likeOp = 'LIKE'; i--; continue; }
      throw e;
    }
    models.push(...(resp.registered_models || []).filter((m) => !isPrompt(m)));
    token = resp.next_page_token;
    if (!token) break;
  }
  return models;
}

function ModelsPage({ ctx, query }) {
  const [text, setText] = useState(query.get('q') || '');
  const [models, setModels] = useState(null);
  const [err, setErr] = useState(null);
  const seq = useRef(0);
  const first = useRef(true);
  const q = query.get('q') || '';
  useEffect(() => { setText(q); }, [q]);

  useEffect(() => {
    ctx.title('Models');
    const t = text.trim();
    ctx.setQuery({ q: t });
    const my = ++seq.current;
    const timer = setTimeout(() => {
      ctx.track(loadModels(t, ctx.signal).then((x) => {
        if (my === seq.current) { setModels(x); setErr(null); }
      }, (e) => { if (my === seq.current && !ctx.signal.aborted) { setErr(e); setModels(null); } }));
    }, first.current ? 0 : 250);
    first.current = false;
    return () => clearTimeout(timer);
  }, [text]);

  let results;
  if (err) {
    results = isMissingEndpoint(err) ? <Unavailable />
      : <ErrorBox err={err} testid="models-error" title="Could not load registered models" />;
  } else if (!models) {
    results = <p class="muted loading">Loading…</p>;
  } else if (!models.length) {
    results = (
      <p class="muted empty" data-testid="models-empty">
        {text.trim() ? `No model name contains “${text.trim()}”.` : 'No registered models yet.'}
      </p>
    );
  } else {
    results = (
      <table class="grid" data-testid="models-table">
        <thead><tr><th>Name</th><th>Latest versions</th><th>Aliases</th><th>Last modified</th><th>Description</th></tr></thead>
        <tbody>
          {models.map((m) => (
            <tr key={m.name} data-testid="model-row" data-model={m.name}>
              <td><a href={route('models', m.name)} data-testid="model-link">{m.name}</a></td>
              <td>{(m.latest_versions || []).map((v) => (
                <span class="ver" key={v.version}>
                  <a href={route('models', m.name, 'versions', v.version)}>{`v${v.version}`}</a>{' '}
                  <StageChip stage={v.current_stage} />
                </span>
              ))}</td>
              <td>{(m.aliases || []).map((a) => <Chip key={a.alias} cls="alias">{`@${a.alias} → v${a.version}`}</Chip>)}</td>
              <td class="nowrap"><Time ms={m.last_updated_timestamp} /></td>
              <td class="trunc" title={m.description || undefined}>{m.description || ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    );
  }
  return (
    <>
      <div class="page-head">
        <h1>Registered models</h1>
        <span class="muted count" data-testid="models-count">
          {models && !err ? `${models.length} model${models.length === 1 ? '' : 's'}` : ''}
        </span>
      </div>
      <div class="toolbar">
        <input type="search" class="search" placeholder="Search models by name…" aria-label="Search models by name"
          data-testid="model-search" autocomplete="off" value={text} onInput={(ev) => setText(ev.currentTarget.value)} />
      </div>
      <div class="table-scroll" data-testid="models-results">{results}</div>
    </>
  );
}

function ModelPage({ ctx }) {
  const name = ctx.params[0];
  const focus = ctx.params[1];
  const [data, setData] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => {
    ctx.title(name);
    ctx.track(Promise.all([getRegisteredModel(name, ctx.signal), modelVersions(name, ctx.signal)]).then(
      ([{ registered_model: model }, versions]) => {
        versions.sort((a, b) => Number(b.version) - Number(a.version));
        setData({ model: model || { name }, versions });
      },
      (e) => { if (!ctx.signal.aborted) setErr(e); }));
  }, [name]);

  let body;
  if (err) {
    body = isMissingEndpoint(err) ? <Unavailable />
      : <ErrorBox err={err} testid="model-error" title="Could not load the model" />;
  } else if (!data) {
    body = <p class="muted loading">Loading…</p>;
  } else {
    body = <ModelBody model={data.model} versions={data.versions} focus={focus} />;
  }
  return (
    <>
      <nav class="crumbs"><a href="#/models">Models</a> / {name}</nav>
      <div class="page-head"><h1 data-testid="model-name">{name}</h1></div>
      {body}
    </>
  );
}

function ModelBody({ model, versions, focus }) {
  const aliasesOf = new Map();
  for (const a of model.aliases || []) {
    const k = String(a.version);
    if (!aliasesOf.has(k)) aliasesOf.set(k, []);
    aliasesOf.get(k).push(a.alias);
  }
  const tags = [...(model.tags || [])].sort(byKey);
  const modelAliases = model.aliases || [];
  return (
    <>
      <section class="card overview">
        <KV testid="model-info" pairs={[
          ['Created', <Time ms={model.creation_timestamp} />],
          ['Last modified', <Time ms={model.last_updated_timestamp} />],
          ['Aliases', modelAliases.length
            ? modelAliases.map((a) => <Chip key={a.alias} cls="alias">{`@${a.alias} → v${a.version}`}</Chip>) : ''],
        ]} />
        {model.description ? <div class="note" data-testid="model-description">{model.description}</div> : null}
      </section>
      <section class="card" data-testid="versions-card">
        <h2>{`Versions (${versions.length})`}</h2>
        {versions.length ? (
          <div class="table-scroll">
            <table class="grid" data-testid="model-versions">
              <thead><tr><th>Version</th><th>Registered</th><th>Stage</th><th>Aliases</th><th>Status</th>
                <th>Source run</th><th>Source</th><th>Description</th></tr></thead>
              <tbody>
                {versions.map((v) => {
                  const aliases = v.aliases && v.aliases.length ? v.aliases : (aliasesOf.get(String(v.version)) || []);
                  return (
                    <tr key={v.version} data-testid="version-row" data-version={v.version}
                      class={focus && String(focus) === String(v.version) ? 'selected' : undefined}>
                      <td class="mono">{`v${v.version}`}</td>
                      <td class="nowrap"><Time ms={v.creation_timestamp} /></td>
                      <td><StageChip stage={v.current_stage} /></td>
                      <td>{aliases.map((a) => <Chip key={a} cls="alias">{`@${a}`}</Chip>)}</td>
                      <td><StatusBadge status={v.status} /></td>
                      <td>{v.run_id ? <a href={route('runs', v.run_id)} class="mono">{v.run_id.slice(0, 12)}</a> : ''}</td>
                      <td class="mono trunc" title={v.source || undefined}>{v.source || ''}</td>
                      <td class="trunc" title={v.description || undefined}>{v.description || ''}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        ) : <p class="muted">No versions yet.</p>}
      </section>
      <section class="card" data-testid="model-tags-card">
        <h2>Tags</h2>
        {tags.length ? (
          <table class="grid kv-table" data-testid="model-tags">
            <thead><tr><th>Tag</th><th>Value</th></tr></thead>
            <tbody>
              {tags.map((t) => (
                <tr key={t.key} data-key={t.key}><th scope="row" class="key">{t.key}</th><td class="value">{t.value ?? ''}</td></tr>
              ))}
            </tbody>
          </table>
        ) : <p class="muted" data-testid="model-tags-empty">No tags.</p>}
      </section>
    </>
  );
}

export const modelsView = preactView(ModelsPage, 'modelsView');
export const modelView = preactView(ModelPage, 'modelView');
