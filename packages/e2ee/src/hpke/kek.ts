/**
 * Listener key-encryption keys (KEKs): how one stage member re-keys thousands of listeners
 * within a rotation without one HPKE seal per listener per rotation.
 *
 * - Once per (wrapper, listener) — when the listener joins or the wrapper takes the stage —
 *   the wrapper makes a fresh random 16-byte KEK and HPKE-wraps it to the listener
 *   (`createListenerKek`, purpose 'listener-kek'): one X25519 seal per listener, amortized.
 * - Every rotation (join ratchet, leave, kick, 5-minute refresh) the new SFrame base key is
 *   wrapped to each remaining listener with that listener's KEK (`kekWrap`): one AES-128-GCM
 *   encryption per listener, nonce random (96 bits; well below 2^32 wraps per KEK), AAD =
 *   "sotto/e2ee/v1/kek-wrap" || 0x00 || context. Output: nonce(12) || ct || tag(16).
 * - A removed listener is simply skipped: it never receives the new key, and its KEK is
 *   useless against wraps for others.
 *
 * A KEK is forward-secure only as far as it is retired: replace it (a fresh HPKE seal) when the
 * listener's identity key changes, and at least as often as the application's policy asks.
 */
import { bufferSource, concatBytes, utf8 } from '../sframe/bytes.ts';
import { KeyWrapError, unwrapKey, type WrapKeyPair, wrapKey } from './wrap.ts';

export const KEK_BYTES = 16;
export const KEK_NONCE_BYTES = 12;
export const KEK_TAG_BYTES = 16;
export const KEK_WRAP_LABEL = 'sotto/e2ee/v1/kek-wrap';

export interface ListenerKek {
  /** Non-extractable AES-GCM key for `kekWrap`/`kekUnwrap`. */
  readonly key: CryptoKey;
  /** HPKE wrap of the KEK to the listener (send this once). Empty on the listener side. */
  readonly wrapped: Uint8Array;
}

async function importKek(raw: Uint8Array): Promise<CryptoKey> {
  return globalThis.crypto.subtle.importKey('raw', bufferSource(raw), { name: 'AES-GCM' }, false, [
    'encrypt',
    'decrypt',
  ]);
}

/** Wrapper side: fresh KEK + its HPKE wrap to the listener for `context`. */
export async function createListenerKek(
  listenerPublicKey: CryptoKey | Uint8Array,
  context: Uint8Array | string,
): Promise<ListenerKek> {
  const raw = globalThis.crypto.getRandomValues(new Uint8Array(KEK_BYTES));
  try {
    const [key, wrapped] = await Promise.all([importKek(raw), wrapKey(listenerPublicKey, raw, context)]);
    return { key, wrapped };
  } finally {
    raw.fill(0);
  }
}

/** Listener side: opens the KEK wrap made by `createListenerKek`. */
export async function openListenerKek(
  listenerPrivateKey: CryptoKey | WrapKeyPair,
  wrapped: Uint8Array,
  context: Uint8Array | string,
): Promise<ListenerKek> {
  const raw = await unwrapKey(listenerPrivateKey, wrapped, context);
  try {
    if (raw.length !== KEK_BYTES) throw new KeyWrapError('unwrap_failed', 'KEK has the wrong length');
    return { key: await importKek(raw), wrapped: new Uint8Array(0) };
  } finally {
    raw.fill(0);
  }
}

function kekAad(context: Uint8Array | string): Uint8Array<ArrayBuffer> {
  return concatBytes(
    utf8(KEK_WRAP_LABEL),
    new Uint8Array([0]),
    typeof context === 'string' ? utf8(context) : context,
  );
}

async function sealUnderKek(
  kek: CryptoKey,
  keyMaterial: Uint8Array<ArrayBuffer>,
  aad: Uint8Array<ArrayBuffer>,
) {
  const nonce = globalThis.crypto.getRandomValues(new Uint8Array(KEK_NONCE_BYTES));
  const ct = await globalThis.crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: nonce, additionalData: aad },
    kek,
    keyMaterial,
  );
  return concatBytes(nonce, new Uint8Array(ct));
}

/** Wraps key material under a listener KEK: nonce || AES-GCM(ct || tag). */
export async function kekWrap(
  kek: CryptoKey,
  keyMaterial: Uint8Array,
  context: Uint8Array | string,
): Promise<Uint8Array> {
  if (keyMaterial.length === 0) throw new KeyWrapError('bad_input', 'nothing to wrap');
  return sealUnderKek(kek, bufferSource(keyMaterial), kekAad(context));
}

/**
 * One rotation's fan-out: wraps the same key material under every KEK (result i for kek i),
 * with the AAD built once and `concurrency` wraps in flight (16 measured ~1.5x cheaper in CPU
 * than one at a time on Node 20: fewer event-loop round trips per WebCrypto job).
 */
export async function kekWrapMany(
  keks: readonly CryptoKey[],
  keyMaterial: Uint8Array,
  context: Uint8Array | string,
  concurrency = 16,
): Promise<Uint8Array[]> {
  if (keyMaterial.length === 0) throw new KeyWrapError('bad_input', 'nothing to wrap');
  const width = Math.max(1, Math.min(concurrency, keks.length));
  const pt = bufferSource(keyMaterial);
  const aad = kekAad(context);
  const out = new Array<Uint8Array>(keks.length);
  let next = 0;
  const worker = async () => {
    while (next < keks.length) {
      const i = next++;
      out[i] = await sealUnderKek(keks[i]!, pt, aad);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  return out;
}

export async function kekUnwrap(
  kek: CryptoKey,
  wrapped: Uint8Array,
  context: Uint8Array | string,
): Promise<Uint8Array> {
  if (wrapped.length <= KEK_NONCE_BYTES + KEK_TAG_BYTES)
    throw new KeyWrapError('bad_input', 'wrap too short');
  try {
    const pt = await globalThis.crypto.subtle.decrypt(
      {
        name: 'AES-GCM',
        iv: bufferSource(wrapped.slice(0, KEK_NONCE_BYTES)),
        additionalData: kekAad(context),
      },
      kek,
      bufferSource(wrapped.subarray(KEK_NONCE_BYTES)),
    );
    return new Uint8Array(pt);
  } catch {
    throw new KeyWrapError('unwrap_failed');
  }
}
