/**
 * Lossless JSON reading for test vectors: `JSON.parse` rounds integers above 2^53
 * (18446744073709551615 becomes 18446744073709552000), and Node 20's reviver has no access to
 * the source text. So: rewrite every bare numeric token outside strings as a tagged string,
 * parse, then turn tagged integers into `bigint` (non-integers back into numbers).
 */
const TAG = '\u0000num:';

export type LosslessJson =
  | null
  | boolean
  | string
  | bigint
  | number
  | LosslessJson[]
  | { [k: string]: LosslessJson };

export function quoteNumbers(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '"') {
      // copy the whole string literal, honouring escapes
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) throw new SyntaxError('unterminated string in JSON');
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (ch === '-' || (ch >= '0' && ch <= '9')) {
      const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
      if (m === null) throw new SyntaxError(`bad number at ${i}`);
      out += JSON.stringify(TAG + m[0]);
      i += m[0].length;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

function revive(value: unknown): LosslessJson {
  if (typeof value === 'string') {
    if (!value.startsWith(TAG)) return value;
    const lit = value.slice(TAG.length);
    return /^-?\d+$/.test(lit) ? BigInt(lit) : Number(lit);
  }
  if (Array.isArray(value)) return value.map(revive);
  if (value !== null && typeof value === 'object') {
    const out: { [k: string]: LosslessJson } = {};
    for (const [k, v] of Object.entries(value)) out[k] = revive(v);
    return out;
  }
  if (typeof value === 'boolean' || value === null) return value;
  throw new TypeError(`unexpected JSON value ${String(value)}`);
}

/** Parses JSON; every integer becomes a `bigint`, exactly. */
export function parseLosslessJson(text: string): LosslessJson {
  return revive(JSON.parse(quoteNumbers(text)));
}
