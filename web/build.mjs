// Bundles the web app for cinder to serve: web/*.html and the scripts they name, from npm packages
// (phoenix, yjs, y-phoenix-channel, uPlot), with esbuild. Run by the build (CMake target
// cinder_web) as `node web/build.mjs --out <dir>`; cinder serves <dir> (by default the web/ beside
// its binary, see `cinder serve --help`).
//
// What comes out, and why:
//   - each page's script and CSS as assets/<name>-<hash>.js|css: the content hash in the name lets
//     cinder send them as immutable (cached for a year); the HTML (no hash, revalidated with its
//     ETag) names the current ones;
//   - a linked source map per script, so a browser's devtools show the sources;
//   - <file>.gz beside every text file over 1 KiB, compressed once here at the highest level rather
//     than on every request: cinder sends it when the client accepts gzip.
// Nothing is fetched at run time: no CDN, no fonts from elsewhere.
import { build } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, constants as zlib } from 'node:zlib';

const webDir = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const outArg = args.indexOf('--out');
const outDir = resolve(outArg >= 0 ? args[outArg + 1] : join(webDir, '..', 'build', 'web'));
const tmpDir = `${outDir}.new`;

// A page is web/<page>.html; its scripts are the <script type="module" src="src/...js"> it names.
const pages = readdirSync(webDir).filter((f) => f.endsWith('.html'));
const scriptRe = /<script type="module" src="(src\/[\w./-]+\.js)"><\/script>/g;
const entries = new Set();
for (const page of pages) {
  for (const m of readFileSync(join(webDir, page), 'utf8').matchAll(scriptRe)) entries.add(m[1]);
}

rmSync(tmpDir, { recursive: true, force: true });
const result = await build({
  entryPoints: [...entries].map((e) => join(webDir, e)),
  outdir: join(tmpDir, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  bundle: true,
  minify: true,
  sourcemap: 'linked',
  format: 'esm',
  target: ['chrome100', 'firefox100', 'safari15'],
  metafile: true,
  logLevel: 'warning',
});

// entry source (relative to web/) -> { js, css } public paths
const outputs = new Map();
for (const [out, info] of Object.entries(result.metafile.outputs)) {
  if (!info.entryPoint) continue;
  const src = relative(webDir, resolve(info.entryPoint));
  const pub = (p) => '/' + relative(tmpDir, resolve(p)).split('\\').join('/');
  outputs.set(src, { js: pub(out), css: info.cssBundle ? pub(info.cssBundle) : null });
}

for (const page of pages) {
  let html = readFileSync(join(webDir, page), 'utf8');
  html = html.replace(scriptRe, (_, src) => {
    const o = outputs.get(src);
    if (!o) throw new Error(`${page}: no bundle for ${src}`);
    const css = o.css ? `<link rel="stylesheet" href="${o.css}">\n  ` : '';
    return `${css}<script type="module" src="${o.js}"></script>`;
  });
  writeFileSync(join(tmpDir, page), html);
}
for (const f of readdirSync(webDir)) {
  if (/\.(css|svg|png|ico|txt)$/.test(f)) writeFileSync(join(tmpDir, f), readFileSync(join(webDir, f)));
}

// Precompressed copies of the text files worth it.
const walk = (d) => readdirSync(d).flatMap((f) => {
  const p = join(d, f);
  return statSync(p).isDirectory() ? walk(p) : [p];
});
let raw = 0;
let zipped = 0;
for (const f of walk(tmpDir)) {
  if (!/\.(html|js|css|map|svg|json|txt)$/.test(f) || statSync(f).size <= 1024) continue;
  const data = readFileSync(f);
  const gz = gzipSync(data, { level: zlib.Z_BEST_COMPRESSION });
  if (gz.length >= data.length) continue;
  writeFileSync(`${f}.gz`, gz);
  raw += data.length;
  zipped += gz.length;
}

// Swap the new tree in whole, so a running server never serves a half-written one.
rmSync(outDir, { recursive: true, force: true });
mkdirSync(dirname(outDir), { recursive: true });
renameSync(tmpDir, outDir);
const sizes = [...outputs.values()].map((o) => `${basename(o.js)} ${statSync(join(outDir, o.js)).size} B`);
console.log(`web: ${pages.length} pages, ${sizes.join(', ')}; gzip ${raw} -> ${zipped} B; in ${outDir}`);
