#!/usr/bin/env node
/** sotto start | token — the all-in-one server and a token minting helper. */
import { setLogLevel, signToken, startMediaNode } from '@sotto/media';
import { ConfigError, resolveConfig } from './config.ts';

const USAGE = `usage:
  sotto start [--dev] [--host IP] [--port 7880] [--udp-port 7882] [--keys-file F]
              [--public-ip IP] [--tls-cert F --tls-key F] [--webhook URL]... [--log-level info]
  sotto token --room NAME --identity ID [--dev]    (prints a join token; keys from SOTTO_KEYS or --dev)

env: SOTTO_KEYS="key:secret,...", SOTTO_HOST, SOTTO_PORT, SOTTO_UDP_PORT, SOTTO_PUBLIC_IP,
     SOTTO_TLS_CERT, SOTTO_TLS_KEY, SOTTO_WEBHOOK_URLS, SOTTO_LOG_LEVEL`;

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (cmd === 'start') {
    const cfg = resolveConfig(rest, process.env);
    setLogLevel(cfg.logLevel);
    const node = await startMediaNode(cfg);
    const stop = async () => {
      await node.stop();
      process.exit(0);
    };
    // handlers first: a supervisor may signal as soon as it reads the ready line
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    console.log(
      `Sotto media node on ${node.url} (UDP ${cfg.udpPort})${cfg.dev ? ' — dev mode: key devkey, secret secret' : ''}`,
    );
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

main(process.argv.slice(2)).catch((err) => {
  if (err instanceof ConfigError || err instanceof Error) console.error(`sotto: ${err.message}`);
  else console.error(err);
  process.exit(2);
});
