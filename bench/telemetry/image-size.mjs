#!/usr/bin/env node
// Estimates the CPU image's size (deploy/Dockerfile, target runtime) without a Docker engine,
// from the contents its layers would hold, measured on this Debian 12 box (the image's distro):
//   1. base node:22-bookworm-slim: debian:bookworm-slim (published: 74.8 MB uncompressed) + the node
//      binary and npm as installed here (node 20; node 22's binary is of the same order);
//   2. apt layer: Installed-Size of the packages apt's own resolver would add
//      (`apt-get -s --no-install-recommends`) on a dpkg status holding only what bookworm-slim
//      has (Essential/required packages + apt, with their dependencies);
//   3. app layers: node_modules after `npm prune --omit=dev` (non-dev entries of package-lock.json,
//      sized on disk here), services/dist, the whisper.cpp binaries, the FAISS addons, deploy/scripts.
//   node bench/telemetry/image-size.mjs   (after npm run build:native && npm run build)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MB = 1e6;
const RUNTIME_PKGS = ['ffmpeg', 'tini', 'ca-certificates', 'libopenblas0-pthread', 'liblapack3', 'libgomp1', 'libgfortran5'];
const DEBIAN_SLIM_BYTES = 74.8 * MB;

const sh = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });

function closure(pkgs) {
  const out = sh('apt-cache', ['depends', '--recurse', '--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances', ...pkgs]);
  return new Set(out.split('\n').filter((l) => l && !l.startsWith(' ') && !l.startsWith('<')).map((l) => l.trim().replace(/:amd64$/, '')));
}

function installedSize(pkgs) {
  let kib = 0;
  const chunk = 200;
  const list = [...pkgs];
  for (let i = 0; i < list.length; i += chunk) {
    const out = sh('apt-cache', ['show', '--no-all-versions', ...list.slice(i, i + chunk)]);
    for (const m of out.matchAll(/^Installed-Size: (\d+)$/gm)) kib += Number(m[1]);
  }
  return kib * 1024;
}

function duBytes(p, exclude = []) {
  if (!existsSync(p)) return 0;
  const st = statSync(p);
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const e of readdirSync(p, { withFileTypes: true })) {
    const child = path.join(p, e.name);
    if (exclude.includes(child)) continue;
    if (e.isSymbolicLink()) continue;
    n += e.isDirectory() ? duBytes(child, exclude) : statSync(child).size;
  }
  return n;
}

// 1. base: bookworm-slim ≈ Essential + required + apt, with their dependencies (from this box's dpkg status)
const status = new Map(
  readFileSync('/var/lib/dpkg/status', 'utf8')
    .split('\n\n')
    .map((e) => [/^Package: (\S+)$/m.exec(e)?.[1], e])
    .filter(([p]) => p),
);
const seeds = [...status].filter(([, e]) => /^Essential: yes$/m.test(e) || /^Priority: required$/m.test(e)).map(([p]) => p);
const base = closure(['--installed', ...seeds, 'apt']);
const statusFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'podbrain-image-size-')), 'status');
writeFileSync(statusFile, `${[...base].filter((p) => status.has(p)).map((p) => status.get(p)).join('\n\n')}\n\n`);
const nodeBin = statSync(realpathSync(process.execPath)).size;
const npmDir = ['/usr/local/lib/node_modules/npm', '/usr/lib/node_modules/npm'].find(existsSync);
const npmBytes = npmDir ? duBytes(npmDir) : 0;

// 2. apt layer
const simulated = sh('apt-get', ['-s', '-o', `Dir::State::status=${statusFile}`, 'install', '--no-install-recommends', ...RUNTIME_PKGS]);
const runtime = [...simulated.matchAll(/^Inst (\S+)/gm)].map((m) => m[1]);
if (!runtime.includes('ffmpeg')) throw new Error(`apt simulation did not resolve:\n${simulated.slice(-2000)}`);
const aptBytes = installedSize(runtime);

// 3. app layers
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
const prodEntries = Object.entries(lock.packages).filter(([k, v]) => k.includes('node_modules/') && !v.dev && !v.link);
let nodeModules = 0;
let missing = 0;
for (const [k] of prodEntries) {
  const dir = path.join(root, k);
  if (!existsSync(dir)) {
    missing++;
    continue;
  }
  nodeModules += duBytes(dir, [path.join(dir, 'node_modules')]);
}
const dist = duBytes(path.join(root, 'services/dist'));
const whisper = duBytes(path.join(root, 'services/native/whisper/build/bin'));
const faiss = duBytes(path.join(root, 'services/native/faiss/build/Release'), [path.join(root, 'services/native/faiss/build/Release/obj.target')]);
const scripts = duBytes(path.join(root, 'deploy/scripts'));
const webDist = duBytes(path.join(root, 'web/dist'));

const rows = [
  ['debian:bookworm-slim (published size)', DEBIAN_SLIM_BYTES],
  [`node binary (${process.version} here)`, nodeBin],
  ['npm', npmBytes],
  [`apt: ${runtime.length} packages beyond bookworm-slim (ffmpeg, tini, OpenBLAS, LAPACK, …)`, aptBytes],
  [`node_modules after prune --omit=dev (${prodEntries.length - missing} packages${missing ? `, ${missing} not installed here` : ''})`, nodeModules],
  ['services/dist', dist],
  ['whisper.cpp binaries', whisper],
  ['FAISS addons', faiss],
  ['deploy/scripts', scripts],
];
const total = rows.reduce((a, [, b]) => a + b, 0);
for (const [what, bytes] of rows) console.log(`${(bytes / MB).toFixed(1).padStart(8)} MB  ${what}`);
console.log(`${(total / MB).toFixed(1).padStart(8)} MB  total, uncompressed (docker images SIZE)`);
console.log(`${(webDist / MB).toFixed(1).padStart(8)} MB  web/dist (in the viewer image, on top of caddy:2.8-alpine)`);
console.log(JSON.stringify({ total_mb: Number((total / MB).toFixed(1)), apt_packages: runtime.length }));
