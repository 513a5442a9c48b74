/**
 * One DTLS certificate for the whole node (as mediasoup does per worker). libdatachannel would
 * otherwise generate a key pair for every peer connection on its small shared thread pool, and
 * under a join storm the signal thread ends up waiting behind that queue. The key never leaves
 * this machine's temp folder (mode 0600) and is deleted when the node stops.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logger } from '../util/log.ts';

const log = logger('dtls');

export interface DtlsIdentity {
  certificatePemFile: string;
  keyPemFile: string;
  dispose(): void;
}

/** A fresh self-signed ECDSA P-256 certificate, or undefined (per-connection keys) without openssl. */
export function createDtlsIdentity(): DtlsIdentity | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'sotto-dtls-'));
  const certificatePemFile = join(dir, 'cert.pem');
  const keyPemFile = join(dir, 'key.pem');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '30',
      ].concat(['-subj', '/CN=sotto', '-keyout', keyPemFile, '-out', certificatePemFile]),
      { stdio: 'ignore', timeout: 10_000, env: { ...process.env, OPENSSL_CONF: '/dev/null' } },
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    log.info('no openssl: each peer connection generates its own DTLS key', { err: String(err) });
    return undefined;
  }
  return { certificatePemFile, keyPemFile, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
