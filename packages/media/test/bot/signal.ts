/**
 * The signal connection of a single-peer-connection LiveKit client (protocol 17): one WebSocket
 * to /rtc/v1 whose URL carries the JoinRequest (with the first offer), then binary protobuf
 * SignalRequest out and SignalResponse in.
 */
import {
  ClientInfo,
  ClientInfo_SDK,
  ConnectionSettings,
  JoinRequest,
  type SessionDescription,
  SignalRequest,
  SignalResponse,
  WrappedJoinRequest,
  WrappedJoinRequest_Compression,
} from '@livekit/protocol';
import WebSocket from 'ws';
import { deferred, withTimeout } from './wait.ts';

export const PROTOCOL_VERSION = 17;

export type Response = Exclude<SignalResponse['message'], { case: undefined }>;
export type ResponseCase = Response['case'];
export type ResponseOf<K extends ResponseCase> = Extract<Response, { case: K }>['value'];
export type Request = Exclude<SignalRequest['message'], { case: undefined }>;

/** `${url}/rtc/v1?access_token=…&join_request=…`, the JoinRequest left uncompressed. */
export function joinUrl(url: string, token: string, publisherOffer: SessionDescription): string {
  const join = new JoinRequest({
    clientInfo: new ClientInfo({ sdk: ClientInfo_SDK.NODE, version: '0.1.0', protocol: PROTOCOL_VERSION }),
    connectionSettings: new ConnectionSettings({ autoSubscribe: true }),
    publisherOffer,
  });
  const wrapped = new WrappedJoinRequest({
    compression: WrappedJoinRequest_Compression.NONE,
    joinRequest: join.toBinary(),
  });
  const query = new URLSearchParams({
    access_token: token,
    join_request: Buffer.from(wrapped.toBinary()).toString('base64url'),
  });
  return `${url.replace(/\/+$/, '')}/rtc/v1?${query}`;
}

interface Waiter {
  /** Takes the response if it is the awaited one. */
  match(msg: Response): boolean;
  fail(err: Error): void;
}

export class SignalClient {
  /** Called when the socket opens, before anything it receives. */
  onOpen?: () => void;
  /** Called for every response before any waiter sees it. */
  onResponse?: (msg: Response) => void;
  onClose?: () => void;
  private readonly ws: WebSocket;
  private readonly waiters = new Set<Waiter>();
  /** Why the socket failed or closed; set once. */
  private failure?: Error;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('open', () => this.onOpen?.());
    this.ws.on('unexpected-response', (_req, res) => {
      this.failure ??= new Error(`signal connection refused: HTTP ${res.statusCode}`);
      res.resume();
      this.ws.terminate();
    });
    this.ws.on('error', (err) => {
      this.failure ??= err;
    });
    this.ws.on('message', (data, isBinary) => {
      let res: SignalResponse;
      try {
        res = SignalResponse.fromBinary(data as Buffer);
      } catch {
        this.ws.close(1007, `undecodable ${isBinary ? 'binary' : 'text'} signal response`);
        return;
      }
      if (res.message.case !== undefined) this.dispatch(res.message);
    });
    this.ws.on('close', (code, reason) => {
      this.failure ??= new Error(`signal connection closed (${code} ${reason.toString()})`);
      for (const w of this.waiters) w.fail(this.failure);
      this.onClose?.();
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(message: Request): void {
    if (this.isOpen) this.ws.send(new SignalRequest({ message }).toBinary());
  }

  /** The next response of this kind (matching `filter`), within `timeoutMs`. */
  waitFor<K extends ResponseCase>(
    kind: K,
    timeoutMs: number,
    filter: (value: ResponseOf<K>) => boolean = () => true,
  ): Promise<ResponseOf<K>> {
    if (this.failure) return Promise.reject(this.failure);
    const got = deferred<ResponseOf<K>>();
    const waiter: Waiter = {
      match: (msg) => {
        if (msg.case !== kind || !filter(msg.value as ResponseOf<K>)) return false;
        got.resolve(msg.value as ResponseOf<K>);
        return true;
      },
      fail: got.reject,
    };
    this.waiters.add(waiter);
    return withTimeout(got.promise, timeoutMs, `signal response "${kind}"`).finally(() =>
      this.waiters.delete(waiter),
    );
  }

  close(): void {
    this.ws.close(1000, 'bot leaving');
  }

  private dispatch(msg: Response): void {
    this.onResponse?.(msg);
    for (const w of [...this.waiters]) if (w.match(msg)) this.waiters.delete(w);
  }
}
