import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error -- plain ESM build script without types
import { cmakeCacheMismatch, nodeGypMismatch, readCmakeCache, removeBuildDir } from '../scripts/native-build.mjs';

/**
 * A moved or copied checkout carries build dirs that name the old place (issue 11): the native
 * builds must notice and start clean, and --force must start clean too. Tested on fabricated
 * caches, a tiny real CMake project and build-whisper.mjs with a stand-in cmake — never by
 * rebuilding whisper.cpp (minutes).
 */

const SERVICES = path.resolve(__dirname, '..');
const dirs: string[] = [];
const temp = (name: string) => {
  const d = mkdtempSync(path.join(tmpdir(), `podbrain-native-${name}-`));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function fakeCmakeCache(buildDir: string, home: string, cacheDir = buildDir) {
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(
    path.join(buildDir, 'CMakeCache.txt'),
    `# This is the CMakeCache file.\nCMAKE_BUILD_TYPE:STRING=Release\nCMAKE_CACHEFILE_DIR:INTERNAL=${cacheDir}\nCMAKE_HOME_DIRECTORY:INTERNAL=${home}\n`,
  );
}

const hasCmake = spawnSync('cmake', ['--version']).status === 0;

describe('native build dirs: a CMake cache from another place', () => {
  it('reads CMAKE_HOME_DIRECTORY and CMAKE_CACHEFILE_DIR', () => {
    const build = path.join(temp('read'), 'build');
    fakeCmakeCache(build, '/old/checkout/whisper.cpp');
    expect(readCmakeCache(build)).toEqual({ home: '/old/checkout/whisper.cpp', cacheDir: build });
    expect(readCmakeCache(path.join(build, 'nope'))).toBeNull();
  });

  it('matches the cache made here, flags one made for another source or in another build dir', () => {
    const root = temp('match');
    const source = path.join(root, 'src');
    mkdirSync(source);
    const build = path.join(root, 'build');
    fakeCmakeCache(build, source);
    expect(cmakeCacheMismatch(build, source)).toBeNull();
    fakeCmakeCache(build, '/old/checkout/node_modules/nodejs-whisper/cpp/whisper.cpp');
    expect(cmakeCacheMismatch(build, source)).toMatch(/made for the source \/old\/checkout\/.*, not /);
    fakeCmakeCache(build, source, '/old/checkout/services/native/whisper/build');
    expect(cmakeCacheMismatch(build, source)).toMatch(/made in \/old\/checkout\/services\/native\/whisper\/build, not /);
    expect(cmakeCacheMismatch(path.join(root, 'no-build-yet'), source)).toBeNull();
  });

  it.skipIf(!hasCmake)('a copied CMake build dir fails to configure as is, and configures once removed (real cmake)', () => {
    const a = temp('cmake-a');
    mkdirSync(path.join(a, 'src'));
    writeFileSync(path.join(a, 'src', 'CMakeLists.txt'), 'cmake_minimum_required(VERSION 3.10)\nproject(tiny NONE)\n');
    execFileSync('cmake', ['-S', path.join(a, 'src'), '-B', path.join(a, 'build')], { stdio: 'pipe' });
    const b = temp('cmake-b');
    cpSync(a, b, { recursive: true });
    const [src, build] = [path.join(b, 'src'), path.join(b, 'build')];
    const stale = spawnSync('cmake', ['-S', src, '-B', build], { encoding: 'utf8' });
    expect(stale.status).not.toBe(0);
    expect(stale.stderr).toMatch(/does not match the source|is different than the directory/);
    expect(cmakeCacheMismatch(build, src)).toMatch(/made for the source .*cmake-a/);
    expect(removeBuildDir(build, ['CMakeCache.txt'])).toBe(true);
    expect(spawnSync('cmake', ['-S', src, '-B', build], { encoding: 'utf8' }).status).toBe(0);
    expect(cmakeCacheMismatch(build, src)).toBeNull();
  });

  it('removes only what looks like a build dir', () => {
    const mine = temp('rm-mine');
    writeFileSync(path.join(mine, 'CMakeCache.txt'), '');
    expect(removeBuildDir(mine, ['CMakeCache.txt'])).toBe(true);
    expect(existsSync(mine)).toBe(false);
    const other = temp('rm-other');
    writeFileSync(path.join(other, 'thesis.tex'), 'precious');
    expect(() => removeBuildDir(other, ['CMakeCache.txt'])).toThrow(/does not look like a build directory/);
    expect(readFileSync(path.join(other, 'thesis.tex'), 'utf8')).toBe('precious');
    expect(removeBuildDir(path.join(other, 'absent'), ['CMakeCache.txt'])).toBe(false);
  });
});

describe('native build dirs: node-gyp build/ from another place', () => {
  it('flags a build/Makefile generated for another module dir', () => {
    const root = temp('gyp');
    const build = path.join(root, 'build');
    mkdirSync(build);
    const makefile = (dir: string) =>
      `cmd_regen_makefile = cd $(srcdir); /x/node-gyp/gyp/gyp_main.py -fmake "-Dnode_root_dir=/usr" "-Dmodule_root_dir=${dir}" "-Dnode_engine=v8" binding.gyp\n`;
    writeFileSync(path.join(build, 'Makefile'), makefile(root));
    expect(nodeGypMismatch(build, root)).toBeNull();
    writeFileSync(path.join(build, 'Makefile'), makefile('/old/checkout/services/native/faiss'));
    expect(nodeGypMismatch(build, root)).toMatch(/configured for \/old\/checkout\/services\/native\/faiss, not /);
    expect(nodeGypMismatch(path.join(root, 'none'), root)).toBeNull();
  });

  it('the real faiss build (when built) belongs to this checkout', () => {
    const here = path.join(SERVICES, 'native/faiss');
    if (existsSync(path.join(here, 'build/Makefile'))) expect(nodeGypMismatch(path.join(here, 'build'), here)).toBeNull();
  });
});

describe('build-whisper.mjs with a stand-in cmake', () => {
  const bin = temp('fake-cmake-bin');
  const log = path.join(bin, 'calls.log');
  // Records its arguments; `--build DIR` "produces" the binaries build-whisper.mjs checks for.
  writeFileSync(
    path.join(bin, 'cmake'),
    `#!/bin/sh\necho "$*" >> "${log}"\nif [ "$1" = "--build" ]; then mkdir -p "$2/bin"; for t in whisper-cli whisper-vad-speech-segments whisper-server; do : > "$2/bin/$t"; done; fi\n`,
  );
  chmodSync(path.join(bin, 'cmake'), 0o755);
  const buildWhisper = (buildDir: string, ...args: string[]) => {
    rmSync(log, { force: true });
    const r = spawnSync(process.execPath, [path.join(SERVICES, 'scripts/build-whisper.mjs'), ...args], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, WHISPER_BUILD_DIR: buildDir },
    });
    return { ...r, calls: existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [] };
  };

  it('wipes a build dir whose CMake cache names another checkout, then configures and builds', () => {
    const build = path.join(temp('bw-stale'), 'build');
    fakeCmakeCache(build, '/old/checkout/node_modules/nodejs-whisper/cpp/whisper.cpp', '/old/checkout/services/native/whisper/build');
    writeFileSync(path.join(build, 'leftover.o'), '');
    const r = buildWhisper(build);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/removed .* \(the CMake cache was made for the source \/old\/checkout\/.*\); building from scratch/);
    expect(existsSync(path.join(build, 'leftover.o'))).toBe(false);
    expect(r.calls[0]).toMatch(new RegExp(`^-S \\S+/whisper\\.cpp -B ${build} `));
    expect(r.calls[1]).toMatch(/^--build /);

    // Built: a second run does nothing; --force starts from an empty build dir again.
    expect(buildWhisper(build).calls).toEqual([]);
    writeFileSync(path.join(build, 'leftover.o'), '');
    const forced = buildWhisper(build, '--force');
    expect(forced.status, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/removed .* \(--force\); building from scratch/);
    expect(existsSync(path.join(build, 'leftover.o'))).toBe(false);
    expect(forced.calls).toHaveLength(2);
  });

  it('is up to date by nodejs-whisper version, not file times (npm ci rewrites node_modules with new mtimes)', () => {
    const build = path.join(temp('bw-version'), 'build');
    expect(buildWhisper(build).calls).toHaveLength(2);
    const stampFile = path.join(build, 'podbrain-build.json');
    const stamp = JSON.parse(readFileSync(stampFile, 'utf8')) as Record<string, unknown>;
    expect(stamp.nodejs_whisper).toMatch(/^\d+\.\d+\.\d+/);
    // Binaries "older" than the freshly installed source: still up to date.
    const old = new Date('2000-01-01');
    for (const f of readdirSync(path.join(build, 'bin'))) utimesSync(path.join(build, 'bin', f), old, old);
    expect(buildWhisper(build).calls).toEqual([]);
    // A stamp from before the version was recorded falls back to file times: older binaries → rebuild...
    const { nodejs_whisper: _version, ...legacy } = stamp;
    writeFileSync(stampFile, JSON.stringify(legacy));
    expect(buildWhisper(build).calls).toHaveLength(2);
    // ...newer ones are up to date, and the stamp gains the version.
    writeFileSync(stampFile, JSON.stringify(legacy));
    expect(buildWhisper(build).calls).toEqual([]);
    expect(JSON.parse(readFileSync(stampFile, 'utf8'))).toEqual(stamp);
  });
});
