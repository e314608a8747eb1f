#!/usr/bin/env node
// Builds the FAISS addon (podbrain_faiss) with node-gyp against Debian's libfaiss (see binding.gyp).
// Idempotent: does nothing when the .node file is newer than our sources and was built here,
// for this Node ABI. A build/ configured elsewhere (moved or copied checkout: node-gyp's
// makefiles record absolute paths) or for another Node is removed first; so is any build/ with --force.
// Usage: node native/faiss/build.mjs [--force]
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeGypMismatch, removeBuildDir } from '../../scripts/native-build.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const ownSources = [path.join(here, 'binding.gyp'), path.join(here, 'src/podbrain_faiss.cc')];
const ours = path.join(here, 'build/Release/podbrain_faiss.node');

const buildDir = path.join(here, 'build');
const force = process.argv.includes('--force');
// What the .node file is only valid for: this directory, this Node ABI.
const stampFile = path.join(buildDir, 'podbrain-build.json');
const stamp = JSON.stringify({ moduleDir: here, abi: process.versions.modules });
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
const newestSource = Math.max(...ownSources.map(mtime));
const upToDate = !stale && mtime(ours) > newestSource;

if (!force && upToDate) {
  console.log('faiss addon up to date');
  // A build from before the stamp that loads here gets one, so the next `npm ci` costs no rebuild.
  if (!hasStamp && loads(ours)) writeFileSync(stampFile, stamp);
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
