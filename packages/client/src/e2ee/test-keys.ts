/**
 * Test fixture (imported only by the tests beside it): a device-style Ed25519 signing key — the
 * private half non-extractable, as on a real device — with its raw public key.
 */
export async function signingKeyPair(): Promise<{ priv: CryptoKey; pub: Uint8Array }> {
  const k = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  return { priv: k.privateKey, pub: new Uint8Array(await crypto.subtle.exportKey('raw', k.publicKey)) };
}
