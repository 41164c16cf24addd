// Artifact browser over the artifact proxy (/api/2.0/mlflow-artifacts):
// directories expand lazily, files link to their download URL.
import { h, replace } from '../dom.js';
import { listArtifacts, artifactUrl, isMissingEndpoint } from '../api.js';
import { errorBox, notice, loading } from './common.js';
import { fmtBytes } from '../format.js';

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

function sortEntries(files) {
  return [...files].sort((a, b) => (a.is_dir === b.is_dir ? (a.path < b.path ? -1 : a.path > b.path ? 1 : 0) : a.is_dir ? -1 : 1));
}

async function listing(dir, signal) {
  return sortEntries(await listArtifacts(dir, signal));
}

function entryList(dir, files, signal) {
  return h('ul', { class: 'tree' }, files.map((f) => {
    const name = f.path.split('/').pop();
    const full = `${dir}/${name}`;
    if (!f.is_dir) {
      return h('li', { class: 'file', testid: 'artifact-file' },
        h('a', { href: artifactUrl(full), download: name, title: `Download ${name}` }, name),
        f.file_size !== undefined ? h('span', { class: 'muted size' }, fmtBytes(f.file_size)) : null);
    }
    const children = h('div', { class: 'tree-children', hidden: true });
    let loaded = false;
    const btn = h('button', { type: 'button', class: 'tree-toggle', 'aria-expanded': 'false', testid: 'artifact-dir' },
      h('span', { class: 'caret' }, '▸'), `${name}/`);
    btn.addEventListener('click', async () => {
      const open = btn.getAttribute('aria-expanded') !== 'true';
      btn.setAttribute('aria-expanded', String(open));
      btn.firstChild.textContent = open ? '▾' : '▸';
      children.hidden = !open;
      if (open && !loaded) {
        loaded = true;
        replace(children, loading());
        try {
          const sub = await listing(full, signal);
          replace(children, sub.length ? entryList(full, sub, signal) : h('p', { class: 'muted' }, '(empty)'));
        } catch (e) {
          loaded = false;
          replace(children, errorBox(e, { title: 'Could not list this directory' }));
        }
      }
    });
    return h('li', { class: 'dir' }, btn, children);
  }));
}

/** The artifact tree of a run, as an element that fills itself in. */
export function artifactTree(info, signal, track) {
  const root = artifactRoot(info);
  const el = h('div', { class: 'artifacts', testid: 'artifacts' }, loading());
  track(listing(root, signal).then((files) => {
    replace(el, files.length ? entryList(root, files, signal)
      : h('p', { class: 'muted', testid: 'artifacts-empty' }, 'No artifacts recorded for this run.'));
  }, (e) => {
    if (signal.aborted) return;
    replace(el, isMissingEndpoint(e)
      ? notice('The artifact proxy is not available on this server.', 'artifacts-unavailable')
      : errorBox(e, { testid: 'artifacts-error', title: 'Could not list artifacts' }));
  }));
  return el;
}
