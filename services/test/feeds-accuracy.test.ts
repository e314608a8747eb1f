import { describe, expect, it } from 'vitest';
// Shared with bench/feeds-parse/run.mjs so the benchmark scores parsers with the very same comparison.
import { compareWithExpected, DEVIATIONS, listEdgeCases, viewOfParsedFeed } from '../../bench/feeds-parse/compare.mjs';
import { parseFeed } from '../src/feeds/parse';
import { fixture } from './support/fixtures';

interface Outcome {
  fields: number;
  matched: number;
  excused: number;
  mismatches: { where: string; field: string; ours: unknown; expected: unknown }[];
  excuses: { where: string; field: string; rule: string }[];
}

describe('parse accuracy against podcastparser expected output (fixtures/feeds/edge)', () => {
  const cases = listEdgeCases(fixture('feeds', 'edge'));

  it('finds the edge cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(50);
  });

  it('agrees on every field the expected output defines, except the listed semantic deviations', () => {
    let fields = 0;
    let matched = 0;
    let excused = 0;
    const problems: string[] = [];
    const excuseCount = new Map<string, number>();
    for (const c of cases) {
      let outcome: Outcome;
      try {
        const feed = parseFeed(c.xml, { baseUrl: c.baseUrl, ...c.params });
        outcome = compareWithExpected(viewOfParsedFeed(feed), c.expected) as Outcome;
      } catch (e) {
        problems.push(`${c.name}: parse failed: ${(e as Error).message}`);
        continue;
      }
      fields += outcome.fields;
      matched += outcome.matched;
      excused += outcome.excused;
      for (const m of outcome.mismatches) problems.push(`${c.name} ${m.where}.${m.field}: ours ${JSON.stringify(m.ours)} expected ${JSON.stringify(m.expected)}`);
      for (const x of outcome.excuses) excuseCount.set(x.rule, (excuseCount.get(x.rule) ?? 0) + 1);
    }
    const pct = (n: number) => ((100 * n) / fields).toFixed(1);
    console.log(
      `feeds-accuracy: ${cases.length} cases, ${fields} fields defined; matched ${matched} (${pct(matched)}%), ` +
        `listed deviations ${excused} (${pct(matched + excused)}% with them), unexplained ${fields - matched - excused}`,
    );
    for (const d of DEVIATIONS) console.log(`  deviation ${d.id} x${excuseCount.get(d.id) ?? 0}: ${d.reason}`);
    for (const p of problems) console.log(`  MISMATCH ${p}`);
    expect(problems).toEqual([]);
    expect(matched + excused).toBe(fields);
  });
});
