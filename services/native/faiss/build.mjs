#!/usr/bin/env node
// Builds the FAISS addons with node-gyp against Debian's libfaiss (see binding.gyp).
// Idempotent: does nothing when both .node files are newer than our sources and were built here,
// for this Node ABI and faiss-node version (a version, not file times: `npm ci` rewrites node_modules). A build/ configured elsewhere (moved or copied checkout: node-gyp's
// makefiles record absolute paths) or for another Node is removed first; so is any build/ with --force.
// Usage: node native/faiss/build.mjs [--force]
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeGypMismatch, removeBuildDir } from '../../scripts/native-build.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const faissNodeDir = path.dirname(require.resolve('faiss-node/package.json'));
const ownSources = [path.join(here, 'binding.gyp'), path.join(here, 'src/podbrain_faiss.cc'), path.join(here, 'src/idx_t_compat.h')];
const faissNodeVersion = JSON.parse(readFileSync(path.join(faissNodeDir, 'package.json'), 'utf8')).version;
const ours = path.join(here, 'build/Release/podbrain_faiss.node');
const builtFaissNode = path.join(here, 'build/Release/faiss-node.node');
// faiss-node's lib/index.js loads require('bindings')('faiss-node'), which looks in build/Release.
const faissNodeTarget = path.join(faissNodeDir, 'build/Release/faiss-node.node');

const buildDir = path.join(here, 'build');
const force = process.argv.includes('--force');
// What the .node files are only valid for: this directory, this Node ABI, this faiss-node.
const stampFile = path.join(buildDir, 'podbrain-build.json');
const stamp = JSON.stringify({ moduleDir: here, abi: process.versions.modules, faiss_node: faissNodeVersion });
const hasStamp = existsSync(stampFile);
const stampMismatch = () => {
  if (!hasStamp) return null; // builds from before the stamp: the makefile and file-time checks decide
  return readFileSync(stampFile, 'utf8') === stamp ? null : `built for ${readFileSync(stampFile, 'utf8')}, now ${stamp}`;
};
const stale = nodeGypMismatch(buildDir, here) ?? stampMismatch();

const mtime = (f) => (existsSync(f) ? statSync(f).mtimeMs : 0);
const loads = (addon) => {
  try {
    require(addon);
    return true;
  } catch {
    return false;
  }
};
// Without a stamp faiss-node's source time stands in for its version.
const newestSource = Math.max(...[...ownSources, ...(hasStamp ? [] : [path.join(faissNodeDir, 'src/faiss.cc')])].map(mtime));
const upToDate = !stale && [ours, builtFaissNode].every((f) => mtime(f) > newestSource);

if (!force && upToDate) {
  console.log('faiss addons up to date');
  // A build from before the stamp that loads here gets one, so the next `npm ci` costs no rebuild.
  if (!hasStamp && loads(ours) && loads(builtFaissNode)) writeFileSync(stampFile, stamp);
} else {
  if ((force || stale) && removeBuildDir(buildDir, ['Makefile', 'config.gypi', 'Release', 'podbrain-build.json'])) {
    console.log(`removed ${path.relative(process.cwd(), buildDir) || buildDir} (${force ? '--force' : stale}); building from scratch`);
  }
  // Node's headers ship with the Debian/NodeSource package under <prefix>/include/node; no download.
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (!existsSync(path.join(prefix, 'include/node/node_api.h'))) {
    throw new Error(`node headers not found under ${prefix}/include/node (install the nodejs dev headers)`);
  }
  const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
  const jobs = process.env.JOBS ?? '2';
  execFileSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${prefix}`, `--jobs=${jobs}`], { cwd: here, stdio: 'inherit' });
  writeFileSync(stampFile, stamp);
}
if (mtime(faissNodeTarget) < mtime(builtFaissNode)) {
  mkdirSync(path.dirname(faissNodeTarget), { recursive: true });
  copyFileSync(builtFaissNode, faissNodeTarget);
  console.log(`installed ${path.relative(process.cwd(), faissNodeTarget)}`);
}
