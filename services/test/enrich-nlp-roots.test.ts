import nlp from 'compromise';
import { describe, expect, it } from 'vitest';
import { nounRoots } from '../src/enrich/entities';
import { fixtureSentences } from './support/fixture-transcript';

/**
 * The extractive KG reads noun-phrase roots from the tagged terms instead of compromise's
 * `nouns().json()` (issue 16: json() cost more than the tagging). The roots must be the very
 * text json() gives, or topics and named things change.
 */
const ALL_FEEDS = ['1865.xml', 'changing-the-tide.xml', 'sentimental-garbage.xml', 'launched.xml', 'homegrown-hits.xml', 'no-agenda.xml', 'legacy.xml', 'pc20rss.xml'];

const tricky = [
  "Backblaze B2's pricing beats the big cloud storage vendors.",
  'My two old Synology NAS boxes run ZFS in the basement.',
  "The company's three new data centres opened in Berlin last year.",
  '“Self-hosted backups”, she said — not cloud backups.',
  'We bought 4 cheap 12TB drives for the RAID array.',
  'General Grant met Secretary Seward at the White House on April 14, 1865.',
  'Mike, you lost data last year, didn’t you?',
  'Postgres, Redis and the rest of the stack (all open source) are fine.',
];

const jsonRoots = (text: string) => (nlp(text).nouns().json() as { noun: { root: string } }[]).map((n) => n.noun.root);

describe('noun-phrase roots read from the tagged terms', () => {
  const sentences = [...new Set([...tricky, ...fixtureSentences(ALL_FEEDS)])];

  it('equal nouns().json() roots on every fixture sentence', () => {
    expect(sentences.length).toBeGreaterThan(800);
    const differ: { sentence: string; expected: string[]; got: string[] }[] = [];
    for (const s of sentences) {
      const expected = jsonRoots(s);
      const got = nounRoots(nlp(s).nouns());
      if (JSON.stringify(got) !== JSON.stringify(expected)) differ.push({ sentence: s, expected, got });
    }
    expect(differ).toEqual([]);
  });

  it('reads most phrases straight from the terms, possessives included', () => {
    let phrases = 0;
    let possessive = 0;
    for (const s of sentences) {
      for (const terms of nlp(s).nouns().docs as unknown as { tags: Set<string> }[][]) {
        phrases++;
        if (terms.some((t) => t.tags.has('Noun') && t.tags.has('Possessive'))) possessive++;
      }
    }
    expect(phrases).toBeGreaterThan(1000);
    expect(possessive).toBeGreaterThan(10);
  });

  it("leaves a run compromise would rewrite (an adjective inside a noun run) to compromise's own parser", () => {
    // compromise's tag rules keep Adjective off a Noun; a term carrying both goes through its getRoot(), which drops it.
    const doc = nlp('The cheap drives failed.');
    doc.match('cheap').tag('Noun');
    (doc.match('cheap').docs[0][0] as unknown as { tags: Set<string> }).tags.add('Adjective');
    const expected = (doc.nouns().json() as { noun: { root: string } }[]).map((n) => n.noun.root);
    expect(expected).toEqual(['drives']);
    expect(nounRoots(doc.nouns())).toEqual(expected);
  });

  it('gives the head of a phrase without its determiner, numbers and possessor', () => {
    expect(nounRoots(nlp('We bought 4 cheap 12TB drives for the RAID array.').nouns())).toEqual(jsonRoots('We bought 4 cheap 12TB drives for the RAID array.'));
    expect(nounRoots(nlp("Backblaze B2's pricing beats the big cloud storage vendors.").nouns())).toContain('cloud storage vendors');
  });
});
