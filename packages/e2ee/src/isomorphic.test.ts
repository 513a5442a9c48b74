/** Guard: src/ (tests aside) must stay isomorphic — WebCrypto only, no Node or DOM APIs. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return sources(p);
    return d.name.endsWith('.ts') && !d.name.endsWith('.test.ts') ? [p] : [];
  });
}

const FORBIDDEN: Array<[RegExp, string]> = [
  [/from ['"]node:/, 'node: import'],
  [/require\(/, 'require()'],
  [/\bBuffer\b/, 'Buffer'],
  [/\bprocess\./, 'process'],
  [/(?<![.\w])(document|window|navigator|self)\./, 'DOM global'],
  [/from ['"](crypto|fs|path|os)['"]/, 'Node builtin import'],
];

test('src/ uses no Node-only or DOM APIs', () => {
  const files = sources(root);
  assert.ok(files.length >= 8, `found ${files.length} source files`);
  for (const f of files) {
    // code only: comments may mention anything
    const text = readFileSync(f, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/(^|[^:])\/\/.*$/gm, '$1');
    for (const [re, what] of FORBIDDEN) assert.doesNotMatch(text, re, `${what} in ${f}`);
  }
});
