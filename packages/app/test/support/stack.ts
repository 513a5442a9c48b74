/**
 * A whole test stack: a real media node, the app server on its own HTTP port (the media node's
 * webhooks point at it), a database of the chosen backend, and a small API client.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setLogLevel } from '@sotto/media';
import { API_KEY, API_SECRET, startTestNode, type TestNode } from '../../../media/test/support/node.ts';
import { type AppServer, createAppServer } from '../../src/index.ts';
import type { Backend } from './postgres.ts';
import { type Recorder, startRecorder } from './recorder.ts';

setLogLevel((process.env.SOTTO_LOG_LEVEL as 'debug' | undefined) ?? 'error');

export interface Stack {
  app: AppServer;
  node: TestNode;
  /** With `record`: app → media node (Twirp) and media node → app (webhooks). */
  twirp?: Recorder;
  webhooks?: Recorder;
  /** http://127.0.0.1:PORT of the app server */
  url: string;
  /** Signs in (dev sign-in; creates the user) and returns a client for that user. */
  user(username: string, displayName?: string): Promise<Client>;
  anonymous(): Client;
  close(): Promise<void>;
}

export interface StackOptions {
  dev?: boolean;
  /** Put recording proxies between the app and the media node, both ways (Twirp and webhooks). */
  record?: boolean;
  reportRetentionDays?: number;
  webDist?: string;
  sseHeartbeatMs?: number;
  /** The reconnect grace after a media disconnect (default here 300 ms, to keep tests short). */
  mediaDisconnectGraceMs?: number;
  /** Leave media.publicUrl unset (clients are then sent to ws://<request Host>). */
  noPublicUrl?: boolean;
}

export interface Res<T = unknown> {
  status: number;
  body: T;
  type: string;
  headers: Headers;
}

export class Client {
  constructor(
    readonly base: string,
    public cookie = '',
    public bearer = '',
    public id = '',
    public username = '',
  ) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      ...(this.cookie ? { cookie: this.cookie } : {}),
      ...(this.bearer ? { authorization: `Bearer ${this.bearer}` } : {}),
      ...extra,
    };
  }

  async req<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    raw?: { body: string; type: string },
  ): Promise<Res<T>> {
    const init: RequestInit = { method, headers: this.headers() };
    if (raw) {
      init.body = raw.body;
      init.headers = this.headers({ 'content-type': raw.type });
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = this.headers({ 'content-type': 'application/json' });
    }
    const r = await fetch(this.base + path, init);
    const type = r.headers.get('content-type') ?? '';
    const text = await r.text();
    const parsed = type.includes('json') && text ? (JSON.parse(text) as T) : (text as T);
    const setCookie = r.headers.get('set-cookie');
    if (setCookie?.startsWith('sotto_session=')) this.cookie = setCookie.split(';')[0];
    return { status: r.status, body: parsed, type, headers: r.headers };
  }

  get = <T = unknown>(path: string) => this.req<T>('GET', path);
  post = <T = unknown>(path: string, body?: unknown) => this.req<T>('POST', path, body ?? {});
  patch = <T = unknown>(path: string, body?: unknown) => this.req<T>('PATCH', path, body ?? {});
  del = <T = unknown>(path: string) => this.req<T>('DELETE', path);
}

export async function startStack(backend: Backend, opts: StackOptions = {}): Promise<Stack> {
  const db = await backend.fresh();
  let app: AppServer | undefined;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (!app) {
      res.writeHead(503).end();
      return;
    }
    app.handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const webhooks = opts.record ? await startRecorder(url) : undefined;
  const node = await startTestNode({
    webhookUrls: [`${webhooks?.url ?? url}/api/media/webhook`],
    departureTimeout: 1,
  });
  const twirp = opts.record ? await startRecorder(node.httpUrl) : undefined;
  const apiUrl = twirp?.url ?? node.httpUrl;
  const teardown = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await node.stop();
    await twirp?.close();
    await webhooks?.close();
  };
  try {
    app = await createAppServer({
      database: db.url,
      media: {
        apiUrl,
        apiKey: API_KEY,
        apiSecret: API_SECRET,
        publicUrl: opts.noPublicUrl ? undefined : node.url,
      },
      dev: opts.dev ?? true,
      reportRetentionDays: opts.reportRetentionDays,
      webDist: opts.webDist,
      sseHeartbeatMs: opts.sseHeartbeatMs,
      mediaDisconnectGraceMs: opts.mediaDisconnectGraceMs ?? 300,
    });
  } catch (err) {
    // a stack that failed to start (e.g. a migration) must not keep the test process alive
    await teardown();
    await db.drop();
    throw err;
  }
  const running = app;
  return {
    app: running,
    node,
    twirp,
    webhooks,
    url,
    user: async (username, displayName) => {
      const c = new Client(url);
      const r = await c.post<{ user: { id: string } }>('/api/auth/dev', { username, displayName });
      if (r.status !== 200) throw new Error(`dev sign-in failed: ${r.status} ${JSON.stringify(r.body)}`);
      c.id = r.body.user.id;
      c.username = username;
      return c;
    },
    anonymous: () => new Client(url),
    close: async () => {
      await teardown();
      await running.close();
      await db.drop();
    },
  };
}
