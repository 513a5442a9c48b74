// The native addon on its own: the SRTP key derivation against RFC 3711's test vectors, and the
// socket's typed errors.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { describe, it } from 'node:test';
import { createDtlsIdentity } from '../dtls.ts';
import { MediaSocket, nativeAddon } from './socket.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

describe('SRTP key derivation (RFC 3711 B.3)', () => {
  const key = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
  const salt = hex('0EC675AD498AFEEBB6960B3AABE6');

  it('derives the cipher key, the salt and the auth key of the vector', () => {
    const addon = nativeAddon();
    assert.equal(
      addon.kdf(key, salt, 0, 16).toString('hex').toUpperCase(),
      'C61E7A93744F39EE10734AFE3FF7A087',
    );
    assert.equal(addon.kdf(key, salt, 2, 14).toString('hex').toUpperCase(), '30CBBC08863D8C85D49DB34A9AE1');
    assert.equal(
      addon.kdf(key, salt, 1, 20).toString('hex').toUpperCase(),
      'CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4',
    );
  });

  it('refuses wrong sizes with a typed error', () => {
    assert.throws(() => nativeAddon().kdf(key.subarray(1), salt, 0, 16), /16-byte key/);
  });
});

describe('media socket', () => {
  it('reports a taken UDP port as EADDRINUSE, a bad certificate as ERR_SOTTO_DTLS and a bad address as ERR_SOTTO_ADDRESS', async () => {
    const taken = createSocket('udp4');
    await new Promise<void>((r) => taken.bind(0, '127.0.0.1', () => r()));
    const port = taken.address().port;
    const addon = nativeAddon();
    const identity = createDtlsIdentity();
    assert.ok(identity, 'openssl is needed for the DTLS certificate');
    const pem = MediaSocket.pemFromFiles(identity);
    try {
      assert.throws(
        () => addon.open('127.0.0.1', port, pem.certPem, pem.keyPem, () => {}),
        (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE',
      );
      assert.throws(
        () => addon.open('127.0.0.1', port, 'x', 'y', () => {}),
        (e: NodeJS.ErrnoException) => e.code === 'ERR_SOTTO_DTLS',
        'the certificate is checked before the port',
      );
      assert.throws(
        () => addon.open('not-an-ip', 1, pem.certPem, pem.keyPem, () => {}),
        (e: NodeJS.ErrnoException) => e.code === 'ERR_SOTTO_ADDRESS',
      );
      // and the port is usable once free
      taken.close();
      const socket = MediaSocket.open('127.0.0.1', port, pem);
      assert.equal(socket.port, port);
      socket.close();
    } finally {
      try {
        taken.close();
      } catch {
        // closed above
      }
      identity.dispose();
    }
  });
});
