import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PodbrainError } from '../core/errors';
import { sha256 } from '../core/hash';

/**
 * Versioned prompt files in `services/prompts/<task>.v<N>.md`, read at run time so they work
 * from src (tests), dist and the Docker image alike. A file has two sections:
 *
 *   ## system
 *   …
 *   ## user
 *   … {{placeholders}} …
 *
 * Its sha256 takes part in the enrich stage fingerprint: editing a prompt re-runs enrich.
 */
export interface PromptTemplate {
  /** e.g. `summary.v1` */
  id: string;
  /** sha256 of the file, 16 hex chars. */
  hash: string;
  system: string;
  user: string;
}

let promptsDirCache: string | null = null;

/** The services package root: the nearest parent holding package.json and prompts/. */
function promptsDir(): string {
  if (promptsDirCache) return promptsDirCache;
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'prompts'))) {
      return (promptsDirCache = path.join(dir, 'prompts'));
    }
    dir = path.dirname(dir);
  }
  throw new PodbrainError('prompts_missing', `cannot find the prompts/ folder above ${__dirname}`);
}

const cache = new Map<string, PromptTemplate>();

export function loadPrompt(id: string): PromptTemplate {
  const hit = cache.get(id);
  if (hit) return hit;
  const file = path.join(promptsDir(), `${id}.md`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PodbrainError('prompts_missing', `prompt file ${file} cannot be read: ${(e as Error).message}`);
  }
  const m = /^##\s*system\s*\n([\s\S]*?)^##\s*user\s*\n([\s\S]*)$/m.exec(text);
  if (!m) throw new PodbrainError('prompt_invalid', `prompt file ${file} needs a "## system" and a "## user" section`);
  const tpl = { id, hash: sha256(text).slice(0, 16), system: m[1].trim(), user: m[2].trim() };
  cache.set(id, tpl);
  return tpl;
}

/** Fills `{{name}}` placeholders; unknown placeholders are an error (a typo in a prompt file). */
export function renderPrompt(template: string, vars: Record<string, string>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    if (!(name in vars)) throw new PodbrainError('prompt_invalid', `prompt placeholder {{${name}}} has no value`);
    return vars[name];
  });
}
