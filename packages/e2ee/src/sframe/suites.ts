/**
 * SFrame cipher suites (RFC 9605 §4.5, IANA "SFrame Cipher Suites") and their AEADs on
 * WebCrypto.
 *
 * - GCM suites (0x0004 required by Sotto, 0x0005): AES-GCM with a full 16-byte tag.
 * - AES-CTR + HMAC suites (0x0001-0x0003, RFC 9605 §4.5.1): encrypt-then-MAC with a truncated
 *   HMAC tag over len(aad)||len(ct)||Nt||nonce||aad||ct; the AEAD key is enc_key || auth_key.
 * - 0x0006-0x0008: the same construction with AES-256 and HMAC-SHA-512, from
 *   draft-barnes-sframe-iana-256 (not in RFC 9605; implemented because the vendored vectors
 *   cover it and it costs a table row).
 */
import { bufferSource, bytesEqualConstantTime, concatBytes, encodeBigEndian } from './bytes.ts';
import { SFrameError } from './errors.ts';

export const CipherSuiteId = {
  AES_128_CTR_HMAC_SHA256_80: 0x0001,
  AES_128_CTR_HMAC_SHA256_64: 0x0002,
  AES_128_CTR_HMAC_SHA256_32: 0x0003,
  AES_128_GCM_SHA256_128: 0x0004,
  AES_256_GCM_SHA512_128: 0x0005,
  AES_256_CTR_HMAC_SHA512_80: 0x0006,
  AES_256_CTR_HMAC_SHA512_64: 0x0007,
  AES_256_CTR_HMAC_SHA512_32: 0x0008,
} as const;
export type CipherSuiteId = (typeof CipherSuiteId)[keyof typeof CipherSuiteId];

/** Sotto's default suite for audio frames. */
export const DEFAULT_CIPHER_SUITE: CipherSuiteId = CipherSuiteId.AES_128_GCM_SHA256_128;

export interface CipherSuite {
  readonly id: CipherSuiteId;
  readonly name: string;
  readonly kind: 'gcm' | 'ctr-hmac';
  /** Hash for HKDF (and HMAC in CTR suites). */
  readonly hash: 'SHA-256' | 'SHA-512';
  /** Hash output size in bytes. */
  readonly nh: number;
  /** AEAD key size in bytes (for CTR suites: nka + nh). */
  readonly nk: number;
  /** AES key size inside a CTR+HMAC AEAD key (0 for GCM). */
  readonly nka: number;
  /** Nonce size in bytes. */
  readonly nn: number;
  /** Tag size (AEAD overhead) in bytes. */
  readonly nt: number;
}

function suite(
  id: CipherSuiteId,
  name: string,
  kind: CipherSuite['kind'],
  hash: CipherSuite['hash'],
  nka: number,
  nk: number,
  nt: number,
): CipherSuite {
  return Object.freeze({ id, name, kind, hash, nh: hash === 'SHA-256' ? 32 : 64, nk, nka, nn: 12, nt });
}

const SUITES: ReadonlyMap<number, CipherSuite> = new Map(
  [
    suite(0x0001, 'AES_128_CTR_HMAC_SHA256_80', 'ctr-hmac', 'SHA-256', 16, 48, 10),
    suite(0x0002, 'AES_128_CTR_HMAC_SHA256_64', 'ctr-hmac', 'SHA-256', 16, 48, 8),
    suite(0x0003, 'AES_128_CTR_HMAC_SHA256_32', 'ctr-hmac', 'SHA-256', 16, 48, 4),
    suite(0x0004, 'AES_128_GCM_SHA256_128', 'gcm', 'SHA-256', 0, 16, 16),
    suite(0x0005, 'AES_256_GCM_SHA512_128', 'gcm', 'SHA-512', 0, 32, 16),
    suite(0x0006, 'AES_256_CTR_HMAC_SHA512_80', 'ctr-hmac', 'SHA-512', 32, 96, 10),
    suite(0x0007, 'AES_256_CTR_HMAC_SHA512_64', 'ctr-hmac', 'SHA-512', 32, 96, 8),
    suite(0x0008, 'AES_256_CTR_HMAC_SHA512_32', 'ctr-hmac', 'SHA-512', 32, 96, 4),
  ].map((s) => [s.id, s]),
);

export function getCipherSuite(id: number): CipherSuite {
  const s = SUITES.get(id);
  if (s === undefined) throw new SFrameError('unsupported_suite', `cipher suite 0x${id.toString(16)}`);
  return s;
}

export function supportedCipherSuites(): CipherSuite[] {
  return [...SUITES.values()];
}

/** An AEAD instance bound to one imported (non-extractable) key. */
export interface SFrameAead {
  readonly suite: CipherSuite;
  /** Returns ciphertext || tag. */
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array>;
  /** Verifies and returns the plaintext; throws SFrameError('auth_failed' | 'truncated'). */
  open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array>;
}

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (s === undefined) throw new SFrameError('unsupported_suite', 'WebCrypto (crypto.subtle) is unavailable');
  return s;
}

class GcmAead implements SFrameAead {
  constructor(
    readonly suite: CipherSuite,
    private readonly key: CryptoKey,
  ) {}

  async seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
    const ct = await subtle().encrypt(
      { name: 'AES-GCM', iv: bufferSource(nonce), additionalData: bufferSource(aad), tagLength: 128 },
      this.key,
      bufferSource(plaintext),
    );
    return new Uint8Array(ct);
  }

  async open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array> {
    if (ciphertext.length < this.suite.nt) throw new SFrameError('truncated', 'shorter than the tag');
    let pt: ArrayBuffer;
    try {
      pt = await subtle().decrypt(
        { name: 'AES-GCM', iv: bufferSource(nonce), additionalData: bufferSource(aad), tagLength: 128 },
        this.key,
        bufferSource(ciphertext),
      );
    } catch {
      throw new SFrameError('auth_failed');
    }
    return new Uint8Array(pt);
  }
}

class CtrHmacAead implements SFrameAead {
  constructor(
    readonly suite: CipherSuite,
    private readonly encKey: CryptoKey,
    private readonly authKey: CryptoKey,
  ) {}

  private async tag(nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Promise<Uint8Array> {
    const authData = concatBytes(
      encodeBigEndian(BigInt(aad.length), 8),
      encodeBigEndian(BigInt(ct.length), 8),
      encodeBigEndian(BigInt(this.suite.nt), 8),
      nonce,
      aad,
      ct,
    );
    const mac = await subtle().sign('HMAC', this.authKey, authData);
    return new Uint8Array(mac, 0, this.suite.nt);
  }

  private async ctr(nonce: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
    // initial counter block = nonce || 0x00000000; the low 32 bits are the block counter.
    const counter = concatBytes(nonce, new Uint8Array(4));
    const out = await subtle().encrypt(
      { name: 'AES-CTR', counter, length: 32 },
      this.encKey,
      bufferSource(data),
    );
    return new Uint8Array(out);
  }

  async seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
    const ct = await this.ctr(nonce, plaintext);
    const tag = await this.tag(nonce, aad, ct);
    return concatBytes(ct, tag);
  }

  async open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array> {
    const nt = this.suite.nt;
    if (ciphertext.length < nt) throw new SFrameError('truncated', 'shorter than the tag');
    const inner = ciphertext.subarray(0, ciphertext.length - nt);
    const tag = ciphertext.subarray(ciphertext.length - nt);
    const expected = await this.tag(nonce, aad, inner);
    if (!bytesEqualConstantTime(tag, expected)) throw new SFrameError('auth_failed');
    return this.ctr(nonce, inner);
  }
}

/** Imports an AEAD key (`sframe_key`) for the suite as non-extractable WebCrypto keys. */
export async function importAeadKey(s: CipherSuite, key: Uint8Array): Promise<SFrameAead> {
  if (key.length !== s.nk) {
    throw new SFrameError('invalid_argument', `${s.name} key must be ${s.nk} bytes, got ${key.length}`);
  }
  if (s.kind === 'gcm') {
    const k = await subtle().importKey('raw', bufferSource(key), { name: 'AES-GCM' }, false, [
      'encrypt',
      'decrypt',
    ]);
    return new GcmAead(s, k);
  }
  const encKey = await subtle().importKey(
    'raw',
    bufferSource(key.slice(0, s.nka)),
    { name: 'AES-CTR' },
    false,
    ['encrypt', 'decrypt'],
  );
  const authKey = await subtle().importKey(
    'raw',
    bufferSource(key.slice(s.nka)),
    { name: 'HMAC', hash: s.hash },
    false,
    ['sign'],
  );
  return new CtrHmacAead(s, encKey, authKey);
}
