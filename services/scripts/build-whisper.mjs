#!/usr/bin/env node
// Builds whisper-cli (and the vad-speech-segments example and whisper-server when the bundled source
// has them; the server is an OpenAI-compatible endpoint for ASR_ENGINES=openai and its test) from the
// whisper.cpp source bundled in nodejs-whisper, into services/native/whisper/build. We spawn the binary
// ourselves (src/asr/whisper/whisper-cli.ts) instead of using nodejs-whisper's shelljs wrapper.
// CPU by default; WHISPER_CUDA=1 adds -DGGML_CUDA=1. Idempotent: skips when the binaries exist and
// the recorded source (path and nodejs-whisper version) and flags match.
// A build dir configured elsewhere (moved or copied checkout: its CMakeCache.txt names another
// source or build dir) is removed and rebuilt; --force always starts from an empty build dir.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cmakeCacheMismatch, removeBuildDir } from './native-build.mjs';

const servicesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(servicesDir, 'package.json'));
const source = path.join(path.dirname(require.resolve('nodejs-whisper/package.json')), 'cpp', 'whisper.cpp');
const buildDir = path.resolve(process.env.WHISPER_BUILD_DIR ?? path.join(servicesDir, 'native', 'whisper', 'build'));
const cuda = process.env.WHISPER_CUDA === '1';
const force = process.argv.includes('--force');

if (!existsSync(path.join(source, 'CMakeLists.txt'))) {
  console.error(`build-whisper: whisper.cpp source not found at ${source} (is nodejs-whisper installed?)`);
  process.exit(1);
}
const hasVadExample = existsSync(path.join(source, 'examples', 'vad-speech-segments', 'CMakeLists.txt'));
const hasServer = existsSync(path.join(source, 'examples', 'server', 'CMakeLists.txt'));
const targets = ['whisper-cli', ...(hasVadExample ? ['whisper-vad-speech-segments'] : []), ...(hasServer ? ['whisper-server'] : [])];
const binaries = targets.map((t) => path.join(buildDir, 'bin', t));
const flags = [
  '-DCMAKE_BUILD_TYPE=Release',
  '-DBUILD_SHARED_LIBS=OFF',
  '-DWHISPER_BUILD_TESTS=OFF',
  `-DWHISPER_BUILD_SERVER=${hasServer ? 'ON' : 'OFF'}`,
  '-DWHISPER_BUILD_EXAMPLES=ON',
  '-DWHISPER_SDL2=OFF',
  '-DWHISPER_CURL=OFF',
  // Tuned to the building CPU by default; WHISPER_NATIVE=0 for portable binaries (an image built elsewhere).
  `-DGGML_NATIVE=${process.env.WHISPER_NATIVE === '0' ? 'OFF' : 'ON'}`,
  `-DGGML_CUDA=${cuda ? 'ON' : 'OFF'}`,
];
const stampFile = path.join(buildDir, 'podbrain-build.json');
// The source is identified by the nodejs-whisper version that bundles it, not by file times: `npm ci`
// rewrites every file of node_modules with a new mtime, which must not cost a whisper.cpp rebuild.
const whisperVersion = JSON.parse(readFileSync(require.resolve('nodejs-whisper/package.json'), 'utf8')).version;
const stamp = JSON.stringify({ source, flags, targets, nodejs_whisper: whisperVersion });
/** The stamp of builds made before the version was recorded: trusted only while the binaries are newer than the source. */
const legacyStamp = JSON.stringify({ source, flags, targets });
const BUILD_DIR_MARKERS = ['CMakeCache.txt', 'podbrain-build.json', 'CMakeFiles'];

function upToDate() {
  if (force || !existsSync(stampFile) || !binaries.every((b) => existsSync(b))) return false;
  const recorded = readFileSync(stampFile, 'utf8');
  if (recorded === stamp) return true;
  if (recorded !== legacyStamp) return false;
  const sourceTime = statSync(path.join(source, 'CMakeLists.txt')).mtimeMs;
  if (!binaries.every((b) => statSync(b).mtimeMs >= sourceTime)) return false;
  writeFileSync(stampFile, stamp);
  return true;
}

if (upToDate()) {
  console.log(`build-whisper: up to date (${binaries.join(', ')})`);
  process.exit(0);
}

function run(cmd, args) {
  console.log(`build-whisper: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.error) {
    console.error(`build-whisper: cannot run ${cmd}: ${r.error.message} (install cmake and a C++ compiler)`);
    process.exit(1);
  }
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const stale = cmakeCacheMismatch(buildDir, source);
if (force || stale) {
  if (removeBuildDir(buildDir, BUILD_DIR_MARKERS)) console.log(`build-whisper: removed ${buildDir} (${force ? '--force' : stale}); building from scratch`);
}
mkdirSync(buildDir, { recursive: true });
run('cmake', ['-S', source, '-B', buildDir, ...flags]);
run('cmake', ['--build', buildDir, '--config', 'Release', '-j', String(os.availableParallelism()), '--target', ...targets]);
for (const b of binaries) {
  if (!existsSync(b)) {
    console.error(`build-whisper: ${b} was not produced`);
    process.exit(1);
  }
}
writeFileSync(stampFile, stamp);
console.log(`build-whisper: built ${binaries.join(', ')}${cuda ? ' (CUDA)' : ' (CPU)'}`);
