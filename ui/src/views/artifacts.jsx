// A run's (or logged model's) artifacts through the artifact proxy: a
// tree that lists directories as they open, and a preview of the chosen
// file: images, text, JSON (pretty), YAML, CSV/TSV (as a table), MLmodel
// (flavors and signature); anything else gets a download link.
import { useEffect, useState } from 'preact/hooks';
import { artifactUrl, isMissingEndpoint, listArtifacts } from '../api.js';
import { fmtBytes } from '../format.js';
import { ErrorBox } from '../components.jsx';

/**
 * Proxy path of a run's artifact root: the path part of an
 * "mlflow-artifacts:/1/<run>/artifacts" URI, else "<exp>/<run>/artifacts".
 */
export function artifactRoot(info) {
  const uri = info.artifact_uri || '';
  const m = /^mlflow-artifacts:(?:\/\/[^/]*)?\/*(.*)$/.exec(uri);
  if (m) return m[1].replace(/\/+$/, '');
  const m2 = /\/api\/2\.0\/mlflow-artifacts\/artifacts\/(.*)$/.exec(uri);
  if (m2) return m2[1].replace(/\/+$/, '');
  return `${info.experiment_id}/${info.run_id || info.run_uuid}/artifacts`;
}

const MAX_PREVIEW = 2 << 20; // bytes of text read for a preview
const MAX_ROWS = 500; // CSV rows shown

const sortEntries = (files) => [...files].sort((a, b) => (a.is_dir === b.is_dir
  ? (a.path < b.path ? -1 : a.path > b.path ? 1 : 0) : a.is_dir ? -1 : 1));

export function kindOf(name) {
  const n = name.toLowerCase();
  if (n === 'mlmodel') return 'mlmodel';
  const ext = n.includes('.') ? n.slice(n.lastIndexOf('.') + 1) : '';
  if (['png', 'jpg', 'jpeg', 'gif', 'webp', 'svg', 'bmp', 'ico'].includes(ext)) return 'image';
  if (ext === 'json' || ext === 'jsonl') return ext;
  if (ext === 'yaml' || ext === 'yml') return 'yaml';
  if (ext === 'csv' || ext === 'tsv') return ext;
  if (['txt', 'log', 'md', 'py', 'r', 'sh', 'toml', 'ini', 'cfg', 'html', 'xml', 'sql', 'js', 'ts', 'go', 'java',
    'scala', 'c', 'h', 'cpp', 'rs', 'ipynb', 'conf', 'properties', 'requirements', 'lock', 'env'].includes(ext) || !ext) return 'text';
  return 'binary';
}

function Tree({ dir, files, ctx, open, setOpen, chosen, choose }) {
  return (
    <ul class="tree">
      {files.map((f) => {
        const name = f.path.split('/').pop();
        const full = `${dir}/${name}`;
        if (!f.is_dir) {
          return (
            <li key={full} class={`file${chosen === full ? ' chosen' : ''}`} data-testid="artifact-file">
              <a href={artifactUrl(full)} download={name} title={`Download ${name}`}
                onClick={(ev) => { if (!ev.ctrlKey && !ev.metaKey && !ev.shiftKey) { ev.preventDefault(); choose(full, f); } }}>{name}</a>
              {f.file_size !== undefined ? <span class="muted size">{fmtBytes(f.file_size)}</span> : null}
            </li>
          );
        }
        const o = open.get(full);
        return (
          <li key={full} class="dir">
            <button type="button" class="tree-toggle" aria-expanded={o && o.open ? 'true' : 'false'} data-testid="artifact-dir"
              onClick={() => setOpen(full, !(o && o.open))}>
              <span class="caret">{o && o.open ? '▾' : '▸'}</span>{`${name}/`}
            </button>
            {o && o.open ? (
              <div class="tree-children">
                {o.err ? <ErrorBox err={o.err} title="Could not list this directory" />
                  : !o.files ? <p class="muted">Loading…</p>
                    : o.files.length ? <Tree dir={full} files={o.files} ctx={ctx} open={open} setOpen={setOpen} chosen={chosen} choose={choose} />
                      : <p class="muted">(empty)</p>}
              </div>
            ) : null}
          </li>
        );
      })}
    </ul>
  );
}

/** The artifact browser of a root path (a run's artifacts). */
export function Artifacts({ ctx, root, emptyText = 'No artifacts recorded for this run.' }) {
  const [files, setFiles] = useState(null);
  const [err, setErr] = useState(null);
  const [open, setOpenMap] = useState(() => new Map());
  const [chosen, setChosen] = useState(null);

  useEffect(() => {
    ctx.track(listArtifacts(root, ctx.signal).then((f) => setFiles(sortEntries(f)), (e) => { if (!ctx.signal.aborted) setErr(e); }));
  }, [root]);

  function setOpen(dir, isOpen) {
    setOpenMap((m) => {
      const n = new Map(m);
      const o = n.get(dir) || {};
      n.set(dir, { ...o, open: isOpen });
      if (isOpen && !o.files && !o.loading) {
        n.set(dir, { open: true, loading: true });
        ctx.track(listArtifacts(dir, ctx.signal).then(
          (f) => setOpenMap((mm) => new Map(mm).set(dir, { ...mm.get(dir), files: sortEntries(f), loading: false })),
          (e) => setOpenMap((mm) => new Map(mm).set(dir, { ...mm.get(dir), err: e, loading: false }))));
      }
      return n;
    });
  }

  if (err) {
    return (
      <div class="artifacts" data-testid="artifacts">
        {isMissingEndpoint(err)
          ? <div class="alert info" data-testid="artifacts-unavailable">The artifact proxy is not available on this server.</div>
          : <ErrorBox err={err} testid="artifacts-error" title="Could not list artifacts" />}
      </div>
    );
  }
  if (!files) return <div class="artifacts" data-testid="artifacts"><p class="muted">Loading…</p></div>;
  if (!files.length) return <div class="artifacts" data-testid="artifacts"><p class="muted" data-testid="artifacts-empty">{emptyText}</p></div>;
  return (
    <div class="artifacts split" data-testid="artifacts">
      <div class="artifact-tree">
        <Tree dir={root} files={files} ctx={ctx} open={open} setOpen={setOpen} chosen={chosen && chosen.path} choose={(path, f) => setChosen({ path, file: f })} />
      </div>
      <div class="artifact-preview">
        {chosen ? <Preview ctx={ctx} path={chosen.path} size={chosen.file.file_size} />
          : <p class="muted">Choose a file to preview it.</p>}
      </div>
    </div>
  );
}

function Preview({ ctx, path, size }) {
  const name = path.split('/').pop();
  const kind = kindOf(name);
  const url = artifactUrl(path);
  const [text, setText] = useState(null);
  const [err, setErr] = useState(null);
  const textual = kind !== 'image' && kind !== 'binary';
  const tooBig = textual && size > MAX_PREVIEW;
  useEffect(() => {
    setText(null);
    setErr(null);
    if (!textual || tooBig) return;
    ctx.track(fetch(url, { signal: ctx.signal, credentials: 'same-origin' }).then(async (r) => {
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      setText(await r.text());
    }).catch((e) => { if (!ctx.signal.aborted) setErr(e); }));
  }, [path]);
  const head = (
    <div class="preview-head">
      <strong class="mono" data-testid="preview-name">{name}</strong>{' '}
      {size !== undefined ? <span class="muted">{fmtBytes(size)}</span> : null}{' '}
      <a href={url} download={name} data-testid="preview-download">Download</a>
    </div>
  );
  let body;
  if (kind === 'image') body = <img class="preview-image" src={url} alt={name} data-testid="preview-image" />;
  else if (kind === 'binary') body = <p class="muted" data-testid="preview-binary">No preview for this kind of file.</p>;
  else if (tooBig) body = <p class="muted" data-testid="preview-too-big">Too large to preview ({fmtBytes(size)}).</p>;
  else if (err) body = <ErrorBox err={err} testid="preview-error" title="Could not read the file" />;
  else if (text === null) body = <p class="muted">Loading…</p>;
  else if (kind === 'json') body = <pre class="preview-text" data-testid="preview-json">{prettyJSON(text)}</pre>;
  else if (kind === 'csv' || kind === 'tsv') body = <CsvTable text={text} sep={kind === 'tsv' ? '\t' : ','} />;
  else if (kind === 'mlmodel') body = <MLmodel text={text} />;
  else body = <pre class="preview-text" data-testid="preview-text">{text}</pre>;
  return <div data-testid="artifact-preview" data-kind={kind}>{head}{body}</div>;
}

function prettyJSON(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

/** RFC 4180 fields: quotes, doubled quotes, separators and newlines inside quotes. */
export function parseCsv(text, sep = ',', maxRows = MAX_ROWS + 1) {
  const rows = [];
  let row = [];
  let field = '';
  let q = false;
  for (let i = 0; i < text.length && rows.length < maxRows; i++) {
    const c = text[i];
    if (q) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') q = false; else field += c;
    } else if (c === '"' && field === '') q = true;
    else if (c === sep) { row.push(field); field = ''; } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if ((field !== '' || row.length) && rows.length < maxRows) { row.push(field); rows.push(row); }
  return rows;
}

function CsvTable({ text, sep }) {
  const rows = parseCsv(text, sep);
  if (!rows.length) return <p class="muted">(empty)</p>;
  const [head, ...body] = rows;
  const shown = body.slice(0, MAX_ROWS);
  return (
    <div class="table-scroll preview-table">
      <table class="grid" data-testid="preview-csv">
        <thead><tr>{head.map((h, i) => <th key={i}>{h}</th>)}</tr></thead>
        <tbody>{shown.map((r, i) => <tr key={i}>{r.map((v, j) => <td key={j}>{v}</td>)}</tr>)}</tbody>
      </table>
      {body.length > MAX_ROWS ? <p class="muted">First {MAX_ROWS} rows.</p> : null}
    </div>
  );
}

/**
 * The parts of an MLmodel file worth a glance: its flavors (the keys under
 * "flavors:") and the signature's inputs and outputs (JSON strings).
 */
export function parseMLmodel(text) {
  const lines = text.split(/\r?\n/);
  const flavors = [];
  const sig = {};
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const top = /^([A-Za-z_][\w.-]*):\s*(.*)$/.exec(l);
    if (top) { section = top[1]; continue; }
    const sub = /^ {2}([A-Za-z_][\w.-]*):\s*(.*)$/.exec(l);
    if (!sub) continue;
    if (section === 'flavors') flavors.push(sub[1]);
    if (section === 'signature' && (sub[1] === 'inputs' || sub[1] === 'outputs')) {
      let v = sub[2].trim();
      // A single-quoted YAML scalar may continue on the next lines (PyYAML
      // folds long ones); a line break inside it reads as a space.
      const closed = (x) => { const y = x.replace(/''/g, ''); return y.length >= 2 && y.endsWith("'"); };
      while (v.startsWith("'") && !closed(v) && i + 1 < lines.length) v += ' ' + lines[++i].trim();
      if (v.startsWith("'") && v.endsWith("'")) v = v.slice(1, -1).replace(/''/g, "'");
      try { sig[sub[1]] = JSON.parse(v); } catch { sig[sub[1]] = null; }
    }
  }
  return { flavors, signature: sig };
}

function MLmodel({ text }) {
  const m = parseMLmodel(text);
  const cols = (spec) => (Array.isArray(spec) ? spec : []).map((c, i) => (
    <tr key={i}><td class="mono">{c.name ?? `[${i}]`}</td><td class="mono">{c.type}{c['tensor-spec'] ? ` ${JSON.stringify(c['tensor-spec'])}` : ''}</td></tr>
  ));
  return (
    <div data-testid="preview-mlmodel">
      <p>Flavors: {m.flavors.length ? m.flavors.map((f) => <span key={f} class="chip" data-testid="mlmodel-flavor">{f}</span>) : 'none'}</p>
      {m.signature.inputs ? (
        <table class="grid kv-table" data-testid="mlmodel-inputs"><thead><tr><th>Input</th><th>Type</th></tr></thead><tbody>{cols(m.signature.inputs)}</tbody></table>
      ) : <p class="muted">No signature.</p>}
      {m.signature.outputs ? (
        <table class="grid kv-table" data-testid="mlmodel-outputs"><thead><tr><th>Output</th><th>Type</th></tr></thead><tbody>{cols(m.signature.outputs)}</tbody></table>
      ) : null}
      <details><summary>MLmodel</summary><pre class="preview-text">{text}</pre></details>
    </div>
  );
}
