import { decodeHTML } from 'entities';
import sanitizeHtml, { type IOptions } from 'sanitize-html';

/**
 * Show notes (an item's content:encoded or description) as the Episode page shows them. Feeds are
 * third-party HTML: it is cut down here, on the server, to a strict allowlist — the viewer inserts
 * the result as HTML as is (v-html), so nothing that could run, load or restyle anything may pass:
 * no img/script/style/iframe/form, no attributes but an http(s)/mailto href, no CSS.
 */

/** Longer notes are cut (before sanitising) — a few pages of text; some feeds paste whole transcripts. */
const MAX_INPUT_CHARS = 100_000;
/** A channel description is a paragraph or two. */
const MAX_DESCRIPTION_CHARS = 4_000;
/**
 * The parser (htmlparser2) keeps the open elements in an array it unshifts, so n nested tags cost
 * O(n²): 33,000 `<b>` (99 KB) took ~0.9 s of the api's event loop on every read of that episode.
 * Real notes nest a few levels; the input is cut where more are open than this.
 */
const MAX_OPEN_TAGS = 1_000;
/** No end tag, or closed by the next of their kind / their parent's end: they do not pile up. */
const NOT_NESTING = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr', 'p', 'li', 'dt', 'dd', 'option', 'optgroup', 'tr', 'td', 'th', 'thead', 'tbody', 'tfoot', 'rb', 'rt', 'rp', 'rtc']);

/** `html` up to the tag that would open more than MAX_OPEN_TAGS elements at once (counted generously). */
function cutDeepNesting(html: string): string {
  let open = 0;
  for (const m of html.matchAll(/<(\/?)([a-z][^\s/>]*)[^>]*?(\/?)>/gi)) {
    if (m[1]) open = Math.max(0, open - 1);
    else if (!m[3] && !NOT_NESTING.has(m[2].toLowerCase()) && ++open > MAX_OPEN_TAGS) return html.slice(0, m.index);
  }
  return html;
}

/** The feed's text bounded in length and nesting before it reaches the parser. */
const bounded = (raw: string) => cutDeepNesting(raw.length > MAX_INPUT_CHARS ? raw.slice(0, MAX_INPUT_CHARS) : raw);

/** The notes sit under the page's h1 (title) and h2 sections: a heading in them is demoted below those. */
const DEMOTE: Record<string, string> = { h1: 'h3', h2: 'h4', h3: 'h5', h4: 'h6', h5: 'h6', h6: 'h6' };

const LINK_REL = 'noopener nofollow ugc';

const NOTES: IOptions = {
  allowedTags: ['p', 'br', 'a', 'ul', 'ol', 'li', 'strong', 'em', 'b', 'i', 'blockquote', 'code', 'pre', 'h3', 'h4', 'h5', 'h6'],
  // rel and target only as the transform below sets them (it overwrites the feed's).
  allowedAttributes: { a: ['href', 'rel', 'target'] },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesByTag: {},
  allowedSchemesAppliedToAttributes: ['href'],
  allowProtocolRelative: false,
  allowedStyles: {},
  allowVulnerableTags: false,
  disallowedTagsMode: 'discard',
  // Dropped with their contents (the default list plus what has no text worth keeping).
  nonTextTags: ['script', 'style', 'textarea', 'option', 'noscript', 'iframe', 'object', 'embed', 'template', 'svg', 'math', 'head', 'title', 'select'],
  transformTags: {
    ...Object.fromEntries(Object.entries(DEMOTE).map(([from, to]) => [from, to])),
    // A link whose href is not http(s)/mailto (javascript:, data:, relative…) is no link: its text
    // stays, the anchor goes (an unknown tag is unwrapped). The sanitiser checks the scheme again.
    a: (_tag, attribs): { tagName: string; attribs: Record<string, string> } =>
      linkable(attribs.href) ? { tagName: 'a', attribs: { href: attribs.href!, rel: LINK_REL, target: '_blank' } } : { tagName: 'unlinked', attribs: {} },
  },
};

/** An href as a browser reads it (entities decoded, control characters and spaces gone) is http(s) or mailto. */
function linkable(href: string | undefined): boolean {
  if (!href) return false;
  // Browsers drop these inside a scheme (jav&#x09;ascript:).
  const read = decodeHTML(href).replace(/[\u0000-\u0020\u007f-\u009f]/g, '');
  return /^(https?:\/\/[^/]|mailto:)/i.test(read);
}

const TEXT_ONLY: IOptions = { allowedTags: [], allowedAttributes: {}, nonTextTags: NOTES.nonTextTags };

const looksLikeHtml = (s: string) => /<\/?[a-z][\s\S]*?>/i.test(s);

const escapeText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Plain-text notes (no tags at all): paragraphs and line breaks kept, bare http(s) URLs as links. */
function plainTextNotes(text: string): string {
  const paragraphs = text
    .replace(/\r\n?/g, '\n')
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter(Boolean);
  const linked = (p: string) =>
    p
      .split(/(https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]])/g)
      .map((part, i) => (i % 2 ? `<a href="${escapeText(part)}">${escapeText(part)}</a>` : escapeText(part)))
      .join('')
      .replace(/\n/g, '<br>');
  // Through the sanitiser too: the links get their rel/target and a bad URL is dropped.
  return paragraphs.map((p) => `<p>${linked(p)}</p>`).join('');
}

/** Sanitised show notes HTML, or null when there is nothing to show. */
export function sanitizeShowNotes(raw: string | null | undefined): string | null {
  if (!raw || !raw.trim()) return null;
  const input = bounded(raw);
  const html = sanitizeHtml(looksLikeHtml(input) ? input : plainTextNotes(input), NOTES).trim();
  // Notes that were only markup (an image, an embed) leave nothing worth a section.
  return plainText(html) ? html : null;
}

/** Text without any markup (entities decoded, whitespace collapsed), or null when empty. */
export function plainText(raw: string | null | undefined, maxChars = MAX_DESCRIPTION_CHARS): string | null {
  if (!raw) return null;
  const text = decodeHTML(sanitizeHtml(bounded(raw), TEXT_ONLY))
    .replace(/\s+/g, ' ')
    .trim();
  if (!text) return null;
  return text.length > maxChars ? `${text.slice(0, maxChars - 1).trimEnd()}…` : text;
}
