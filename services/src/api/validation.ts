import { z } from 'zod';
import { ApiError } from './errors';

/** Parses request input; a mismatch is a 400 that names the field and what was expected. */
export function parseInput<S extends z.ZodTypeAny>(schema: S, value: unknown, where: 'query' | 'body' | 'path'): z.output<S> {
  // Every string of the input, whether the schema knows its field or not (Postgres rejects 0x00 in text).
  const bad = badText(value ?? {}, []);
  if (bad) throw new ApiError(400, 'invalid_request', `invalid ${where}: ${bad}`, { problems: [bad] });
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data as z.output<S>;
  const problems = r.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message));
  throw new ApiError(400, 'invalid_request', `invalid ${where}: ${problems.join('; ')}`, { problems });
}

// C0 controls and DEL, except tab, line feed and carriage return; NUL first of all.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
const CONTROL_MESSAGE = 'must not contain NUL (\\u0000) or other control characters';
const UNICODE_MESSAGE = 'must be valid Unicode text (no unpaired surrogates)';
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a string is not acceptable text, or null. */
function textProblem(s: string): string | null {
  if (CONTROL.test(s)) return CONTROL_MESSAGE;
  if (LONE_SURROGATE.test(s)) return UNICODE_MESSAGE;
  return null;
}

/** The first string (or object key) in `value` that is not acceptable text, as `path: problem`. */
function badText(value: unknown, at: string[], depth = 0): string | null {
  const where = (p: string[]) => (p.length ? `${p.join('.')}: ` : '');
  if (typeof value === 'string') {
    const p = textProblem(value);
    return p ? `${where(at)}${p}` : null;
  }
  if (depth > 32 || value === null || typeof value !== 'object') return null;
  for (const [k, v] of Object.entries(value)) {
    const kp = textProblem(k);
    if (kp) return `${where(at)}a field name ${kp}`;
    const inner = badText(v, [...at, k], depth + 1);
    if (inner) return inner;
  }
  return null;
}

/** A string of text: no NUL or other control characters, valid Unicode, at most `max` characters. */
export const text = (max: number, required = 'required') =>
  z
    .string({ error: (i) => (i.input === undefined ? required : undefined) })
    .max(max)
    .superRefine((s, ctx) => {
      const p = textProblem(s);
      if (p) ctx.addIssue({ code: 'custom', message: p });
    });

export const KEY = /^[A-Za-z0-9._:-]+$/;
export const KEY_MESSAGE = 'letters, digits, . _ : or -';

/** Ids and keys (episode keys, feed ids, job ids). */
export const key = z.string().min(1).max(200).regex(KEY, KEY_MESSAGE);
