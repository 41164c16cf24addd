// #/logged-models/<model_id> (and MLflow's #/experiments/<id>/models/<model_id>):
// one MLflow 3 logged model: its info, params, metrics, tags and artifacts.
import { useEffect, useState } from 'preact/hooks';
import { getLoggedModel } from '../api.js';
import { route } from '../route.js';
import { byKey, fmtNumber } from '../format.js';
import { ErrorBox, KV, Time, preactView } from '../components.jsx';
import { Artifacts, artifactRoot } from './artifacts.jsx';

function LoggedModelPage({ ctx }) {
  const id = ctx.params[ctx.params.length - 1];
  const [model, setModel] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => {
    ctx.title(`Logged model ${id}`);
    ctx.track(getLoggedModel(id, ctx.signal).then((r) => {
      setModel(r.model);
      if (r.model && r.model.info) ctx.title(r.model.info.name || id);
    }, (e) => { if (!ctx.signal.aborted) setErr(e); }));
  }, [id]);
  const crumbs = (name) => (
    <nav class="crumbs"><a href="#/experiments">Experiments</a>
      {model ? <> / <a href={route('experiments', model.info.experiment_id)}>Experiment {model.info.experiment_id}</a></> : null}
      {' / '}<span>{name}</span></nav>
  );
  if (err) return <>{crumbs(id)}<ErrorBox err={err} testid="logged-model-error" title="Could not load the logged model" /></>;
  if (!model) return <>{crumbs(id)}<p class="muted loading">Loading…</p></>;
  const i = model.info || {};
  const d = model.data || {};
  const params = [...(i.params || d.params || [])].sort(byKey);
  const metrics = [...(d.metrics || [])].sort(byKey);
  const tags = [...(i.tags || [])].sort(byKey);
  return (
    <>
      {crumbs(i.name || id)}
      <div class="page-head"><h1 data-testid="logged-model-name">{i.name || id}</h1></div>
      <section class="card overview">
        <KV testid="logged-model-info" pairs={[
          ['Model ID', <span class="mono">{i.model_id}</span>],
          ['Status', i.status || ''],
          ['Type', i.model_type || ''],
          ['Source run', i.source_run_id ? <a href={route('runs', i.source_run_id)} class="mono" data-testid="logged-model-run">{i.source_run_id}</a> : ''],
          ['Created', <Time ms={i.creation_timestamp_ms} />],
          ['Updated', <Time ms={i.last_updated_timestamp_ms} />],
          ['Artifact URI', <span class="mono">{i.artifact_uri || ''}</span>],
        ]} />
      </section>
      <div class="two-col">
        <section class="card">
          <h2>Parameters</h2>
          {params.length ? (
            <table class="grid kv-table" data-testid="logged-model-params"><tbody>
              {params.map((p) => <tr key={p.key} data-key={p.key}><th class="key">{p.key}</th><td>{p.value}</td></tr>)}
            </tbody></table>
          ) : <p class="muted">No parameters.</p>}
        </section>
        <section class="card">
          <h2>Metrics</h2>
          {metrics.length ? (
            <table class="grid kv-table" data-testid="logged-model-metrics"><tbody>
              {metrics.map((m, k) => <tr key={k} data-key={m.key}><th class="key">{m.key}</th><td class="num">{fmtNumber(m.value)}</td>
                <td class="muted">{m.dataset_name ? `${m.dataset_name}` : ''}{m.step ? ` step ${m.step}` : ''}</td></tr>)}
            </tbody></table>
          ) : <p class="muted">No metrics.</p>}
        </section>
      </div>
      {tags.length ? (
        <section class="card"><h2>Tags</h2>
          <table class="grid kv-table" data-testid="logged-model-tags"><tbody>
            {tags.map((t) => <tr key={t.key} data-key={t.key}><th class="key">{t.key}</th><td>{t.value}</td></tr>)}
          </tbody></table>
        </section>
      ) : null}
      <section class="card" data-testid="artifacts-card">
        <h2>Artifacts</h2>
        <Artifacts ctx={ctx} root={artifactRoot({ artifact_uri: i.artifact_uri, experiment_id: i.experiment_id, run_id: i.model_id })}
          emptyText="No artifacts in this model." />
      </section>
    </>
  );
}

export const loggedModelView = preactView(LoggedModelPage, 'loggedModelView');
