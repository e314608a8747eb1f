import { readFileSync } from 'node:fs';
import { PodbrainError, errorMessage } from '../../core/errors';

/** One text as model input: [CLS] pieces [SEP], cut to the model's length. */
export interface Encoding {
  ids: number[];
  /** The pieces, for tests and debugging. */
  tokens: string[];
}

interface TokenizerJson {
  normalizer?: { type?: string; lowercase?: boolean; strip_accents?: boolean | null; clean_text?: boolean; handle_chinese_chars?: boolean } | null;
  pre_tokenizer?: { type?: string } | null;
  model?: { type?: string; vocab?: Record<string, number>; unk_token?: string; continuing_subword_prefix?: string; max_input_chars_per_word?: number };
}

const isWhitespace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || /\s/u.test(c);
const isControl = (c: string) => c !== '\t' && c !== '\n' && c !== '\r' && /[\p{Cc}\p{Cf}]/u.test(c);
const isPunctuation = (c: string) => {
  const cp = c.codePointAt(0) ?? 0;
  // BERT counts every non-alphanumeric ASCII character as punctuation, plus Unicode's P* classes.
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126) || /\p{P}/u.test(c);
};
const isCjk = (cp: number) =>
  (cp >= 0x4e00 && cp <= 0x9fff) ||
  (cp >= 0x3400 && cp <= 0x4dbf) ||
  (cp >= 0x20000 && cp <= 0x2a6df) ||
  (cp >= 0x2a700 && cp <= 0x2b73f) ||
  (cp >= 0x2b740 && cp <= 0x2b81f) ||
  (cp >= 0x2b820 && cp <= 0x2ceaf) ||
  (cp >= 0xf900 && cp <= 0xfaff) ||
  (cp >= 0x2f800 && cp <= 0x2fa1f);

/**
 * The BERT WordPiece tokenizer of a Hugging Face `tokenizer.json` (BertNormalizer +
 * BertPreTokenizer + WordPiece + the [CLS] … [SEP] template), as all-MiniLM-L6-v2 and
 * bge-small ship it: clean the text, split CJK characters, lower-case and strip accents,
 * split on whitespace and punctuation, then greedy longest-match-first word pieces
 * (a word that cannot be spelled from the vocabulary is one [UNK]).
 */
export class WordPieceTokenizer {
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;
  private readonly unkId: number;
  private readonly prefix: string;
  private readonly maxWordChars: number;
  private readonly lowercase: boolean;
  private readonly stripAccents: boolean;

  constructor(
    private readonly vocab: ReadonlyMap<string, number>,
    opts: { unkToken?: string; prefix?: string; maxWordChars?: number; lowercase?: boolean; stripAccents?: boolean | null } = {},
  ) {
    const id = (t: string) => {
      const v = vocab.get(t);
      if (v === undefined) throw new PodbrainError('embeddings_bad_tokenizer', `the tokenizer's vocabulary has no ${t}`);
      return v;
    };
    this.unkId = id(opts.unkToken ?? '[UNK]');
    this.clsId = id('[CLS]');
    this.sepId = id('[SEP]');
    this.padId = vocab.get('[PAD]') ?? 0;
    this.prefix = opts.prefix ?? '##';
    this.maxWordChars = opts.maxWordChars ?? 100;
    this.lowercase = opts.lowercase ?? true;
    this.stripAccents = opts.stripAccents ?? this.lowercase;
  }

  static fromFile(file: string): WordPieceTokenizer {
    let json: TokenizerJson;
    try {
      json = JSON.parse(readFileSync(file, 'utf8')) as TokenizerJson;
    } catch (e) {
      throw new PodbrainError('embeddings_bad_tokenizer', `${file} is not a tokenizer.json: ${errorMessage(e)}`);
    }
    const m = json.model;
    if (m?.type !== 'WordPiece' || !m.vocab || typeof m.vocab !== 'object') {
      throw new PodbrainError('embeddings_bad_tokenizer', `${file}: only WordPiece tokenizers (BERT family) are supported, this one is ${m?.type ?? 'unknown'}`);
    }
    const n = json.normalizer;
    if (n && n.type !== 'BertNormalizer') throw new PodbrainError('embeddings_bad_tokenizer', `${file}: normalizer ${n.type} is not supported (BertNormalizer only)`);
    return new WordPieceTokenizer(new Map(Object.entries(m.vocab)), {
      unkToken: m.unk_token,
      prefix: m.continuing_subword_prefix,
      maxWordChars: m.max_input_chars_per_word,
      lowercase: n?.lowercase ?? true,
      stripAccents: n?.strip_accents,
    });
  }

  /** BertNormalizer then BertPreTokenizer: the words and punctuation marks of `text`. */
  words(text: string): string[] {
    let clean = '';
    for (const c of text) {
      const cp = c.codePointAt(0) ?? 0;
      if (cp === 0 || cp === 0xfffd || isControl(c)) continue;
      if (isWhitespace(c)) clean += ' ';
      else if (isCjk(cp)) clean += ` ${c} `;
      else clean += c;
    }
    if (this.lowercase) clean = clean.toLowerCase();
    if (this.stripAccents) clean = clean.normalize('NFD').replace(/\p{Mn}/gu, '');
    const out: string[] = [];
    for (const word of clean.split(' ')) {
      let cur = '';
      for (const c of word) {
        if (isPunctuation(c)) {
          if (cur) out.push(cur);
          out.push(c);
          cur = '';
        } else cur += c;
      }
      if (cur) out.push(cur);
    }
    return out;
  }

  /** Greedy longest-match-first pieces of one word. */
  private pieces(word: string, ids: number[], tokens: string[]): void {
    const chars = [...word];
    if (chars.length > this.maxWordChars) {
      ids.push(this.unkId);
      tokens.push('[UNK]');
      return;
    }
    const wordIds: number[] = [];
    const wordTokens: string[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found: number | undefined;
      let piece = '';
      while (start < end) {
        piece = (start > 0 ? this.prefix : '') + chars.slice(start, end).join('');
        found = this.vocab.get(piece);
        if (found !== undefined) break;
        end--;
      }
      if (found === undefined) {
        ids.push(this.unkId);
        tokens.push('[UNK]');
        return;
      }
      wordIds.push(found);
      wordTokens.push(piece);
      start = end;
    }
    ids.push(...wordIds);
    tokens.push(...wordTokens);
  }

  /** [CLS] pieces [SEP], at most `maxTokens` ids (the pieces are cut, the markers kept). */
  encode(text: string, maxTokens = 512): Encoding {
    const ids: number[] = [this.clsId];
    const tokens: string[] = ['[CLS]'];
    for (const w of this.words(text)) {
      this.pieces(w, ids, tokens);
      if (ids.length >= maxTokens - 1) break;
    }
    ids.length = Math.min(ids.length, maxTokens - 1);
    tokens.length = ids.length;
    ids.push(this.sepId);
    tokens.push('[SEP]');
    return { ids, tokens };
  }
}
