// Helpers shared by the native builds (scripts/build-whisper.mjs, native/faiss/build.mjs): both
// keep a build directory whose configuration records absolute paths (CMake's CMakeCache.txt,
// node-gyp's build/Makefile). A checkout that was moved or copied carries a build dir that names
// the old place; CMake then refuses ("does not match the source … used to generate cache") and
// node-gyp's makefiles point into the old tree. These find such a dir so the caller starts clean.
import { existsSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import path from 'node:path';

function samePath(a, b) {
  const canon = (p) => {
    try {
      return realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  return canon(a) === canon(b);
}

/** CMAKE_HOME_DIRECTORY (the source) and CMAKE_CACHEFILE_DIR (the build dir) of a CMakeCache.txt; null without one. */
export function readCmakeCache(buildDir) {
  const file = path.join(buildDir, 'CMakeCache.txt');
  if (!existsSync(file)) return null;
  const text = readFileSync(file, 'utf8');
  const value = (key) => new RegExp(`^${key}:[A-Z]+=(.*)$`, 'm').exec(text)?.[1]?.trim() ?? null;
  return { home: value('CMAKE_HOME_DIRECTORY'), cacheDir: value('CMAKE_CACHEFILE_DIR') };
}

/**
 * Why the CMake cache in `buildDir` cannot be used for `sourceDir` built in `buildDir` (it was
 * made for another source or in another directory, i.e. the checkout moved), or null when it
 * can (or there is none).
 */
export function cmakeCacheMismatch(buildDir, sourceDir) {
  const cache = readCmakeCache(buildDir);
  if (!cache) return null;
  if (!cache.home || !cache.cacheDir) return `${path.join(buildDir, 'CMakeCache.txt')} names no source or build directory`;
  if (!samePath(cache.home, sourceDir)) return `the CMake cache was made for the source ${cache.home}, not ${sourceDir}`;
  if (!samePath(cache.cacheDir, buildDir)) return `the CMake cache was made in ${cache.cacheDir}, not ${buildDir}`;
  return null;
}

/** The module dir a node-gyp build/Makefile was generated for (its -Dmodule_root_dir=…); null without one. */
export function readNodeGypModuleDir(buildDir) {
  const file = path.join(buildDir, 'Makefile');
  if (!existsSync(file)) return null;
  const m = /"?-Dmodule_root_dir=([^"\s]+)"?/.exec(readFileSync(file, 'utf8'));
  return m ? m[1] : null;
}

/** Why node-gyp's `buildDir` (…/build) does not belong to `moduleDir` (copied or moved checkout), or null. */
export function nodeGypMismatch(buildDir, moduleDir) {
  const recorded = readNodeGypModuleDir(buildDir);
  if (recorded && !samePath(recorded, moduleDir)) return `the node-gyp build was configured for ${recorded}, not ${moduleDir}`;
  return null;
}

/**
 * Removes a build directory so the next configure starts clean. Only a directory that looks
 * like one of ours (empty, or holding one of `markers`) is removed, so a mistyped
 * WHISPER_BUILD_DIR can never wipe anything else.
 */
export function removeBuildDir(buildDir, markers) {
  if (!existsSync(buildDir)) return false;
  const entries = readdirSync(buildDir);
  if (entries.length && !markers.some((m) => entries.includes(m))) {
    throw new Error(`${buildDir} does not look like a build directory (none of ${markers.join(', ')} in it): not removing it; remove it yourself or pick another`);
  }
  rmSync(buildDir, { recursive: true, force: true });
  return true;
}
