import type { TranscriptSegment } from '../src/asr/types';

/**
 * Transcripts with real topic shifts for the chapters tests: talk about beekeeping, then about
 * database backups, then about sourdough bread, each a few minutes of segments (~8 s each) made
 * from that topic's sentences, with the same chatty filler in all three.
 */
export const TOPICS = {
  bees: [
    'Every spring I open the hive and check whether the queen is still laying eggs in the brood frames.',
    'The bees need enough honey stored for winter, so I never take more than a few frames of honey.',
    'Varroa mites are the biggest threat to a colony, and we treat the hive with oxalic acid in late autumn.',
    'A healthy queen lays up to two thousand eggs a day during the main nectar flow.',
    'When the colony gets crowded the bees start building swarm cells and the old queen leaves with half the workers.',
    'I use a smoker to calm the bees before lifting the frames out of the hive body.',
    'The honey harvest this year was lighter because the lime trees flowered during a week of rain.',
    'Worker bees forage for nectar and pollen up to three kilometres from the hive.',
    'Beekeepers in our club share equipment like the honey extractor and spare hive boxes.',
    'You can tell a queenless colony by the loud roar of the bees when you open the hive.',
  ],
  backups: [
    'Our database backups run every night with pg_dump and the dumps go to an offsite bucket.',
    'A backup you have never restored is not a backup, so we test a restore of the database every month.',
    'Point in time recovery needs the write ahead log archived next to the base backup.',
    'We keep seven daily backups, four weekly backups and twelve monthly backups of every database.',
    'The restore of the production database took forty minutes, which is inside our recovery time objective.',
    'Encrypt the backup files before they leave the server, and keep the encryption key somewhere else.',
    'Replication is not a backup: a dropped table is replicated to the standby database within seconds.',
    'We monitor the backup job and page someone when the nightly dump fails or the bucket is full.',
    'Snapshots of the disk are fast, but a logical dump of the database survives a corrupted filesystem.',
    'Our runbook for a database restore lists every command, so anyone on call can follow it.',
  ],
  bread: [
    'My sourdough starter lives in the fridge and I feed it flour and water the night before baking.',
    'A good loaf of sourdough needs a long cold fermentation of the dough, often overnight.',
    'I mix the flour, water and salt, then fold the dough every half hour during the bulk fermentation.',
    'Bake the bread in a hot cast iron pot so the steam gives the loaf a crisp crust.',
    'Rye flour makes the starter more active because it brings more wild yeast and bacteria.',
    'Shaping the dough builds tension on the surface so the loaf rises up instead of spreading out.',
    'Score the loaf with a razor blade right before it goes into the oven.',
    'Whole wheat flour absorbs more water, so the dough needs a higher hydration.',
    'Let the bread cool completely before cutting, otherwise the crumb turns gummy.',
    'The sourdough starter should double in size a few hours after feeding before you mix the dough.',
  ],
} as const;

const FILLER = ['So yeah, that is how it goes.', 'Right, exactly.', 'I think that is a good point.', 'Anyway, where were we.'];

/** A deterministic pseudo-random sequence (tests must not depend on Math.random). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

/** Segments of ~8 s: `minutes` of each topic in turn; returns the true shift times too. */
export function topicTranscript(parts: { topic: keyof typeof TOPICS; minutes: number }[], seed = 7): { segments: TranscriptSegment[]; shifts: number[] } {
  const rand = lcg(seed);
  const segments: TranscriptSegment[] = [];
  const shifts: number[] = [];
  let t = 0;
  for (const [k, part] of parts.entries()) {
    if (k > 0) shifts.push(t);
    const end = t + part.minutes * 60_000;
    const pool = TOPICS[part.topic];
    while (t < end) {
      const len = 6_000 + Math.floor(rand() * 4_000);
      const text = rand() < 0.15 ? FILLER[Math.floor(rand() * FILLER.length)] : pool[Math.floor(rand() * pool.length)];
      segments.push({ start_ms: t, end_ms: t + len, text });
      t += len;
    }
  }
  return { segments, shifts };
}
