// Serves the test page (page-app.ts bundled with livekit-client) from http://127.0.0.1:<port>/,
// a secure-enough origin for getUserMedia.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>sotto test page</title><link rel="icon" href="data:,"></head>
<body><script src="/app.js"></script></body></html>`;

let bundle: Promise<string> | undefined;

/** page-app.ts and livekit-client as one IIFE script; built once per process. */
function pageBundle(): Promise<string> {
  bundle ??= build({
    entryPoints: [fileURLToPath(new URL('./page-app.ts', import.meta.url))],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    logLevel: 'silent',
  }).then(({ outputFiles }) => {
    const [file] = outputFiles;
    if (!file) throw new Error('esbuild produced no output');
    return file.text;
  });
  return bundle;
}

export interface PageServer {
  /** The page's address, e.g. http://127.0.0.1:41234/ */
  url: string;
  close(): Promise<void>;
}

export async function startPageServer(): Promise<PageServer> {
  const script = await pageBundle();
  const server = createServer((req, res) => {
    const [type, body] =
      req.url === '/' ? ['text/html', PAGE_HTML] : req.url === '/app.js' ? ['text/javascript', script] : [];
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
