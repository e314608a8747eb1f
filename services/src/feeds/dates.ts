const MONTHS: Record<string, number> = { jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11 };

/** Offsets in minutes for the zone names RFC 822 allows and a few common extras. */
const ZONES: Record<string, number> = {
  ut: 0, utc: 0, gmt: 0, z: 0, bst: 60, cet: 60, cest: 120, eet: 120, eest: 180,
  est: -300, edt: -240, cst: -360, cdt: -300, mst: -420, mdt: -360, pst: -480, pdt: -420,
  akst: -540, akdt: -480, hst: -600, ist: 330, jst: 540, aest: 600, aedt: 660,
};

const RFC822 =
  /^(?:[a-z]+\.?,?\s*)?(\d{1,2})[\s-]+([a-z]{3})[a-z]*\.?[\s-]+(\d{2,4})(?:[\s,T]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?\s*([+-]\d{1,2}:?\d{2}|[a-z]{1,5})?(?:\s*\(.*\))?\s*$/i;
const ISO8601 = /^(\d{4})-(\d{2})-(\d{2})(?:[T\s](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?\s*(z|[+-]\d{2}:?\d{2})?$/i;

function offsetMinutes(zone: string | undefined): number | null {
  if (!zone) return 0;
  const numeric = /^([+-])(\d{1,2}):?(\d{2})$/.exec(zone);
  if (numeric) return (numeric[1] === '-' ? -1 : 1) * (Number(numeric[2]) * 60 + Number(numeric[3]));
  const named = ZONES[zone.toLowerCase()];
  if (named !== undefined) return named;
  // Military single letters and unknown names: RFC 2822 says treat as UTC (-0000).
  return /^[a-z]{1,5}$/i.test(zone) ? 0 : null;
}

function toIso(y: number, mo: number, d: number, h: number, mi: number, s: number, offset: number): string | null {
  if (mo < 0 || mo > 11 || d < 1 || d > 31 || h > 24 || mi > 59 || s > 60) return null;
  const ms = Date.UTC(y, mo, d, h, mi, s) - offset * 60_000;
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

/** RFC 822/2822 (odd zones, stray whitespace, 2-digit years) and ISO 8601 dates → ISO 8601 UTC, or null. */
export function parseFeedDate(raw: string | null | undefined): string | null {
  if (raw == null) return null;
  const value = raw.replace(/\s+/g, ' ').trim();
  if (!value) return null;
  const iso = ISO8601.exec(value);
  if (iso) {
    const offset = offsetMinutes(iso[7]);
    if (offset === null) return null;
    return toIso(+iso[1], +iso[2] - 1, +iso[3], +(iso[4] ?? 0), +(iso[5] ?? 0), +(iso[6] ?? 0), offset);
  }
  const rfc = RFC822.exec(value);
  if (rfc) {
    const month = MONTHS[rfc[2].toLowerCase()];
    const offset = offsetMinutes(rfc[7]);
    if (month === undefined || offset === null) return null;
    let year = Number(rfc[3]);
    if (rfc[3].length <= 2) year += year < 50 ? 2000 : 1900;
    return toIso(year, month, +rfc[1], +(rfc[4] ?? 0), +(rfc[5] ?? 0), +(rfc[6] ?? 0), offset);
  }
  return null;
}
