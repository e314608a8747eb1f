/**
 * itunes:duration in the forms seen in the wild: "3600", "61:08", "1:02:03", "01:02:03.500",
 * with surrounding junk ("1:02:03 hrs", " 45 "). Returns whole seconds, or null when no time can be read.
 */
export function parseDuration(raw: string | null | undefined): number | null {
  const s = readDuration(raw);
  // Longer than a year is a typo or junk, and past 2^31 s it would not even fit the episodes row.
  return s !== null && s <= MAX_DURATION_S ? s : null;
}

const MAX_DURATION_S = 366 * 24 * 3600;

function readDuration(raw: string | null | undefined): number | null {
  if (raw == null) return null;
  const value = raw.trim();
  if (!value) return null;
  // "1h 2m 3s", "45 min", "PT1H2M3S"
  const units = /^(?:PT)?\s*(?:(\d+)\s*h(?:ours?|rs?)?)?\s*(?:(\d+)\s*m(?:in(?:utes?|s)?)?)?\s*(?:(\d+)\s*s(?:ec(?:onds?|s)?)?)?\s*$/i.exec(value);
  if (units && (units[1] || units[2] || units[3])) {
    return Number(units[1] ?? 0) * 3600 + Number(units[2] ?? 0) * 60 + Number(units[3] ?? 0);
  }
  const clock = /^(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?(?:[.,]\d+)?(?:\s*[a-z.]*)?$/i.exec(value);
  if (clock) {
    const parts = [clock[1], clock[2], clock[3]].filter((p): p is string => p !== undefined).map(Number);
    return parts.reduce((acc, p) => acc * 60 + p, 0);
  }
  return null;
}
