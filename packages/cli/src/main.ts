#!/usr/bin/env node
/** sotto start | token — the all-in-one server and a token minting helper. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createAppServer } from '@sotto/app';
import { setLogLevel, signToken, startMediaNode } from '@sotto/media';
import { ConfigError, resolveConfig, type StartOptions } from './config.ts';

/** The built web app (`npm run build`), served by the app server. */
const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));

const USAGE = `usage:
  sotto start [--dev] [--host IP] [--port 7880] [--udp-port 7882] [--keys-file F]
              [--public-ip IP] [--tls-cert F --tls-key F] [--webhook URL]... [--log-level info]
              [--database sqlite:./data/sotto.db | postgres://…] [--report-retention-days 90]
              [--public-url https://rooms.example.org] [--redis redis://host:6379] [--media-only]
  sotto token --room NAME --identity ID [--dev]    (prints a join token; keys from SOTTO_KEYS or --dev)

env: SOTTO_KEYS="key:secret,...", SOTTO_HOST, SOTTO_PORT, SOTTO_UDP_PORT, SOTTO_PUBLIC_IP,
     SOTTO_TLS_CERT, SOTTO_TLS_KEY, SOTTO_WEBHOOK_URLS, SOTTO_LOG_LEVEL, DATABASE_URL,
     SOTTO_REPORT_RETENTION_DAYS, SOTTO_PUBLIC_URL, SOTTO_REDIS_URL`;

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (cmd === 'start') {
    const cfg = resolveConfig(rest, process.env);
    setLogLevel(cfg.logLevel);
    const node = await startMediaNode(cfg);
    const app = cfg.app ? await startApp(cfg, node) : undefined;
    const stop = async () => {
      await node.stop();
      await app?.close();
      process.exit(0);
    };
    // handlers first: a supervisor may signal as soon as it reads the ready line
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    console.log(
      `Sotto media node on ${node.url} (UDP ${cfg.udpPort})${cfg.dev ? ' — dev mode: key devkey, secret secret' : ''}`,
    );
    if (app && !cfg.dev && !cfg.app?.publicUrl)
      console.error(
        "sotto: warning: no --public-url; passkeys and media URLs follow each request's Host header",
      );
    if (app) {
      const web = node.url.replace(/^ws/, 'http').replace('//127.0.0.1:', '//localhost:');
      console.log(`Sotto app on ${web}/${existsSync(WEB_DIST) ? '' : ' (web app not built: npm run build)'}`);
      if (app.bootstrapInvite) console.log(`First invite code (no accounts yet): ${app.bootstrapInvite}`);
    }
    return;
  }
  if (cmd === 'token') {
    const get = (k: string) => {
      const i = rest.indexOf(`--${k}`);
      return i >= 0 ? rest[i + 1] : undefined;
    };
    const room = get('room');
    const identity = get('identity');
    if (!room || !identity) throw new ConfigError('token needs --room and --identity');
    const keys = rest.includes('--dev') ? 'devkey:secret' : process.env.SOTTO_KEYS;
    if (!keys) throw new ConfigError('set SOTTO_KEYS or pass --dev');
    const [key, secret] = keys.split(',')[0].split(':');
    console.log(
      await signToken(key, secret, {
        identity,
        video: { roomJoin: true, room, canPublish: true, canSubscribe: true, canPublishData: true },
      }),
    );
    return;
  }
  console.log(USAGE);
  if (cmd && cmd !== 'help' && cmd !== '--help') process.exitCode = 2;
}

/**
 * The app server in the same process: it takes the node's non-media HTTP paths, drives the node
 * through its Twirp API over loopback like any RoomService client, and receives its webhooks.
 */
async function startApp(cfg: StartOptions, node: Awaited<ReturnType<typeof startMediaNode>>) {
  if (!cfg.app) throw new Error('app disabled');
  const [apiKey, apiSecret] = [...cfg.keys.entries()][0];
  const httpUrl = node.url.replace(/^ws/, 'http');
  // With a public URL, passkeys are bound to its host name and origin and clients get its
  // WebSocket URL; without one (dev), they follow the request's Host and Origin.
  const pub = cfg.app.publicUrl ? new URL(cfg.app.publicUrl) : undefined;
  const app = await createAppServer({
    database: cfg.app.database,
    media: { apiUrl: httpUrl, apiKey, apiSecret, publicUrl: pub?.origin.replace(/^http/, 'ws') },
    ...(pub ? { rpId: pub.hostname, origins: [pub.origin] } : {}),
    dev: cfg.dev,
    reportRetentionDays: cfg.app.reportRetentionDays,
    redisUrl: cfg.app.redisUrl,
    webDist: existsSync(WEB_DIST) ? WEB_DIST : undefined,
  });
  node.mountApp(app.handle);
  node.webhooks.addUrl(`${httpUrl}/api/media/webhook`);
  return app;
}

main(process.argv.slice(2)).catch((err) => {
  if (err instanceof ConfigError || err instanceof Error) console.error(`sotto: ${err.message}`);
  else console.error(err);
  process.exit(2);
});
