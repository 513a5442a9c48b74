/**
 * A local webhook receiver for tests: every delivery is verified with livekit-server-sdk's
 * WebhookReceiver (JWT signed with the API secret, sha256 of the body), and a policy decides
 * what to answer (a status, or never).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type WebhookEvent, WebhookReceiver } from 'livekit-server-sdk';
import { eventually } from '../api/signal-client.ts';
import { API_KEY, API_SECRET } from './node.ts';

export interface Delivery {
  /** ms since the receiver started, when the request body had arrived */
  at: number;
  auth: string;
  contentType: string;
  body: string;
  /** The verified event; undefined if verification failed (see `error`). */
  event?: WebhookEvent;
  error?: string;
  /** 1 for the first delivery of this event id, 2 for its first retry, … */
  attempt: number;
  /** What the receiver answered (0: it never answered). */
  status: number;
}

export type Policy = (event: WebhookEvent | undefined, attempt: number) => number | 'hang';

export interface Receiver {
  url: string;
  deliveries: Delivery[];
  /** Verified deliveries of `name` that the receiver accepted (2xx), optionally filtered. */
  accepted(name: string, filter?: (ev: WebhookEvent) => boolean): Delivery[];
  waitFor(name: string, timeoutMs: number, filter?: (ev: WebhookEvent) => boolean): Promise<Delivery>;
  close(): Promise<void>;
}

export const verifier = new WebhookReceiver(API_KEY, API_SECRET);

export async function startReceiver(policy: Policy = () => 200): Promise<Receiver> {
  const t0 = Date.now();
  const deliveries: Delivery[] = [];
  const attempts = new Map<string, number>();
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const auth = req.headers.authorization ?? '';
    const d: Delivery = {
      at: Date.now() - t0,
      auth,
      contentType: req.headers['content-type'] ?? '',
      body,
      attempt: 0,
      status: 0,
    };
    try {
      d.event = await verifier.receive(body, auth);
    } catch (err) {
      d.error = String(err);
    }
    const id = d.event?.id ?? body;
    d.attempt = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, d.attempt);
    const answer = policy(d.event, d.attempt);
    deliveries.push(d);
    if (answer === 'hang') return; // never answered; destroyed on close
    d.status = answer;
    res.writeHead(answer, { 'content-type': 'text/plain' });
    res.end(answer < 300 ? 'ok' : 'try again');
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const accepted = (name: string, filter: (ev: WebhookEvent) => boolean = () => true) =>
    deliveries.filter((d) => d.event?.event === name && d.status >= 200 && d.status < 300 && filter(d.event));
  return {
    url: `http://127.0.0.1:${port}/webhook`,
    deliveries,
    accepted,
    waitFor: (name, timeoutMs, filter) =>
      eventually(() => accepted(name, filter)[0], timeoutMs, `webhook "${name}"`),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
