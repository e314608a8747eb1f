/**
 * Fills a runbook step's `{label}` placeholders from an alert's labels. Alert labels come from
 * whoever can push to Alertmanager, so a value is only put into a query when it cannot change
 * the query's shape:
 *  - every value must look like a plain name (SAFE_LABEL_VALUE), else the step is refused;
 *  - in PromQL/LogQL, a value inside a string literal is escaped for that literal, and a value
 *    outside any literal (`rate(x[{window}])`) must be a single bare token (no spaces, operators);
 *  - a command shown to a human gets bare tokens only, so a pasted command cannot grow arguments.
 */

export const SAFE_LABEL_VALUE = /^[A-Za-z0-9_.:\-/ ]{1,200}$/;
const BARE_TOKEN = /^[A-Za-z0-9_.:]{1,200}$/;
const COMMAND_TOKEN = /^[A-Za-z0-9_.:\-/]{1,200}$/;
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/y;

/** query: PromQL; logql: LogQL; text: a name looked up elsewhere (health role, admin read); command: shown to a human. */
export type FillSyntax = 'query' | 'logql' | 'text' | 'command';

export type Filled = { ok: true; text: string } | { ok: false; problem: string };

/** Escapes a value for a "…" (or '…') string literal of PromQL/LogQL: backslash, the quote, newlines. */
export function escapeForQuoted(value: string, quote: '"' | "'" = '"'): string {
  let out = '';
  for (const ch of value) {
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else out += ch;
  }
  return out;
}

function refuse(label: string, value: string | undefined, why: string): Filled {
  const shown = value === undefined ? '' : ` (${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)})`;
  return { ok: false, problem: `label ${label}${shown} ${why}; the step was not run` };
}

/**
 * `{name}` placeholders are filled from `labels`. For query/logql the template is scanned for
 * "…", '…' and `…` literals (PromQL and LogQL share these), so each value is escaped for where it lands.
 */
export function fillTemplate(template: string, labels: Readonly<Record<string, string>>, syntax: FillSyntax): Filled {
  const quoted = syntax === 'query' || syntax === 'logql';
  let out = '';
  let literal: '"' | "'" | '`' | null = null;
  for (let i = 0; i < template.length; ) {
    const ch = template[i];
    if (literal && ch === '\\' && literal !== '`') {
      out += template.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (ch === '{') {
      PLACEHOLDER.lastIndex = i;
      const m = PLACEHOLDER.exec(template);
      if (m) {
        const label = m[1];
        const value = Object.prototype.hasOwnProperty.call(labels, label) ? labels[label] : undefined;
        if (value === undefined) return refuse(label, value, 'is not set on the alert');
        if (!SAFE_LABEL_VALUE.test(value)) return refuse(label, value, 'is not a plain name (letters, digits, space and _ . : - / only, at most 200)');
        if (syntax === 'command' && !COMMAND_TOKEN.test(value)) return refuse(label, value, 'would add words to a command');
        if (quoted && literal === '`' && value.includes('`')) return refuse(label, value, 'would end a raw string');
        if (quoted && literal === null && !BARE_TOKEN.test(value)) return refuse(label, value, 'stands outside a string literal and is not a single bare token');
        out += quoted && (literal === '"' || literal === "'") ? escapeForQuoted(value, literal) : value;
        i += m[0].length;
        continue;
      }
    }
    if (quoted && (ch === '"' || ch === "'" || ch === '`')) {
      if (literal === null) literal = ch;
      else if (literal === ch) literal = null;
    }
    out += ch;
    i++;
  }
  return { ok: true, text: out };
}
