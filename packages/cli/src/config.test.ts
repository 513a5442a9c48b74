import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, parseArgs, resolveConfig } from './config.ts';

/** Asserts a ConfigError whose message matches `re`. */
function configError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.name, 'ConfigError');
    assert.match(err.message, re);
    return true;
  });
}

const KEYS = { SOTTO_KEYS: 'prodkey:prod-secret-123456' };

let dir: string;
let keysFile: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sotto-config-test-'));
  keysFile = join(dir, 'keys.yaml');
  writeFileSync(
    keysFile,
    '# production keys\nAPIfile1: file-secret-abcdef\n\n# spare\nAPIfile2: another-secret-xyz\n',
  );
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('resolveConfig defaults', () => {
  it('--dev: loopback 7880, UDP 7882, devkey/secret, info logs', () => {
    const c = resolveConfig(['--dev'], {});
    assert.deepEqual(c, {
      dev: true,
      logLevel: 'info',
      host: '127.0.0.1',
      httpPort: 7880,
      udpPort: 7882,
      keys: new Map([['devkey', 'secret']]),
      publicAddress: undefined,
      tls: undefined,
      webhookUrls: [],
      app: { database: 'sqlite:./data/sotto.db', reportRetentionDays: 90 },
    });
  });

  it('without --dev, keys from SOTTO_KEYS and the same ports', () => {
    const c = resolveConfig([], KEYS);
    assert.equal(c.dev, false);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.httpPort, 7880);
    assert.equal(c.udpPort, 7882);
    assert.deepEqual([...c.keys], [['prodkey', 'prod-secret-123456']]);
  });

  it('SOTTO_KEYS replaces the dev key even with --dev', () => {
    const c = resolveConfig(['--dev'], { SOTTO_KEYS: 'a:secret-aaaaaa,b:secret-bbbbbb' });
    assert.deepEqual([...c.keys.keys()], ['a', 'b']);
    assert.equal(c.keys.get('devkey'), undefined);
  });
});

describe('resolveConfig from flags and environment', () => {
  it('reads every flag', () => {
    const c = resolveConfig(
      [
        '--host',
        '0.0.0.0',
        '--port=8443',
        '--udp-port',
        '50000',
        '--public-ip',
        '203.0.113.7',
        '--tls-cert',
        '/etc/sotto/cert.pem',
        '--tls-key=/etc/sotto/key.pem',
        '--webhook',
        'https://a.example/hook',
        '--webhook=http://127.0.0.1:9000/lk',
        '--log-level',
        'debug',
        '--database',
        'postgres://sotto@db.internal/sotto',
        '--report-retention-days=30',
        '--media-transport',
        'native',
      ],
      KEYS,
    );
    assert.deepEqual(c, {
      dev: false,
      logLevel: 'debug',
      host: '0.0.0.0',
      httpPort: 8443,
      udpPort: 50000,
      transport: 'native',
      keys: new Map([['prodkey', 'prod-secret-123456']]),
      publicAddress: '203.0.113.7',
      tls: { certFile: '/etc/sotto/cert.pem', keyFile: '/etc/sotto/key.pem' },
      webhookUrls: ['https://a.example/hook', 'http://127.0.0.1:9000/lk'],
      app: { database: 'postgres://sotto@db.internal/sotto', reportRetentionDays: 30 },
    });
  });

  it('--public-url (or SOTTO_PUBLIC_URL) is kept as an origin', () => {
    assert.equal(
      resolveConfig(['--dev', '--public-url', 'https://Rooms.Example.org/'], {}).app?.publicUrl,
      'https://rooms.example.org',
    );
    assert.equal(
      resolveConfig(['--dev'], { SOTTO_PUBLIC_URL: 'http://localhost:7880' }).app?.publicUrl,
      'http://localhost:7880',
    );
  });

  it('--redis (or SOTTO_REDIS_URL) for the real-time bus', () => {
    assert.equal(
      resolveConfig(['--dev', '--redis', 'redis://10.0.0.5:6379'], {}).app?.redisUrl,
      'redis://10.0.0.5:6379',
    );
    assert.equal(
      resolveConfig(['--dev'], { SOTTO_REDIS_URL: 'rediss://r.internal' }).app?.redisUrl,
      'rediss://r.internal',
    );
    configError(() => resolveConfig(['--dev', '--redis', 'http://x'], {}), /--redis must be a redis:\/\//);
  });

  it('--media-transport (or SOTTO_MEDIA_TRANSPORT) picks the media transport', () => {
    assert.equal(resolveConfig(['--dev', '--media-transport', 'native'], {}).transport, 'native');
    assert.equal(resolveConfig(['--dev'], { SOTTO_MEDIA_TRANSPORT: 'datachannel' }).transport, 'datachannel');
    configError(
      () => resolveConfig(['--dev', '--media-transport', 'quic'], {}),
      /--media-transport: unknown media transport "quic"/,
    );
  });

  it('DATABASE_URL and --media-only (no app server)', () => {
    assert.deepEqual(resolveConfig(['--dev'], { DATABASE_URL: 'postgresql://localhost/x' }).app, {
      database: 'postgresql://localhost/x',
      reportRetentionDays: 90,
    });
    assert.equal(resolveConfig(['--dev', '--media-only'], {}).app, null);
  });

  it('reads the SOTTO_* environment', () => {
    const c = resolveConfig([], {
      ...KEYS,
      SOTTO_HOST: '::',
      SOTTO_PORT: '9000',
      SOTTO_UDP_PORT: '9001',
      SOTTO_PUBLIC_IP: '2001:db8::1',
      SOTTO_TLS_CERT: 'c.pem',
      SOTTO_TLS_KEY: 'k.pem',
      SOTTO_WEBHOOK_URLS: 'https://x.example/1,,https://y.example/2',
      SOTTO_LOG_LEVEL: 'warn',
    });
    assert.equal(c.host, '::');
    assert.equal(c.httpPort, 9000);
    assert.equal(c.udpPort, 9001);
    assert.equal(c.publicAddress, '2001:db8::1');
    assert.deepEqual(c.tls, { certFile: 'c.pem', keyFile: 'k.pem' });
    assert.deepEqual(c.webhookUrls, ['https://x.example/1', 'https://y.example/2']);
    assert.equal(c.logLevel, 'warn');
  });

  it('flags win over the environment, the last repeated flag wins, webhooks add up', () => {
    const c = resolveConfig(['--port', '7000', '--port', '7001', '--webhook', 'https://flag.example/'], {
      ...KEYS,
      SOTTO_PORT: '9000',
      SOTTO_WEBHOOK_URLS: 'https://env.example/',
    });
    assert.equal(c.httpPort, 7001);
    assert.deepEqual(c.webhookUrls, ['https://flag.example/', 'https://env.example/']);
  });

  it('reads a keys file (with comments), preferred over SOTTO_KEYS', () => {
    const c = resolveConfig(['--keys-file', keysFile], KEYS);
    assert.deepEqual(
      [...c.keys],
      [
        ['APIfile1', 'file-secret-abcdef'],
        ['APIfile2', 'another-secret-xyz'],
      ],
    );
    const viaEnv = resolveConfig([], { SOTTO_KEYS_FILE: keysFile });
    assert.equal(viaEnv.keys.get('APIfile2'), 'another-secret-xyz');
  });

  it('allows --dev on any loopback address', () => {
    assert.equal(resolveConfig(['--dev', '--host', '::1'], {}).host, '::1');
    assert.equal(resolveConfig(['--dev', '--host', '127.0.0.2'], {}).host, '127.0.0.2');
  });
});

describe('resolveConfig errors', () => {
  it('unknown flag, positional argument, flag without value', () => {
    configError(() => resolveConfig(['--dev', '--verbose'], {}), /unknown flag --verbose/);
    configError(() => resolveConfig(['--prot=1'], {}), /unknown flag --prot/);
    configError(() => resolveConfig(['start'], {}), /unexpected argument "start"/);
    configError(() => resolveConfig(['-p', '80'], {}), /unexpected argument "-p"/);
    configError(() => resolveConfig(['--dev', '--port'], {}), /--port needs a value/);
  });

  it('port out of range or not a number', () => {
    for (const bad of ['65536', '99999', 'abc', '-1', '80.5', '1e3', ' 80', ''])
      configError(
        () => resolveConfig(['--dev', `--port=${bad}`], {}),
        /--port must be a port number 0-65535/,
      );
    // --port 0 means any free port; the media port must be fixed (it goes into every answer)
    assert.equal(resolveConfig(['--dev', '--port=0'], {}).httpPort, 0);
    configError(
      () => resolveConfig(['--dev', '--udp-port=0'], {}),
      /--udp-port must be a port number 1-65535/,
    );
    configError(
      () => resolveConfig(['--dev', '--udp-port', '70000'], {}),
      /--udp-port must be a port number/,
    );
    configError(
      () => resolveConfig(['--dev'], { SOTTO_UDP_PORT: 'x' }),
      /--udp-port must be a port number.*"x"/,
    );
    assert.equal(resolveConfig(['--dev', '--port', '65535'], {}).httpPort, 65535);
    assert.equal(resolveConfig(['--dev', '--port', '1'], {}).httpPort, 1);
  });

  it('host that is not an IP address', () => {
    configError(
      () => resolveConfig(['--dev', '--host', 'localhost'], {}),
      /--host must be an IP address, got "localhost"/,
    );
    configError(
      () => resolveConfig([], { ...KEYS, SOTTO_HOST: 'example.com' }),
      /--host must be an IP address/,
    );
    configError(() => resolveConfig(['--host', '256.0.0.1'], KEYS), /--host must be an IP address/);
  });

  it('--dev with a non-loopback host', () => {
    configError(() => resolveConfig(['--dev', '--host', '0.0.0.0'], {}), /--dev binds to loopback only/);
    configError(() => resolveConfig(['--dev', '--host', '192.168.1.10'], {}), /--dev binds to loopback only/);
    configError(() => resolveConfig(['--dev', '--host', '::'], {}), /--dev binds to loopback only/);
  });

  it('public IP that is not an IP address', () => {
    configError(
      () => resolveConfig(['--dev', '--public-ip', 'media.example.com'], {}),
      /--public-ip must be an IP/,
    );
  });

  it('TLS certificate without key, or key without certificate', () => {
    configError(
      () => resolveConfig(['--dev', '--tls-cert', 'c.pem'], {}),
      /--tls-cert and --tls-key go together/,
    );
    configError(
      () => resolveConfig(['--dev', '--tls-key', 'k.pem'], {}),
      /--tls-cert and --tls-key go together/,
    );
    configError(() => resolveConfig(['--dev'], { SOTTO_TLS_CERT: 'c.pem' }), /go together/);
  });

  it('webhook URL that does not parse', () => {
    configError(
      () => resolveConfig(['--dev', '--webhook', 'not a url'], {}),
      /webhook URL "not a url" is not an http\(s\) URL/,
    );
    configError(
      () => resolveConfig(['--dev'], { SOTTO_WEBHOOK_URLS: 'https://ok.example/,/relative/path' }),
      /webhook URL "\/relative\/path" is not an http\(s\) URL/,
    );
  });

  it('log level that does not exist', () => {
    configError(
      () => resolveConfig(['--dev', '--log-level', 'verbose'], {}),
      /--log-level must be one of debug, info, warn, error, silent/,
    );
    configError(() => resolveConfig(['--dev'], { SOTTO_LOG_LEVEL: 'INFO' }), /--log-level must be one of/);
    assert.equal(resolveConfig(['--dev', '--log-level', 'silent'], {}).logLevel, 'silent');
  });

  it('database URL or retention it cannot use', () => {
    configError(() => resolveConfig(['--dev', '--database', 'mysql://x'], {}), /--database must be/);
    configError(() => resolveConfig(['--dev', '--database', 'sqlite:'], {}), /--database must be/);
    for (const days of ['0', '-1', 'soon', '3651'])
      configError(
        () => resolveConfig(['--dev', '--report-retention-days', days], {}),
        /--report-retention-days must be a whole number of days 1-3650/,
      );
  });

  it('a public URL that is not a bare http(s) origin', () => {
    for (const bad of ['rooms.example.org', 'ftp://x.org', 'https://x.org/app', 'https://x.org/?a=1'])
      configError(() => resolveConfig(['--dev', '--public-url', bad], {}), /--public-url must be an origin/);
  });

  it('no keys without --dev', () => {
    configError(
      () => resolveConfig([], {}),
      /^no API keys: set SOTTO_KEYS="key:secret", pass --keys-file, or use --dev/,
    );
    configError(() => resolveConfig(['--host', '0.0.0.0'], { SOTTO_KEYS: '' }), /no API keys/);
  });

  it('bad keys from the environment or a file', () => {
    configError(
      () => resolveConfig([], { SOTTO_KEYS: 'k:short' }),
      /^API keys: secret for "k" is too short$/,
    );
    configError(() => resolveConfig([], { SOTTO_KEYS: 'nocolon' }), /^API keys: bad key entry/);
    configError(() => resolveConfig(['--keys-file', join(dir, 'missing.yaml')], {}), /^API keys: .*ENOENT/);
    const empty = join(dir, 'empty.yaml');
    writeFileSync(empty, '# nothing here\n');
    configError(() => resolveConfig(['--dev', '--keys-file', empty], {}), /^API keys: no API keys given$/);
  });
});

describe('parseArgs', () => {
  it('collects repeated flags and treats a bare --dev as true', () => {
    const a = parseArgs(['--dev', '--webhook', 'u1', '--webhook=u2']);
    assert.deepEqual(
      [...a],
      [
        ['dev', ['true']],
        ['webhook', ['u1', 'u2']],
      ],
    );
  });

  it('keeps everything after the first "=" of an inline value', () => {
    const c = resolveConfig(['--dev', '--webhook=https://hooks.example/lk?token=abc&v=2'], {});
    assert.deepEqual(c.webhookUrls, ['https://hooks.example/lk?token=abc&v=2']);
  });

  it('does not turn dev mode on for --dev=false', () => {
    configError(() => resolveConfig(['--dev=false'], {}), /no API keys|--dev/);
  });

  it('rejects a webhook URL that is not http(s)', () => {
    configError(() => resolveConfig(['--dev', '--webhook', 'localhost:3000/hook'], {}), /webhook/);
    configError(() => resolveConfig(['--dev', '--webhook', 'ftp://files.example/hook'], {}), /webhook/);
  });
});
