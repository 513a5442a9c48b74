/**
 * A bare signal-socket client for API tests: opens /rtc or /rtc/v1 with `ws`, records every
 * SignalResponse in arrival order and lets a test take the next one of a kind (messages that
 * arrive before anyone waits are kept, so nothing is lost to a race). No WebRTC: a dual-PC join
 * needs none to get its JoinResponse, offers and updates.
 */
import {
  type JoinRequest,
  type JoinResponse,
  Ping,
  SignalRequest,
  SignalResponse,
  WrappedJoinRequest,
  WrappedJoinRequest_Compression,
} from '@livekit/protocol';
import WebSocket from 'ws';

export type Response = Exclude<SignalResponse['message'], { case: undefined }>;
export type ResponseCase = Response['case'];
export type ResponseOf<K extends ResponseCase> = Extract<Response, { case: K }>['value'];
export type Request = Exclude<SignalRequest['message'], { case: undefined }>;

export interface Closed {
  code: number;
  reason: string;
}

/** What arrived on the socket, in order: `msg` is undefined for a frame that did not decode. */
export interface Received {
  binary: boolean;
  msg: Response | undefined;
}

/** `${url}/rtc?access_token=…&auto_subscribe=1&protocol=17` (a dual-PC join), plus `params`. */
export function rtcUrl(url: string, token: string, params: Record<string, string> = {}): string {
  const q = new URLSearchParams({ access_token: token, auto_subscribe: '1', protocol: '17', ...params });
  return `${url.replace(/\/+$/, '')}/rtc?${q}`;
}

/** `${url}/rtc/v1?access_token=…&join_request=…` with `join` wrapped uncompressed. */
export function rtcV1Url(url: string, token: string, join?: JoinRequest): string {
  const q = new URLSearchParams({ access_token: token });
  if (join) {
    const wrapped = new WrappedJoinRequest({
      compression: WrappedJoinRequest_Compression.NONE,
      joinRequest: join.toBinary(),
    });
    q.set('join_request', Buffer.from(wrapped.toBinary()).toString('base64url'));
  }
  return `${url.replace(/\/+$/, '')}/rtc/v1?${q}`;
}

interface Waiter {
  match(msg: Response): boolean;
  fail(err: Error): void;
}

function timeoutError(ms: number, what: string): Error {
  return new Error(`timed out after ${ms} ms waiting for ${what}`);
}

export class SignalConn {
  /** Everything received, in order (never consumed). */
  readonly log: Received[] = [];
  /** Resolves with the close code and reason once the socket has closed. */
  readonly closed: Promise<Closed>;
  private readonly queue: Response[] = [];
  private readonly waiters = new Set<Waiter>();
  private closedWith?: Closed;

  private constructor(readonly ws: WebSocket) {
    ws.on('error', () => {}); // surfaced through `open` and `closed`; never an uncaught error
    this.closed = new Promise<Closed>((resolve) => {
      ws.on('close', (code, reason) => {
        this.closedWith = { code, reason: reason.toString() };
        const err = new Error(`signal socket closed (${code} ${reason.toString()})`);
        for (const w of this.waiters) w.fail(err);
        this.waiters.clear();
        resolve(this.closedWith);
      });
    });
    ws.on('message', (data, isBinary) => {
      let msg: Response | undefined;
      try {
        const res = SignalResponse.fromBinary(data as Buffer);
        msg = res.message.case === undefined ? undefined : res.message;
      } catch {
        msg = undefined;
      }
      this.log.push({ binary: isBinary, msg });
      if (!msg) return;
      for (const w of this.waiters) {
        if (w.match(msg)) {
          this.waiters.delete(w);
          return;
        }
      }
      this.queue.push(msg);
    });
  }

  /** Opens a signal socket; rejects if the upgrade is refused or nothing happens in time. */
  static open(url: string, opts: { headers?: Record<string, string>; timeoutMs?: number } = {}) {
    const timeoutMs = opts.timeoutMs ?? 3000;
    return new Promise<SignalConn>((resolve, reject) => {
      const ws = new WebSocket(url, { headers: opts.headers, handshakeTimeout: timeoutMs });
      const conn = new SignalConn(ws);
      ws.once('open', () => resolve(conn));
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        reject(new Error(`signal upgrade refused: HTTP ${res.statusCode}`));
        ws.terminate();
      });
      ws.once('error', reject);
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  get closeInfo(): Closed | undefined {
    return this.closedWith;
  }

  send(message: Request): void {
    this.ws.send(new SignalRequest({ message }).toBinary());
  }

  sendRaw(data: Buffer | string, binary = true): void {
    this.ws.send(data, { binary });
  }

  /** Takes the next not-yet-taken response of this kind (matching `filter`). */
  next<K extends ResponseCase>(
    kind: K,
    timeoutMs = 3000,
    filter: (value: ResponseOf<K>) => boolean = () => true,
  ): Promise<ResponseOf<K>> {
    return this.take(
      (msg) => msg.case === kind && filter(msg.value as ResponseOf<K>),
      timeoutMs,
      kind,
    ) as Promise<ResponseOf<K>>;
  }

  private take(matches: (msg: Response) => boolean, timeoutMs: number, what: string): Promise<unknown> {
    const idx = this.queue.findIndex(matches);
    if (idx >= 0) return Promise.resolve(this.queue.splice(idx, 1)[0].value);
    if (this.closedWith) {
      const { code, reason } = this.closedWith;
      return Promise.reject(new Error(`signal socket closed (${code} ${reason}) before "${what}"`));
    }
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(timeoutError(timeoutMs, `signal response "${what}"`));
      }, timeoutMs);
      const waiter: Waiter = {
        match: (msg) => {
          if (!matches(msg)) return false;
          clearTimeout(timer);
          resolve(msg.value);
          return true;
        },
        fail: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.waiters.add(waiter);
    });
  }

  /** Sends `ping` and returns the server's pong timestamp (ms). */
  async ping(timeoutMs = 2000): Promise<bigint> {
    this.send({ case: 'ping', value: BigInt(Date.now()) });
    return this.next('pong', timeoutMs);
  }

  /** Sends `pingReq` with `timestamp` and returns the `pongResp`. */
  async pingReq(timestamp: bigint, timeoutMs = 2000) {
    this.send({ case: 'pingReq', value: new Ping({ timestamp, rtt: 0n }) });
    return this.next('pongResp', timeoutMs, (p) => p.lastPingTimestamp === timestamp);
  }

  /** The close code and reason, within `timeoutMs`. */
  waitClosed(timeoutMs = 3000): Promise<Closed> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timeoutError(timeoutMs, 'the signal socket to close')), timeoutMs);
    });
    return Promise.race([this.closed, timeout]).finally(() => clearTimeout(timer));
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close(1000, 'test done');
    }
  }

  /** Closes the socket and waits (briefly) until it is closed. */
  async shutdown(timeoutMs = 2000): Promise<void> {
    this.close();
    await this.waitClosed(timeoutMs).catch(() => this.ws.terminate());
  }
}

/** A dual-PC join over /rtc: the socket and its JoinResponse. */
export async function joinRoom(
  url: string,
  token: string,
  params: Record<string, string> = {},
): Promise<{ conn: SignalConn; join: JoinResponse }> {
  const conn = await SignalConn.open(rtcUrl(url, token, params));
  const join = await conn.next('join');
  return { conn, join };
}

export interface Refusal {
  status: number;
  contentType: string;
  body: string;
}

/**
 * Tries the WebSocket upgrade and expects it to be refused: resolves with the HTTP status and
 * body; rejects if a socket is opened.
 */
export function expectRefused(
  url: string,
  headers: Record<string, string> = {},
  timeoutMs = 3000,
): Promise<Refusal> {
  return new Promise<Refusal>((resolve, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: timeoutMs });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(timeoutError(timeoutMs, 'the upgrade to be refused'));
    }, timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      ws.terminate();
      reject(new Error(`the upgrade to ${new URL(url).pathname} was accepted`));
    });
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers['content-type'] ?? ''),
          body: Buffer.concat(chunks).toString('utf8'),
        });
        ws.terminate();
      });
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 20 ms until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() >= end) throw timeoutError(timeoutMs, what);
    await sleep(20);
  }
}
