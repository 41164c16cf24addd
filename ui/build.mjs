// Builds the UI: src/ → dist/ (`make ui`, or `npm run build` after `npm ci`).
//
//   dist/index.html, dist/favicon.svg   copied from src/
//   dist/assets/app.js                  src/main.jsx and everything it imports, one ES module
//   dist/assets/style.css               src/style.css and the CSS the modules import
//   dist/assets/LICENSES.txt            the licenses of the bundled packages
//
// The output is deterministic (no timestamps, no absolute paths), so CI can
// rebuild it and fail when the committed dist/ differs (`make ui-check`).
// `node build.mjs --watch` rebuilds on every change.
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, 'src');
const dist = path.join(here, 'dist');
const watch = process.argv.includes('--watch');

fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(path.join(dist, 'assets'), { recursive: true });
for (const f of ['index.html', 'favicon.svg']) {
  fs.copyFileSync(path.join(src, f), path.join(dist, f));
}

// The bundled packages' licenses, in one file beside the bundle.
const pkg = JSON.parse(fs.readFileSync(path.join(here, 'package.json'), 'utf8'));
let licenses = 'Third-party code bundled into app.js and style.css:\n';
for (const name of Object.keys(pkg.dependencies).sort()) {
  const dir = path.join(here, 'node_modules', name);
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const file = fs.readdirSync(dir).find((f) => /^licen[sc]e(\.md|\.txt)?$/i.test(f));
  if (!file) throw new Error(`${name}: no LICENSE file`);
  licenses += `\n== ${name} ${meta.version} (${meta.license}) ==\n\n` +
    fs.readFileSync(path.join(dir, file), 'utf8').trim() + '\n';
}
fs.writeFileSync(path.join(dist, 'assets', 'LICENSES.txt'), licenses);

const options = {
  entryPoints: { app: path.join(src, 'main.jsx'), style: path.join(src, 'style.css') },
  outdir: path.join(dist, 'assets'),
  bundle: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  minify: true,
  legalComments: 'none', // collected in LICENSES.txt
  charset: 'utf8',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  logLevel: 'warning',
  absWorkingDir: here,
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.log('watching src/ (Ctrl-C to stop)');
} else {
  const res = await esbuild.build({ ...options, metafile: true });
  for (const [f, o] of Object.entries(res.metafile.outputs)) {
    console.log(`${f}\t${(o.bytes / 1024).toFixed(1)} KiB`);
  }
}
