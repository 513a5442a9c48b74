/**
 * The media node: HTTP (validate, Twirp, health) and the signal WebSocket on one TCP port,
 * media on one UDP port. Owns the rooms; reports to webhooks.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import {
  createServer as createHttp,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { Duplex } from 'node:stream';
import { DisconnectReason } from '@livekit/protocol';
import ndc from 'node-datachannel';
import { WebSocketServer } from 'ws';
import { handleTwirp, isTwirp, type RoomDirectory } from './api/twirp.ts';
import { WebhookNotifier } from './api/webhooks.ts';
import { type KeyStore, requireJoinGrant, verifyToken } from './auth/token.ts';
import { type PayloadTamper, type PayloadTap, Room, type RoomEvents, type RoomOptions } from './rtc/room.ts';
import { createDtlsIdentity, type DtlsIdentity } from './sfu/dtls.ts';
import { MediaSocket } from './sfu/native/socket.ts';
import { sdpFingerprint } from './sfu/native/transport.ts';
import type { TransportConfig } from './sfu/transport.ts';
import { parseJoin, signalPath } from './signal/join.ts';
import { runSession, type SignalHost } from './signal/session.ts';
import { MediaError } from './util/errors.ts';
import { logger } from './util/log.ts';

const log = logger('node');

export type MediaTransportKind = 'native' | 'datachannel';

export function mediaTransportKind(value: string | undefined): MediaTransportKind {
  const v = value ?? 'native';
  if (v !== 'native' && v !== 'datachannel')
    throw new Error(`unknown media transport "${v}" (expected native or datachannel)`);
  return v;
}

export interface MediaNodeConfig {
  host: string;
  httpPort: number; // 0 = any free port
  udpPort: number;
  keys: KeyStore;
  publicAddress?: string;
  tls?: { certFile: string; keyFile: string };
  webhookUrls?: string[];
  /**
   * The media transport: 'native' (the node's own socket, DTLS-SRTP and batched sends in an
   * addon: native/sotto_net.c) or 'datachannel' (node-datachannel, the fallback). Default: env
   * SOTTO_MEDIA_TRANSPORT, else 'native'.
   */
  transport?: MediaTransportKind;
  /** Seconds an empty room lives (created by API and never joined). */
  emptyTimeout?: number;
  /** Seconds a room lives after its last participant left. */
  departureTimeout?: number;
  pingInterval?: number;
  pingTimeout?: number;
  region?: string;
  /** Test instrumentation (the E2EE canary): every RTP payload any room forwards. Never in production. */
  payloadTap?: PayloadTap;
  /** Test instrumentation (E2EE tests): a tampering media node. Never in production. */
  payloadTamper?: PayloadTamper;
}

export class MediaNode implements SignalHost, RoomDirectory {
  readonly nodeId = `ND_${randomBytes(6).toString('hex')}`;
  readonly region: string;
  readonly pingInterval: number;
  readonly pingTimeout: number;
  transportConfig: TransportConfig;
  readonly webhooks: WebhookNotifier;
  private readonly roomsByName = new Map<string, Room>();
  private readonly server: Server;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  private readonly roomEvents: RoomEvents;
  /**
   * Holds the shared ICE UDP mux socket open for the node's lifetime. Without it the socket
   * closes with the last peer connection and a new one can race its release (libjuice then
   * aborts the process gathering candidates).
   */
  private udpMux?: InstanceType<typeof ndc.IceUdpMuxListener>;
  /** The native transport's socket (transport 'native'). */
  mediaSocket?: MediaSocket;
  private dtls?: DtlsIdentity;
  /** The app server in the all-in-one process: every HTTP request that is not the media node's. */
  private app?: (req: IncomingMessage, res: ServerResponse) => void;
  port = 0;

  constructor(readonly cfg: MediaNodeConfig) {
    this.region = cfg.region ?? 'local';
    this.pingInterval = cfg.pingInterval ?? 5;
    this.pingTimeout = cfg.pingTimeout ?? 15;
    this.transportConfig = { udpPort: cfg.udpPort, bindAddress: cfg.host, publicAddress: cfg.publicAddress };
    const [apiKey, secret] = [...cfg.keys.entries()][0];
    this.webhooks = new WebhookNotifier({ urls: [...(cfg.webhookUrls ?? [])], apiKey, secret });
    const wh = this.webhooks;
    this.roomEvents = {
      participantJoined: (room, p) =>
        wh.notify({ event: 'participant_joined', room: room.toInfo(), participant: p.toInfo() }),
      participantLeft: (room, p) =>
        wh.notify({ event: 'participant_left', room: room.toInfo(), participant: p.toInfo() }),
      trackPublished: (room, p, track) =>
        wh.notify({ event: 'track_published', room: room.toInfo(), participant: p.toInfo(), track }),
      trackUnpublished: (room, p, track) =>
        wh.notify({ event: 'track_unpublished', room: room.toInfo(), participant: p.toInfo(), track }),
      roomEmpty: (room) => this.closeRoom(room, DisconnectReason.ROOM_CLOSED),
    };
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.handleHttp(req, res).catch((err) => {
        log.warn('http handler failed', { err: String(err) });
        if (!res.headersSent) sendJson(res, 500, { code: 'internal', message: 'internal error' });
      });
    };
    this.server = cfg.tls
      ? createHttps({ cert: readFileSync(cfg.tls.certFile), key: readFileSync(cfg.tls.keyFile) }, handler)
      : createHttp(handler);
    this.server.on('upgrade', (req, socket, head) => {
      this.handleUpgrade(req, socket, head).catch((err) => {
        log.warn('upgrade failed', { err: String(err) });
        socket.destroy();
      });
    });
  }

  async start(): Promise<void> {
    await assertUdpPortFree(this.cfg.host, this.cfg.udpPort);
    this.dtls = createDtlsIdentity();
    if (mediaTransportKind(this.cfg.transport ?? process.env.SOTTO_MEDIA_TRANSPORT) === 'native') {
      if (!this.dtls)
        throw new Error('the native media transport needs the openssl command for its DTLS certificate');
      const pem = MediaSocket.pemFromFiles(this.dtls);
      this.mediaSocket = MediaSocket.open(this.cfg.host, this.cfg.udpPort, pem);
      this.transportConfig = {
        ...this.transportConfig,
        dtls: this.dtls,
        native: { socket: this.mediaSocket, fingerprint: sdpFingerprint(pem.certPem) },
      };
    } else {
      this.udpMux = new ndc.IceUdpMuxListener(this.cfg.udpPort, this.cfg.host);
      this.transportConfig = { ...this.transportConfig, dtls: this.dtls };
      this.udpMux.onUnhandledStunRequest(() => {
        // STUN for no known peer (stale or forged ufrag): dropped
      });
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(
          err.code === 'EADDRINUSE'
            ? new Error(`TCP port ${this.cfg.httpPort} on ${this.cfg.host} is already in use`)
            : err,
        );
      };
      this.server.once('error', onError);
      this.server.listen(this.cfg.httpPort, this.cfg.host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : this.cfg.httpPort;
    log.info('media node listening', { host: this.cfg.host, port: this.port, udpPort: this.cfg.udpPort });
  }

  get url(): string {
    const host = this.cfg.host.includes(':') ? `[${this.cfg.host}]` : this.cfg.host;
    return `${this.cfg.tls ? 'wss' : 'ws'}://${host}:${this.port}`;
  }

  async stop(): Promise<void> {
    for (const room of [...this.roomsByName.values()]) this.closeRoom(room, DisconnectReason.SERVER_SHUTDOWN);
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections?.();
    await this.webhooks.drain(2000);
    this.udpMux?.stop();
    this.udpMux = undefined;
    this.mediaSocket?.close();
    this.mediaSocket = undefined;
    this.dtls?.dispose();
  }

  /**
   * Serves another HTTP handler (the app server) on this node's port for every path the media
   * node does not own (signal, validate, Twirp, /healthz).
   */
  mountApp(handler: (req: IncomingMessage, res: ServerResponse) => void): void {
    this.app = handler;
  }

  // ---- RoomDirectory / SignalHost --------------------------------------------------------

  rooms(): Iterable<Room> {
    return this.roomsByName.values();
  }

  getRoom(name: string): Room | undefined {
    return this.roomsByName.get(name);
  }

  getOrCreateRoom(name: string): Room {
    return this.roomsByName.get(name) ?? this.createRoom(name, {});
  }

  createRoom(name: string, opts: Partial<RoomOptions>): Room {
    const existing = this.roomsByName.get(name);
    if (existing) return existing;
    const room = new Room(
      name,
      {
        emptyTimeout: opts.emptyTimeout ?? this.cfg.emptyTimeout ?? 300,
        departureTimeout: opts.departureTimeout ?? this.cfg.departureTimeout ?? 20,
        maxParticipants: opts.maxParticipants ?? 0,
        metadata: opts.metadata ?? '',
        payloadTap: this.cfg.payloadTap,
        payloadTamper: this.cfg.payloadTamper,
      },
      this.roomEvents,
    );
    this.roomsByName.set(name, room);
    this.webhooks.notify({ event: 'room_started', room: room.toInfo() });
    log.info('room started', { rm: room.sid });
    return room;
  }

  deleteRoom(name: string): boolean {
    const room = this.roomsByName.get(name);
    if (!room) return false;
    this.closeRoom(room, DisconnectReason.ROOM_DELETED);
    return true;
  }

  private closeRoom(room: Room, reason: DisconnectReason): void {
    if (this.roomsByName.get(room.name) !== room) return;
    this.roomsByName.delete(room.name);
    room.close(reason);
    this.webhooks.notify({ event: 'room_finished', room: room.toInfo() });
    log.info('room finished', { rm: room.sid });
  }

  // ---- HTTP ---------------------------------------------------------------------------------

  private async handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (isTwirp(url.pathname)) return handleTwirp(req, res, this, this.cfg.keys);
    if (url.pathname === '/healthz' || (url.pathname === '/' && !this.app)) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('OK');
      return;
    }
    if (url.pathname.endsWith('/validate') && signalPath(url.pathname)) {
      try {
        const join = parseJoin(url, req.headers.authorization);
        requireJoinGrant(await verifyToken(join.token, this.cfg.keys));
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('success');
      } catch (err) {
        const e = err instanceof MediaError ? err : new MediaError(400, 'bad_request', String(err));
        res.writeHead(e.status, { 'content-type': 'text/plain' });
        res.end(e.message);
      }
      return;
    }
    if (this.app) return this.app(req, res);
    sendJson(res, 404, { code: 'not_found', message: `no route for ${url.pathname}` });
  }

  /** Verifies the token before accepting the WebSocket; a bad token never gets a socket. */
  private async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    let join: ReturnType<typeof parseJoin>;
    let claims: Awaited<ReturnType<typeof verifyToken>>;
    try {
      join = parseJoin(url, req.headers.authorization);
      claims = await verifyToken(join.token, this.cfg.keys);
      requireJoinGrant(claims);
    } catch (err) {
      const e = err instanceof MediaError ? err : new MediaError(400, 'bad_request', String(err));
      const body = JSON.stringify({ code: e.code, message: e.message });
      socket.end(
        `HTTP/1.1 ${e.status} ${e.status === 401 ? 'Unauthorized' : e.status === 403 ? 'Forbidden' : 'Bad Request'}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      try {
        runSession(ws, this, claims, join);
      } catch (err) {
        const msg = err instanceof MediaError ? err.message : 'internal error';
        log.warn('session failed to start', { err: String(err) });
        ws.close(1011, msg);
      }
    });
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** node-datachannel binds the UDP port lazily; fail early and clearly if it is taken. */
async function assertUdpPortFree(host: string, port: number): Promise<void> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid UDP port ${port}`);
  const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`UDP port ${port} on ${host} is already in use`) : err),
    );
    sock.bind(port, host, () => resolve());
  });
  await new Promise<void>((resolve) => sock.close(() => resolve()));
}

export async function startMediaNode(cfg: MediaNodeConfig): Promise<MediaNode> {
  const node = new MediaNode(cfg);
  await node.start();
  return node;
}
