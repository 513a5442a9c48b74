/**
 * The node's one UDP socket for media, owned by the native addon (native/sotto_net.c), and the
 * ICE-lite agent in front of it: STUN Binding requests are answered here and tell a transport
 * which address its peer uses; every other datagram reaches its transport by peer id. A client
 * transport (load tests) also sends checks: their answers go back to the transport that sent them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { logger } from '../../util/log.ts';
import {
  type BindingSuccess,
  bindingError,
  bindingSuccess,
  parseBindingRequest,
  parseBindingSuccess,
  STUN_HEADER_LENGTH,
  StunClass,
  StunError,
  stunClass,
  verifyIntegrity,
} from './stun.ts';

const log = logger('media-socket');
/** How long an answer to one of our checks is waited for. */
const TRANSACTION_MS = 5000;
/** A bound on the checks waiting for an answer (oldest forgotten first). */
const MAX_TRANSACTIONS = 4096;

export enum NativeEvent {
  Stun = 0,
  Data = 1,
  Rtp = 2,
  Rtcp = 3,
  Connected = 4,
  Closed = 5,
}

export interface NativeStats {
  rxDatagrams: number;
  rxDropped: number;
  txDatagrams: number;
  txDropped: number;
  sendCalls: number;
  authFailures: number;
  replays: number;
}

type EventCallback = (
  kind: NativeEvent,
  peer: number,
  data: Buffer | undefined,
  num: number,
  text: string | undefined,
) => void;

/** The addon's functions (see the comments in native/sotto_net.c). */
export interface Addon {
  open(host: string, port: number, certPem: string, keyPem: string, cb: EventCallback): number;
  close(socket: number): void;
  localPort(socket: number): number;
  peerNew(socket: number, dtlsClient: boolean): number;
  peerBind(peer: number, host: string, port: number): boolean;
  peerClose(peer: number): void;
  /** Forgets the peer's address (consent lost): no sends to it until ICE binds one again. */
  peerUnbind(peer: number): boolean;
  sendStun(socket: number, host: string, port: number, bytes: Uint8Array): boolean;
  sendData(peer: number, bytes: Uint8Array): boolean;
  sendRtp(peer: number, rtp: Uint8Array): boolean;
  sendRtcp(peer: number, rtcp: Uint8Array): boolean;
  stats(socket: number): NativeStats;
  /** The SRTP key derivation (RFC 3711 §4.3), exposed for known-answer tests. */
  kdf(masterKey: Uint8Array, masterSalt: Uint8Array, label: number, length: number): Buffer;
}

const ADDON_PATH = fileURLToPath(new URL('../../../native/build/Release/sotto_net.node', import.meta.url));
let addon: Addon | undefined;

export function nativeAddon(): Addon {
  if (addon) return addon;
  if (!existsSync(ADDON_PATH))
    throw new Error(`the native media transport is not built (${ADDON_PATH}): run \`npm run build\``);
  addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
  return addon;
}

/** What the socket needs of a transport. */
export interface IceEndpoint {
  readonly localPwd: string;
  /** The peer's password, which signs the answers to our checks (a client transport only). */
  readonly remotePwd?: string;
  /** A valid connectivity check from this address (MESSAGE-INTEGRITY verified). */
  iceCheck(address: string, port: number, useCandidate: boolean): void;
  /** A verified success answer to one of our checks, from the address the check went to. */
  iceSuccess?(address: string, port: number, answer: BindingSuccess): void;
  /** The socket's periodic consent sweep (RFC 7675), every few seconds. */
  consentSweep?(now: number): void;
  /** Everything else the addon reports for this transport's peer. */
  nativeEvent(kind: NativeEvent, data: Buffer | undefined, num: number, text: string | undefined): void;
}

interface Transaction {
  endpoint: IceEndpoint;
  address: string;
  port: number;
  sentAt: number;
}

const CONSENT_SWEEP_MS = 5000;

export interface SocketOptions {
  /** How often each peer's consent is looked at (default 5 s; tests use less). */
  consentSweepMs?: number;
}

export interface DtlsPem {
  certPem: string;
  keyPem: string;
}

export class MediaSocket {
  readonly addon: Addon;
  readonly id: number;
  readonly port: number;
  /** Datagrams the ICE agent dropped: not STUN we could parse, or for no transport we know. */
  stunDropped = 0;
  private readonly byUfrag = new Map<string, IceEndpoint>();
  private readonly byPeer = new Map<number, IceEndpoint>();
  /** Our checks waiting for an answer, by transaction id (hex), oldest first. */
  private readonly transactions = new Map<string, Transaction>();
  private closed = false;
  /** One timer for the whole socket: each peer's consent is looked at every few seconds. */
  private readonly sweep: ReturnType<typeof setInterval>;

  private constructor(
    readonly host: string,
    port: number,
    pem: DtlsPem,
    opts: SocketOptions,
  ) {
    this.addon = nativeAddon();
    this.id = this.addon.open(host, port, pem.certPem, pem.keyPem, (kind, peer, data, num, text) =>
      this.onEvent(kind, peer, data, num, text),
    );
    this.port = this.addon.localPort(this.id);
    this.sweep = setInterval(() => {
      const now = performance.now();
      for (const endpoint of this.byPeer.values()) endpoint.consentSweep?.(now);
    }, opts.consentSweepMs ?? CONSENT_SWEEP_MS);
    this.sweep.unref?.();
  }

  /** Binds `host:port` (0: any free port); throws EADDRINUSE-coded errors for a taken port. */
  static open(host: string, port: number, pem: DtlsPem, opts: SocketOptions = {}): MediaSocket {
    return new MediaSocket(host, port, pem, opts);
  }

  static pemFromFiles(files: { certificatePemFile: string; keyPemFile: string }): DtlsPem {
    return {
      certPem: readFileSync(files.certificatePemFile, 'utf8'),
      keyPem: readFileSync(files.keyPemFile, 'utf8'),
    };
  }

  register(ufrag: string, endpoint: IceEndpoint): void {
    this.byUfrag.set(ufrag, endpoint);
  }

  createPeer(endpoint: IceEndpoint, dtlsClient: boolean): number {
    const peer = this.addon.peerNew(this.id, dtlsClient);
    this.byPeer.set(peer, endpoint);
    return peer;
  }

  release(ufrag: string, peer: number): void {
    this.byUfrag.delete(ufrag);
    if (peer) {
      this.byPeer.delete(peer);
      if (!this.closed) this.addon.peerClose(peer);
    }
  }

  /** Sends one of our connectivity checks (a Binding request) and remembers whom its answer is for. */
  sendCheck(endpoint: IceEndpoint, address: string, port: number, request: Buffer): boolean {
    if (this.closed) return false;
    const now = performance.now();
    for (const [key, t] of this.transactions) {
      if (now - t.sentAt < TRANSACTION_MS && this.transactions.size < MAX_TRANSACTIONS) break;
      this.transactions.delete(key);
    }
    this.transactions.set(request.toString('hex', 8, STUN_HEADER_LENGTH), {
      endpoint,
      address,
      port,
      sentAt: now,
    });
    return this.addon.sendStun(this.id, address, port, request);
  }

  stats(): NativeStats & { peers: number; stunDropped: number } {
    return { ...this.addon.stats(this.id), peers: this.byPeer.size, stunDropped: this.stunDropped };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweep);
    this.addon.close(this.id);
    this.byPeer.clear();
    this.byUfrag.clear();
    this.transactions.clear();
  }

  private onEvent(
    kind: NativeEvent,
    peer: number,
    data: Buffer | undefined,
    num: number,
    text: string | undefined,
  ): void {
    try {
      if (kind === NativeEvent.Stun) {
        if (data && text !== undefined) this.onStun(data, text, num);
        return;
      }
      this.byPeer.get(peer)?.nativeEvent(kind, data, num, text);
    } catch (err) {
      // one peer's bad input must not stop the socket
      log.warn('media event handler failed', { kind, err: String(err) });
    }
  }

  private onStun(buf: Buffer, address: string, port: number): void {
    let req: ReturnType<typeof parseBindingRequest>;
    try {
      req = parseBindingRequest(buf);
    } catch (err) {
      if (!(err instanceof StunError)) throw err;
      this.stunDropped++;
      return;
    }
    if (!req) {
      // responses and indications: only answers to a client transport's checks are wanted
      if (this.transactions.size > 0) this.onResponse(buf, address, port);
      return;
    }
    const endpoint = this.byUfrag.get(req.localUfrag);
    if (!endpoint) {
      this.stunDropped++; // a stale or forged username: no answer at all
      return;
    }
    if (!verifyIntegrity(buf, endpoint.localPwd)) {
      this.addon.sendStun(this.id, address, port, bindingError(req.transactionId, 401, 'Unauthorized'));
      return;
    }
    this.addon.sendStun(
      this.id,
      address,
      port,
      bindingSuccess(req.transactionId, address, port, endpoint.localPwd),
    );
    endpoint.iceCheck(address, port, req.useCandidate);
  }

  /**
   * An answer to one of our checks: it must come from where the check went and, for a success,
   * carry MESSAGE-INTEGRITY keyed with that peer's password. A forged answer does not end the
   * transaction (the real one may still come); an error answer is dropped and the check retried.
   */
  private onResponse(buf: Buffer, address: string, port: number): void {
    const cls = stunClass(buf);
    const key = buf.toString('hex', 8, STUN_HEADER_LENGTH);
    const t = this.transactions.get(key);
    const pwd = t?.endpoint.remotePwd;
    if (
      !t ||
      pwd === undefined ||
      cls !== StunClass.SuccessResponse ||
      t.address !== address ||
      t.port !== port
    ) {
      this.stunDropped++;
      return;
    }
    let answer: BindingSuccess;
    try {
      answer = parseBindingSuccess(buf);
    } catch (err) {
      if (!(err instanceof StunError)) throw err;
      this.stunDropped++;
      return;
    }
    if (!verifyIntegrity(buf, pwd)) {
      this.stunDropped++;
      return;
    }
    this.transactions.delete(key);
    t.endpoint.iceSuccess?.(address, port, answer);
  }
}
