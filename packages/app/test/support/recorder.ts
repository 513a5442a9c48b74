/**
 * A recording HTTP proxy: forwards every request to `target` and keeps both bodies and all
 * headers, so a test can inspect exactly what crossed between the app server and the media node.
 */
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';

export interface Exchange {
  method: string;
  path: string;
  requestHeaders: IncomingHttpHeaders;
  requestBody: Buffer;
  status: number;
  responseHeaders: IncomingHttpHeaders;
  responseBody: Buffer;
}

export interface Recorder {
  url: string;
  exchanges: Exchange[];
  /** Retarget (the proxy may have to exist before what it fronts). */
  target: string;
  close(): Promise<void>;
}

export async function startRecorder(target: string): Promise<Recorder> {
  const exchanges: Exchange[] = [];
  const rec: Recorder = { url: '', exchanges, target, close: async () => {} };
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const to = new URL(req.url ?? '/', rec.target);
    const out = request(
      to,
      { method: req.method, headers: { ...req.headers, host: to.host } },
      async (upstream) => {
        const rchunks: Buffer[] = [];
        for await (const c of upstream) rchunks.push(c as Buffer);
        const rbody = Buffer.concat(rchunks);
        exchanges.push({
          method: req.method ?? '',
          path: req.url ?? '',
          requestHeaders: req.headers,
          requestBody: body,
          status: upstream.statusCode ?? 0,
          responseHeaders: upstream.headers,
          responseBody: rbody,
        });
        res.writeHead(upstream.statusCode ?? 502, upstream.headers);
        res.end(rbody);
      },
    );
    out.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    out.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  rec.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  rec.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return rec;
}

/** Every JWT in `text`, decoded (header and payload as JSON text). */
export function decodeJwts(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/eyJ[\w-]*\.[\w-]+\.[\w-]*/g)) {
    const [h, p] = m[0].split('.');
    out.push(Buffer.from(h, 'base64url').toString('utf8'), Buffer.from(p, 'base64url').toString('utf8'));
  }
  return out;
}

/** The texts to search: raw bytes as latin1 and utf8, plus every JWT found in them, decoded. */
export function corpus(items: (string | Buffer)[]): string[] {
  const texts: string[] = [];
  for (const item of items) {
    const utf8 = typeof item === 'string' ? item : item.toString('utf8');
    texts.push(utf8, typeof item === 'string' ? item : item.toString('latin1'));
    texts.push(...decodeJwts(utf8));
  }
  return texts;
}

/** Which secrets (case-insensitively) appear anywhere in the texts. */
export function findLeaks(texts: string[], secrets: string[]): string[] {
  const lower = texts.map((t) => t.toLowerCase());
  return secrets.filter((s) => lower.some((t) => t.includes(s.toLowerCase())));
}
