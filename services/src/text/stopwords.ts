/**
 * The stopword lists: one base list of English function words and spoken filler, plus an
 * extra set per job. The two jobs keep the lists they had before the text module was one:
 *
 * - search (BM25 terms, snippets, hash embeddings): the base list plus the spoken
 *   contractions its tokeniser keeps whole ("i'm", "don't"). Small on purpose: a query is
 *   short, and every dropped word is one fewer way to match.
 * - enrichment (keywords, topics, entity candidates): the base list plus a long list of
 *   common verbs, quantifiers and podcast filler ("basically", "people", "today") that
 *   would otherwise rank as keywords. Its tokeniser never keeps an apostrophe word.
 */

/** In both lists. */
const BASE = (
  'a an and are as at be been but by can could did do does for from had has have he her his how i if in into is it its ' +
  'just me my no not of on or our she so than that the their them then there these they this to too up us was we were ' +
  'what when where which who why will with would you your yeah okay oh um uh like know really'
).split(' ');

/** Search only: contractions, as `wordSpans` yields them (’ folded to '). */
const SEARCH_EXTRA = ["i'm", "it's", "don't", "that's"];

/** Enrichment only. */
const ENRICH_EXTRA = (
  'about above after again against all almost also am any aren because before being below between both cannot couldn didn ' +
  'doesn doing don down during each either else even ever every few further get gets getting go goes going gone got gotta ' +
  'hadn hasn haven having here hers herself him himself however isn itself lot lots maybe might more most much must myself ' +
  'need nor now off ok once one only other ought ours ourselves out over own right said same say says see should some ' +
  'something such thats theirs themselves thing things think those though through under until upon very wasn well weren ' +
  'whatever whether while whom whose within without won wouldn yes yet yours yourself yourselves actually basically kind ' +
  'sort mean means want wanted let lets make made many may back still way ways today time times year years day days people ' +
  'person guy guys hmm mm gonna wanna two three first second new good great big little sure anything everything nothing ' +
  'someone everyone come came take took'
).split(' ');

/** Words search leaves out of BM25 terms, snippet marks and hash embeddings. */
export const SEARCH_STOPWORDS: ReadonlySet<string> = new Set([...BASE, ...SEARCH_EXTRA]);

/** Words enrichment never takes for a keyword, topic or (the start of) an entity. */
export const ENRICH_STOPWORDS: ReadonlySet<string> = new Set([...BASE, ...ENRICH_EXTRA]);
