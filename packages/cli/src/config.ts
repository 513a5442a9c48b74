/** Flags and environment for `sotto start`, validated with clear messages. */

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import {
  type LogLevel,
  type MediaNodeConfig,
  type MediaTransportKind,
  mediaTransportKind,
  parseKeys,
} from '@sotto/media';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface StartOptions extends MediaNodeConfig {
  dev: boolean;
  logLevel: LogLevel;
  /** null: media node only (no app server, no web app). */
  app: { database: string; reportRetentionDays: number; publicUrl?: string; redisUrl?: string } | null;
}

const LEVELS: LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

const FLAGS = new Set([
  'dev',
  'host',
  'port',
  'udp-port',
  'keys-file',
  'public-ip',
  'tls-cert',
  'tls-key',
  'webhook',
  'log-level',
  'database',
  'report-retention-days',
  'media-only',
  'public-url',
  'redis',
  'media-transport',
]);

export function parseArgs(argv: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new ConfigError(`unexpected argument "${a}"`);
    const eq = a.indexOf('=');
    const k = eq < 0 ? a.slice(2) : a.slice(2, eq);
    const inline = eq < 0 ? undefined : a.slice(eq + 1);
    if (!FLAGS.has(k)) throw new ConfigError(`unknown flag --${k}`);
    let v = inline;
    if (v === undefined) v = k === 'dev' || k === 'media-only' ? 'true' : argv[++i];
    if (v === undefined) throw new ConfigError(`--${k} needs a value`);
    out.set(k, [...(out.get(k) ?? []), v]);
  }
  return out;
}

function port(name: string, raw: string, min = 1): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > 65535)
    throw new ConfigError(`${name} must be a port number ${min}-65535, got "${raw}"`);
  return n;
}

export function resolveConfig(argv: string[], env: NodeJS.ProcessEnv): StartOptions {
  const a = parseArgs(argv);
  const one = (k: string, envName: string) => a.get(k)?.at(-1) ?? env[envName];
  const devFlag = a.get('dev')?.at(-1);
  if (devFlag !== undefined && !['true', '1', 'false', '0'].includes(devFlag))
    throw new ConfigError(`--dev takes true or false, got "${devFlag}"`);
  const dev = devFlag === 'true' || devFlag === '1';
  const host = one('host', 'SOTTO_HOST') ?? '127.0.0.1';
  if (isIP(host) === 0) throw new ConfigError(`--host must be an IP address, got "${host}"`);
  const loopback = host === '127.0.0.1' || host === '::1' || host.startsWith('127.');
  if (dev && !loopback) throw new ConfigError('--dev binds to loopback only (devkey/secret are public)');
  const publicIp = one('public-ip', 'SOTTO_PUBLIC_IP');
  if (publicIp && isIP(publicIp) === 0)
    throw new ConfigError(`--public-ip must be an IP address, got "${publicIp}"`);
  let keys: Map<string, string>;
  const keysFile = one('keys-file', 'SOTTO_KEYS_FILE');
  try {
    if (keysFile) keys = parseKeys(readFileSync(keysFile, 'utf8'));
    else if (env.SOTTO_KEYS) keys = parseKeys(env.SOTTO_KEYS);
    else if (dev) keys = new Map([['devkey', 'secret']]);
    else throw new ConfigError('no API keys: set SOTTO_KEYS="key:secret", pass --keys-file, or use --dev');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`API keys: ${(err as Error).message}`);
  }
  const cert = one('tls-cert', 'SOTTO_TLS_CERT');
  const key = one('tls-key', 'SOTTO_TLS_KEY');
  if (!!cert !== !!key) throw new ConfigError('--tls-cert and --tls-key go together');
  const webhooks = [
    ...(a.get('webhook') ?? []),
    ...(env.SOTTO_WEBHOOK_URLS?.split(',').filter(Boolean) ?? []),
  ];
  for (const w of webhooks) {
    let ok = false;
    try {
      ok = ['http:', 'https:'].includes(new URL(w).protocol);
    } catch {
      ok = false;
    }
    if (!ok) throw new ConfigError(`webhook URL "${w}" is not an http(s) URL`);
  }
  const database = one('database', 'DATABASE_URL') ?? 'sqlite:./data/sotto.db';
  if (!/^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(database))
    throw new ConfigError(`--database must be sqlite:PATH or postgres://…, got "${database}"`);
  const retention = one('report-retention-days', 'SOTTO_REPORT_RETENTION_DAYS') ?? '90';
  if (!/^\d+$/.test(retention) || Number(retention) < 1 || Number(retention) > 3650)
    throw new ConfigError(
      `--report-retention-days must be a whole number of days 1-3650, got "${retention}"`,
    );
  const mediaOnly = a.get('media-only')?.at(-1) === 'true';
  const redisUrl = one('redis', 'SOTTO_REDIS_URL');
  if (redisUrl !== undefined && !/^rediss?:\/\/.+/.test(redisUrl))
    throw new ConfigError(`--redis must be a redis:// or rediss:// URL, got "${redisUrl}"`);
  const publicUrl = one('public-url', 'SOTTO_PUBLIC_URL');
  if (publicUrl !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(publicUrl);
    } catch {
      u = undefined;
    }
    if (!u || !['http:', 'https:'].includes(u.protocol) || u.pathname !== '/' || u.search || u.hash)
      throw new ConfigError(
        `--public-url must be an origin like https://rooms.example.org, got "${publicUrl}"`,
      );
  }
  const transportFlag = one('media-transport', 'SOTTO_MEDIA_TRANSPORT');
  let transport: MediaTransportKind | undefined;
  try {
    transport = transportFlag === undefined ? undefined : mediaTransportKind(transportFlag);
  } catch (err) {
    throw new ConfigError(`--media-transport: ${(err as Error).message}`);
  }
  const logLevel = (one('log-level', 'SOTTO_LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LEVELS.includes(logLevel)) throw new ConfigError(`--log-level must be one of ${LEVELS.join(', ')}`);
  return {
    dev,
    logLevel,
    host,
    httpPort: port('--port', one('port', 'SOTTO_PORT') ?? '7880', 0), // 0: any free port
    udpPort: port('--udp-port', one('udp-port', 'SOTTO_UDP_PORT') ?? '7882'),
    ...(transport ? { transport } : {}),
    keys,
    publicAddress: publicIp,
    tls: cert && key ? { certFile: cert, keyFile: key } : undefined,
    webhookUrls: webhooks,
    app: mediaOnly
      ? null
      : {
          database,
          reportRetentionDays: Number(retention),
          ...(publicUrl ? { publicUrl: new URL(publicUrl).origin } : {}),
          ...(redisUrl ? { redisUrl } : {}),
        },
  };
}
