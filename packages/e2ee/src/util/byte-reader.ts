/**
 * Strict reading of our length-prefixed encodings (device refs, MLS leaf credentials): every
 * failure is the caller's typed decode error, built by `fail` from a short detail.
 */
const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

export class ByteReader {
  #offset = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly fail: (detail: string) => Error,
  ) {}

  take(n: number): Uint8Array {
    if (this.#offset + n > this.bytes.length) throw this.fail('truncated');
    const out = this.bytes.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    return out;
  }

  /** A u16 length, then that many bytes. */
  prefixed(): Uint8Array {
    const len = this.take(2);
    return this.take(((len[0] ?? 0) << 8) | (len[1] ?? 0));
  }

  /** A length-prefixed UTF-8 text of 1 … maxBytes bytes. */
  text(name: string, maxBytes: number): string {
    const bytes = this.prefixed();
    if (bytes.length === 0 || bytes.length > maxBytes) throw this.fail(`${name} length`);
    try {
      return fatalUtf8.decode(bytes);
    } catch {
      throw this.fail(`${name} is not UTF-8`);
    }
  }

  expect(prefix: Uint8Array, what = 'wrong label'): void {
    const got = this.take(prefix.length);
    for (let i = 0; i < prefix.length; i++) if (got[i] !== prefix[i]) throw this.fail(what);
  }

  get rest(): number {
    return this.bytes.length - this.#offset;
  }

  end(): void {
    if (this.rest !== 0) throw this.fail('trailing bytes');
  }
}
