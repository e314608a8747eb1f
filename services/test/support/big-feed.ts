/**
 * Generated RSS feeds for the unbounded-feed tests: `count` items, newest first (item 0 is the
 * newest), each with a guid, a pubDate one hour apart, an enclosure and a short description.
 * `guidSalt` changes every guid while enclosures and dates stay (a publisher re-publishing).
 */
export function bigFeedXml(opts: { count: number; enclosureBase: string; guidSalt?: string; title?: string }): string {
  const start = Date.UTC(2024, 0, 1);
  const parts: string[] = [`<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>${opts.title ?? 'Endless Show'}</title><link>https://example.com/</link><description>many items</description>\n`];
  for (let i = 0; i < opts.count; i++) {
    const n = opts.count - i; // item 0 has the highest number and the latest date
    const date = new Date(start + n * 3_600_000).toUTCString();
    parts.push(
      `<item><guid isPermaLink="false">${opts.guidSalt ?? 'ep'}-${n}</guid><title>Episode ${n}</title><pubDate>${date}</pubDate>` +
        `<description>Episode number ${n} of a show with very many episodes; a sentence or two of notes.</description>` +
        `<enclosure url="${opts.enclosureBase}/ep${n}.mp3" type="audio/mpeg" length="1000"/></item>\n`,
    );
  }
  parts.push('</channel></rss>\n');
  return parts.join('');
}
