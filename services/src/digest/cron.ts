/**
 * A small 5-field cron (minute hour day-of-month month day-of-week), evaluated in the process's
 * time zone, for DIGEST_SCHEDULE. Fields take `*`, numbers, ranges `a-b`, steps `*\/n` and `a-b/n`,
 * lists `a,b`, month and weekday names (jan, mon) and 7 for Sunday. As in Vixie cron, when both
 * day fields are restricted a day matches either. Written here rather than pulled in: the digest
 * needs only `prev` and `next`, and this keeps the appliance's dependencies as they are.
 */

export interface Cron {
  /** The expression as given (trimmed). */
  readonly source: string;
  /** The latest minute at or before `at` that matches, or null when none in the last 5 years. */
  prev(at: Date): Date | null;
  /** The first minute after `at` that matches, or null when none in the next 5 years. */
  next(at: Date): Date | null;
}

export class CronError extends Error {}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** The first name's value (months: 1, days: 0). */
  nameBase?: number;
}

const FIELDS: FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1 },
  { name: 'day of week', min: 0, max: 7, names: DAYS, nameBase: 0 },
];

function value(token: string, f: FieldSpec): number {
  const lower = token.toLowerCase();
  const named = f.names?.indexOf(lower) ?? -1;
  if (named >= 0) return named + (f.nameBase ?? 0);
  if (!/^\d{1,2}$/.test(token)) throw new CronError(`${f.name}: "${token}" is not a number${f.names ? ' or a name' : ''}`);
  const n = Number(token);
  if (n < f.min || n > f.max) throw new CronError(`${f.name}: ${n} is outside ${f.min}-${f.max}`);
  return n;
}

/** The set of values a field allows, and whether it was `*` (for the day-of-month/day-of-week rule). */
function parseField(text: string, f: FieldSpec): { allowed: Set<number>; any: boolean } {
  const allowed = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^([^/]+)(?:\/(\d{1,2}))?$/.exec(part);
    if (!m) throw new CronError(`${f.name}: "${part}" is not a value, range or step`);
    const step = m[2] === undefined ? 1 : Number(m[2]);
    if (step < 1) throw new CronError(`${f.name}: the step must be at least 1`);
    let lo: number;
    let hi: number;
    if (m[1] === '*') [lo, hi] = [f.min, f.max];
    else if (m[1].includes('-')) {
      const [a, b, ...rest] = m[1].split('-');
      if (rest.length) throw new CronError(`${f.name}: "${m[1]}" is not a range`);
      [lo, hi] = [value(a, f), value(b, f)];
      if (lo > hi) throw new CronError(`${f.name}: the range ${m[1]} runs backwards`);
    } else {
      lo = value(m[1], f);
      hi = m[2] === undefined ? lo : f.max;
    }
    for (let v = lo; v <= hi; v += step) allowed.add(v);
  }
  if (f.name === 'day of week' && allowed.delete(7)) allowed.add(0);
  return { allowed, any: text === '*' };
}

const MINUTE = 60_000;
const SEARCH_DAYS = 5 * 366;

/** Parses a 5-field expression; throws CronError with what is wrong. */
export function parseCron(expression: string): Cron {
  const source = expression.trim();
  const parts = source.split(/\s+/);
  if (parts.length !== 5) throw new CronError(`"${source}" has ${parts.length} field(s); a cron schedule has 5: minute hour day-of-month month day-of-week (e.g. "0 6 * * 1")`);
  const [minute, hour, dom, month, dow] = parts.map((p, i) => parseField(p, FIELDS[i]));
  const dayMatches = (d: Date) => {
    const inDom = dom.allowed.has(d.getDate());
    const inDow = dow.allowed.has(d.getDay());
    if (dom.any || dow.any) return (dom.any || inDom) && (dow.any || inDow);
    return inDom || inDow;
  };
  const minutesDesc = [...minute.allowed].sort((a, b) => b - a);
  const hoursDesc = [...hour.allowed].sort((a, b) => b - a);
  const dayCanMatch = (d: Date) => month.allowed.has(d.getMonth() + 1) && dayMatches(d);

  // Walks whole days (local midnight to midnight, DST-safe through the Date constructor) and, on a
  // matching day, its allowed hours and minutes; a time a DST jump skips is not a match.
  const search = (at: Date, dir: 1 | -1): Date | null => {
    const limit = at.getTime();
    for (let i = 0; i <= SEARCH_DAYS; i++) {
      const day = new Date(at.getFullYear(), at.getMonth(), at.getDate() + dir * i);
      if (!dayCanMatch(day)) continue;
      const hours = dir === -1 ? hoursDesc : [...hoursDesc].reverse();
      const minutes = dir === -1 ? minutesDesc : [...minutesDesc].reverse();
      for (const h of hours) {
        for (const m of minutes) {
          const t = new Date(day.getFullYear(), day.getMonth(), day.getDate(), h, m);
          if (t.getHours() !== h || t.getMinutes() !== m) continue;
          if (dir === -1 ? t.getTime() <= limit : t.getTime() > limit) return t;
        }
      }
    }
    return null;
  };
  const floorMinute = (d: Date) => new Date(Math.floor(d.getTime() / MINUTE) * MINUTE);
  const cron: Cron = {
    source,
    prev: (at) => search(floorMinute(at), -1),
    next: (at) => search(floorMinute(at), 1),
  };
  if (!cron.next(new Date())) throw new CronError(`"${source}" never runs (no matching date in the next 5 years)`);
  return cron;
}

/** DIGEST_SCHEDULE: `off` (or empty) → null; else the parsed schedule; throws CronError with the setting's name. */
export function digestCron(schedule: string): Cron | null {
  const s = schedule.trim();
  if (!s || s.toLowerCase() === 'off') return null;
  try {
    return parseCron(s);
  } catch (e) {
    throw new CronError(`DIGEST_SCHEDULE: ${(e as Error).message} (or "off" to generate digests only on demand)`);
  }
}
