import type { Client } from 'pg';

/**
 * A small corpus for the digest tests, written straight into the projection tables: three shows,
 * two stories that cross shows (spot bitcoin ETFs: Money Talk + Tech Weekly; sourdough starters:
 * Garden Hour + Money Talk), an unrelated episode, a pending one, a skipped one, and earlier
 * weeks in which "Interest rates" came up once a week (so this week's three make it rising).
 */

export const DAY = 86_400_000;

export const FEEDS = [
  { id: 'feed-money', title: 'Money Talk' },
  { id: 'feed-tech', title: 'Tech Weekly' },
  { id: 'feed-garden', title: 'Garden Hour' },
];

export interface SeedInsight {
  text: string;
  confidence: number;
  quotes: { text: string; start_ms: number }[];
}

export interface SeedEpisode {
  key: string;
  feed: string;
  title: string;
  daysAgo: number;
  state?: string;
  summary?: string;
  insights?: SeedInsight[];
  entities?: { id: string; kind: 'Topic' | 'Person' | 'Organization'; label: string; weight?: number }[];
  chunks?: string[];
}

export const BITCOIN_QUOTE_MONEY = 'The day the SEC approved the spot bitcoin ETF, institutional money started buying bitcoin through their brokers.';
export const BITCOIN_QUOTE_TECH = 'With a spot bitcoin ETF approved by the SEC, institutions can hold bitcoin without touching a wallet.';
export const SOURDOUGH_QUOTE_GARDEN = 'Feed your sourdough starter flour and water every day and it stays active for years.';
export const SOURDOUGH_QUOTE_MONEY = 'Our bakery lives on one sourdough starter, and we feed that starter flour and water every single day.';

const bitcoin = { id: 'topic:bitcoin', kind: 'Topic' as const, label: 'Bitcoin', weight: 5 };
const sec = { id: 'org:sec', kind: 'Organization' as const, label: 'SEC', weight: 2 };
const rates = { id: 'topic:interest-rates', kind: 'Topic' as const, label: 'Interest rates', weight: 1 };
const sourdough = { id: 'topic:sourdough', kind: 'Topic' as const, label: 'Sourdough', weight: 4 };

export function digestEpisodes(): SeedEpisode[] {
  return [
    {
      key: 'feed-money:etf',
      feed: 'feed-money',
      title: 'The ETF that changed bitcoin',
      daysAgo: 2,
      summary: 'Spot bitcoin ETFs and institutional money',
      insights: [
        { text: 'The SEC approval of the spot bitcoin ETF brought institutional money into bitcoin.', confidence: 0.9, quotes: [{ text: BITCOIN_QUOTE_MONEY, start_ms: 754_000 }] },
        { text: 'Our sponsor this week sells mattresses with a hundred night trial.', confidence: 0.3, quotes: [{ text: 'This episode is brought to you by a mattress you can try for a hundred nights.', start_ms: 30_000 }] },
      ],
      entities: [bitcoin, sec, rates],
      chunks: ['Welcome to Money Talk. Today the spot bitcoin ETF, the SEC and what institutional money does with bitcoin now that brokers sell it.'],
    },
    {
      key: 'feed-tech:etf',
      feed: 'feed-tech',
      title: 'Wall Street buys bitcoin',
      daysAgo: 3,
      summary: 'How a spot bitcoin ETF works under the hood',
      insights: [
        { text: 'A spot bitcoin ETF approved by the SEC lets institutional money hold bitcoin without a wallet.', confidence: 0.85, quotes: [{ text: BITCOIN_QUOTE_TECH, start_ms: 1_203_500 }] },
        { text: 'Three laptops under a thousand dollars are reviewed next week.', confidence: 0.4, quotes: [{ text: 'Next week we put three laptops under a thousand dollars on the bench.', start_ms: 3_000_000 }] },
      ],
      entities: [bitcoin, sec, rates],
      chunks: ['On Tech Weekly we open up the plumbing of a spot bitcoin ETF: custody, the SEC rules and why institutions like it.'],
    },
    {
      key: 'feed-garden:sourdough',
      feed: 'feed-garden',
      title: 'Starters, not seeds',
      daysAgo: 1,
      summary: 'Keeping a sourdough starter alive',
      insights: [{ text: 'A sourdough starter stays active when you feed it flour and water every day.', confidence: 0.8, quotes: [{ text: SOURDOUGH_QUOTE_GARDEN, start_ms: 95_000 }] }],
      entities: [sourdough],
      chunks: ['This week in the Garden Hour kitchen corner: the sourdough starter, flour, water and patience.'],
    },
    {
      key: 'feed-money:bakery',
      feed: 'feed-money',
      title: 'Running a bakery on one starter',
      daysAgo: 4,
      summary: 'The economics of a small sourdough bakery',
      insights: [{ text: 'A sourdough bakery depends on one starter that it feeds flour and water every day.', confidence: 0.75, quotes: [{ text: SOURDOUGH_QUOTE_MONEY, start_ms: 420_000 }] }],
      entities: [sourdough, rates],
      chunks: ['Money Talk visits a sourdough bakery: rent, interest rates on the oven loan, and one starter fed flour and water daily.'],
    },
    {
      key: 'feed-garden:roses',
      feed: 'feed-garden',
      title: 'Pruning roses in winter',
      daysAgo: 5,
      summary: 'Cut roses back hard in late winter',
      insights: [{ text: 'Prune roses hard in late winter just above an outward facing bud.', confidence: 0.7, quotes: [{ text: 'Cut just above an outward facing bud, and cut harder than feels right.', start_ms: 600_000 }] }],
      entities: [{ id: 'topic:roses', kind: 'Topic', label: 'Roses' }],
      chunks: ['Roses in winter: secateurs, an outward facing bud, and courage.'],
    },
    { key: 'feed-tech:pending', feed: 'feed-tech', title: 'Not transcribed yet', daysAgo: 1, state: 'pending' },
    { key: 'feed-tech:skipped', feed: 'feed-tech', title: 'Left out by the policy', daysAgo: 1, state: 'skipped' },
    // Earlier weeks: interest rates once a week, nothing about bitcoin or sourdough.
    ...[1, 2, 3, 4].map((w) => ({ key: `feed-money:rates-${w}`, feed: 'feed-money', title: `Rates week ${w}`, daysAgo: 7 * w + 2, summary: `Interest rates, week ${w}`, entities: [rates] })),
  ];
}

/** Writes the feeds (subscribed by `tenant`) and the episodes with their projections; `now` anchors the days. */
export async function seedDigestCorpus(pg: Client, now: Date, episodes: SeedEpisode[] = digestEpisodes(), tenant = 'default'): Promise<void> {
  for (const f of FEEDS) {
    await pg.query(`INSERT INTO feeds (id, url, title) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [f.id, `https://example.com/${f.id}.xml`, f.title]);
    await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [tenant, f.id]);
  }
  for (const e of episodes) {
    const published = new Date(now.getTime() - e.daysAgo * DAY);
    await pg.query(
      `INSERT INTO episodes (episode_key, feed_id, title, published_at, enclosure, transcripts, source, state)
       VALUES ($1, $2, $3, $4, NULL, '[]', '{}', $5::episode_state)`,
      [e.key, e.feed, e.title, published, e.state ?? 'done'],
    );
    if ((e.state ?? 'done') !== 'done') continue;
    await pg.query(`INSERT INTO summaries (episode_key, fingerprint, title, bullets, key_quotes, status) VALUES ($1, 'fp', $2, '[]', '[]', 'valid')`, [e.key, e.summary ?? null]);
    let qn = 0;
    for (const [i, ins] of (e.insights ?? []).entries()) {
      const insightId = `insight:${i}`;
      await pg.query(`INSERT INTO insights (id, episode_key, fingerprint, text, insight_type, confidence) VALUES ($1, $2, 'fp', $3, 'claim', $4)`, [insightId, e.key, ins.text, ins.confidence]);
      for (const q of ins.quotes) {
        const quoteId = `quote:${qn++}`;
        await pg.query(`INSERT INTO quotes (id, episode_key, fingerprint, text, start_ms, end_ms) VALUES ($1, $2, 'fp', $3, $4, $5)`, [quoteId, e.key, q.text, q.start_ms, q.start_ms + 8000]);
        await pg.query(`INSERT INTO insight_support (episode_key, insight_id, quote_id) VALUES ($1, $2, $3)`, [e.key, insightId, quoteId]);
      }
    }
    await pg.query(`INSERT INTO kg_nodes (id, kind, label, props) VALUES ($1, 'Episode', $2, $3) ON CONFLICT DO NOTHING`, [`episode:${e.key}`, e.title, JSON.stringify({ episode_key: e.key })]);
    for (const ent of e.entities ?? []) {
      await pg.query(`INSERT INTO kg_nodes (id, kind, label) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [ent.id, ent.kind, ent.label]);
      await pg.query(`INSERT INTO kg_edges (episode_key, fingerprint, source_id, target_id, kind, props) VALUES ($1, 'fp', $2, $3, 'MENTIONS', $4)`, [e.key, `episode:${e.key}`, ent.id, JSON.stringify({ weight: ent.weight ?? 1 })]);
    }
    for (const [i, text] of (e.chunks ?? []).entries()) {
      await pg.query(`INSERT INTO chunks (episode_key, fingerprint, idx, text, start_ms, end_ms) VALUES ($1, 'fp', $2, $3, $4, $5)`, [e.key, i, text, i * 60_000, (i + 1) * 60_000]);
    }
  }
}
