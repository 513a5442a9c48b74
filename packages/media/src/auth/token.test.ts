import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { AccessToken, TrackSource } from 'livekit-server-sdk';
import { MediaError } from '../util/errors.ts';
import {
  type KeyStore,
  parseKeys,
  requireJoinGrant,
  signToken,
  type TokenClaims,
  verifyToken,
} from './token.ts';

const KEY = 'APIkey1';
const SECRET = 'a-long-enough-secret-for-hs256-0123456789';
const keys: KeyStore = new Map([
  [KEY, SECRET],
  ['other', 'another-secret-value-9876543210'],
]);
const enc = new TextEncoder();

function b64url(obj: unknown): string {
  return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

/** Asserts that `p` rejects with a MediaError of the given status and code. */
async function rejectsWith(p: Promise<unknown>, status: number, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof MediaError, `expected MediaError, got ${String(err)}`);
    assert.equal(err.status, status);
    assert.equal(err.code, code);
    return true;
  });
}

function throwsWith(fn: () => unknown, status: number, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MediaError, `expected MediaError, got ${String(err)}`);
    assert.equal(err.status, status);
    assert.equal(err.code, code);
    return true;
  });
}

function claims(video: TokenClaims['video'], identity = 'alice'): TokenClaims {
  return { apiKey: KEY, identity, name: '', metadata: '', attributes: {}, video, expiresAt: 0 };
}

describe('verifyToken with tokens from signToken', () => {
  it('returns the claims it was signed with', async () => {
    const before = Date.now();
    const token = await signToken(
      KEY,
      SECRET,
      {
        identity: 'alice',
        name: 'Alice',
        metadata: '{"role":"host"}',
        video: { roomJoin: true, room: 'r1', canPublish: true, canSubscribe: true },
      },
      600,
    );
    const c = await verifyToken(token, keys);
    assert.equal(c.apiKey, KEY);
    assert.equal(c.identity, 'alice');
    assert.equal(c.name, 'Alice');
    assert.equal(c.metadata, '{"role":"host"}');
    assert.deepEqual(c.attributes, {});
    assert.deepEqual(c.video, { roomJoin: true, room: 'r1', canPublish: true, canSubscribe: true });
    assert.equal(c.sha256, undefined);
    // exp is in whole seconds, ~600 s from now, reported in milliseconds
    assert.ok(c.expiresAt >= Math.floor(before / 1000) * 1000 + 600_000, `expiresAt ${c.expiresAt}`);
    assert.ok(c.expiresAt <= Date.now() + 600_000, `expiresAt ${c.expiresAt}`);
    assert.equal(c.expiresAt % 1000, 0);
  });

  it('carries the sha256 claim of webhook tokens', async () => {
    const token = await signToken(KEY, SECRET, { sha256: 'abc+/=' });
    const c = await verifyToken(token, keys);
    assert.equal(c.sha256, 'abc+/=');
    assert.equal(c.identity, '');
    assert.equal(c.name, '');
    assert.deepEqual(c.video, {});
  });

  it('uses the secret of the key named in iss', async () => {
    const token = await signToken('other', 'another-secret-value-9876543210', { identity: 'bob' });
    const c = await verifyToken(token, keys);
    assert.equal(c.apiKey, 'other');
    assert.equal(c.identity, 'bob');
  });

  it('accepts a token within the 10 s clock tolerance on either side', async () => {
    const token = await signToken(KEY, SECRET, { identity: 'a' }, 60);
    await verifyToken(token, keys, Date.now() + 65_000); // exp passed by ~5 s
    await verifyToken(token, keys, Date.now() - 5_000); // nbf ahead by ~5 s
  });
});

describe('verifyToken with tokens from livekit-server-sdk AccessToken', () => {
  it('maps identity, name, metadata, attributes and every video grant field', async () => {
    const at = new AccessToken(KEY, SECRET, {
      identity: 'speaker-1',
      name: 'Speaker One',
      metadata: 'meta-data',
      attributes: { seat: '3', lang: 'en' },
      ttl: 120,
    });
    at.addGrant({
      roomJoin: true,
      room: 'r',
      canPublish: false,
      canSubscribe: true,
      canPublishData: true,
      canPublishSources: [TrackSource.MICROPHONE],
      canUpdateOwnMetadata: true,
      hidden: true,
      roomAdmin: true,
      roomCreate: true,
      roomList: true,
      roomRecord: false,
      recorder: false,
      agent: false,
    });
    const token = await at.toJwt();
    const c = await verifyToken(token, keys);
    assert.equal(c.apiKey, KEY);
    assert.equal(c.identity, 'speaker-1');
    assert.equal(c.name, 'Speaker One');
    assert.equal(c.metadata, 'meta-data');
    assert.deepEqual(c.attributes, { seat: '3', lang: 'en' });
    assert.equal(c.video.roomJoin, true);
    assert.equal(c.video.room, 'r');
    assert.equal(c.video.canPublish, false);
    assert.equal(c.video.canSubscribe, true);
    assert.equal(c.video.canPublishData, true);
    assert.deepEqual(c.video.canPublishSources, ['microphone']);
    assert.equal(c.video.canUpdateOwnMetadata, true);
    assert.equal(c.video.hidden, true);
    assert.equal(c.video.roomAdmin, true);
    assert.equal(c.video.roomCreate, true);
    assert.equal(c.video.roomList, true);
    assert.equal(c.video.roomRecord, false);
    assert.equal(c.video.recorder, false);
    assert.equal(c.video.agent, false);
    assert.ok(Math.abs(c.expiresAt - (Date.now() + 120_000)) < 2_000, `expiresAt ${c.expiresAt}`);
    assert.deepEqual(requireJoinGrant(c), { room: 'r', identity: 'speaker-1' });
  });

  it('gives empty defaults for a token with only a grant', async () => {
    const at = new AccessToken(KEY, SECRET, { identity: 'x' });
    at.addGrant({ roomList: true });
    const c = await verifyToken(await at.toJwt(), keys);
    assert.equal(c.identity, 'x');
    assert.equal(c.name, '');
    assert.equal(c.metadata, '');
    assert.deepEqual(c.attributes, {});
    assert.deepEqual(c.video, { roomList: true });
  });

  it('rejects an AccessToken signed with another secret', async () => {
    const at = new AccessToken(KEY, 'not-the-secret-we-know-about', { identity: 'x' });
    at.addGrant({ roomJoin: true, room: 'r' });
    await rejectsWith(verifyToken(await at.toJwt(), keys), 401, 'bad_signature');
  });

  it('rejects an expired AccessToken', async () => {
    const at = new AccessToken(KEY, SECRET, { identity: 'x', ttl: 30 });
    await rejectsWith(verifyToken(await at.toJwt(), keys, Date.now() + 60_000), 401, 'token_expired');
  });
});

describe('verifyToken errors', () => {
  it('missing token → 401 missing_token', async () => {
    await rejectsWith(verifyToken('', keys), 401, 'missing_token');
  });

  it('malformed JWT → 401 malformed_token', async () => {
    await rejectsWith(verifyToken('not-a-jwt', keys), 401, 'malformed_token');
    await rejectsWith(verifyToken('a.b.c', keys), 401, 'malformed_token');
    await rejectsWith(
      verifyToken(`${b64url({ alg: 'HS256' })}.bm90LWpzb24.sig`, keys),
      401,
      'malformed_token',
    );
  });

  it('unknown api key (iss) → 401 unknown_api_key', async () => {
    const token = await signToken('stranger', SECRET, { identity: 'a' });
    await rejectsWith(verifyToken(token, keys), 401, 'unknown_api_key');
    const noIss = await new SignJWT({ sub: 'a' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(enc.encode(SECRET));
    await rejectsWith(verifyToken(noIss, keys), 401, 'unknown_api_key');
  });

  it('bad signature → 401 bad_signature', async () => {
    const wrongSecret = await signToken(KEY, 'some-other-secret-000000', { identity: 'a' });
    await rejectsWith(verifyToken(wrongSecret, keys), 401, 'bad_signature');
    // a payload swapped under a genuine signature
    const genuine = await signToken(KEY, SECRET, { identity: 'a', video: { roomJoin: true, room: 'r' } });
    const [h, p, s] = genuine.split('.');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    payload.video.roomAdmin = true;
    await rejectsWith(verifyToken(`${h}.${b64url(payload)}.${s}`, keys), 401, 'bad_signature');
  });

  it('expired (by the now parameter) → 401 token_expired', async () => {
    const token = await signToken(KEY, SECRET, { identity: 'a' }, 60);
    await verifyToken(token, keys, Date.now() + 30_000);
    await rejectsWith(verifyToken(token, keys, Date.now() + 72_000), 401, 'token_expired');
  });

  it('not yet valid (nbf) → 401 token_not_yet_valid', async () => {
    const token = await signToken(KEY, SECRET, { identity: 'a' });
    await rejectsWith(verifyToken(token, keys, Date.now() - 60_000), 401, 'token_not_yet_valid');
    const future = await new SignJWT({ sub: 'a' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(KEY)
      .setNotBefore('1h')
      .setExpirationTime('2h')
      .sign(enc.encode(SECRET));
    await rejectsWith(verifyToken(future, keys), 401, 'token_not_yet_valid');
  });

  it('HS512 with the right secret → 401 bad_algorithm', async () => {
    const token = await new SignJWT({ sub: 'a', video: { roomJoin: true, room: 'r' } })
      .setProtectedHeader({ alg: 'HS512' })
      .setIssuer(KEY)
      .setExpirationTime('1h')
      .sign(enc.encode(SECRET));
    await rejectsWith(verifyToken(token, keys), 401, 'bad_algorithm');
  });

  it('alg none crafted by hand → 401 bad_algorithm', async () => {
    const now = Math.floor(Date.now() / 1000);
    const body = { iss: KEY, sub: 'mallory', exp: now + 3600, video: { roomJoin: true, room: 'r' } };
    await rejectsWith(
      verifyToken(`${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(body)}.`, keys),
      401,
      'bad_algorithm',
    );
    // with the header claiming HS256 but no signature at all
    await rejectsWith(
      verifyToken(`${b64url({ alg: 'HS256' })}.${b64url(body)}.`, keys),
      401,
      'bad_signature',
    );
  });

  it('other JWS problems → 401 invalid_token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const body = { iss: KEY, sub: 'a', exp: now + 3600 };
    // unparseable protected header (the payload alone decodes fine)
    await rejectsWith(verifyToken(`bm9wZQ.${b64url(body)}.c2ln`, keys), 401, 'invalid_token');
  });

  it('a token without exp is rejected (LiveKit requires exp since livekit/protocol#1706)', async () => {
    const token = await new SignJWT({ sub: 'a', video: { roomJoin: true, room: 'r' } })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(KEY)
      .sign(enc.encode(SECRET));
    await assert.rejects(verifyToken(token, keys, Date.now() + 10 * 365 * 86400_000), MediaError);
  });
});

describe('requireJoinGrant', () => {
  it('returns room and identity', () => {
    assert.deepEqual(requireJoinGrant(claims({ roomJoin: true, room: 'r' })), {
      room: 'r',
      identity: 'alice',
    });
  });

  it('no roomJoin → 403 missing_grant', () => {
    throwsWith(() => requireJoinGrant(claims({ room: 'r' })), 403, 'missing_grant');
    throwsWith(
      () => requireJoinGrant(claims({ roomJoin: false, room: 'r', roomAdmin: true })),
      403,
      'missing_grant',
    );
  });

  it('no room → 403 missing_grant', () => {
    throwsWith(() => requireJoinGrant(claims({ roomJoin: true })), 403, 'missing_grant');
    throwsWith(() => requireJoinGrant(claims({ roomJoin: true, room: '' })), 403, 'missing_grant');
  });

  it('no identity → 403 missing_identity', () => {
    throwsWith(() => requireJoinGrant(claims({ roomJoin: true, room: 'r' }, '')), 403, 'missing_identity');
  });

  it('works on claims verified from a token without sub', async () => {
    const token = await signToken(KEY, SECRET, { video: { roomJoin: true, room: 'r' } });
    const c = await verifyToken(token, keys);
    throwsWith(() => requireJoinGrant(c), 403, 'missing_identity');
  });
});

describe('parseKeys', () => {
  it('parses the SOTTO_KEYS env form', () => {
    const k = parseKeys('devkey:secret,prod: s3cr3t-value ');
    assert.deepEqual(
      [...k],
      [
        ['devkey', 'secret'],
        ['prod', 's3cr3t-value'],
      ],
    );
  });

  it('parses a keys file with comments, blank lines and CRLF', () => {
    const text = [
      '# Sotto API keys',
      '',
      'APIabc: 0123456789abcdef',
      '   # indented comment',
      'APIdef:fedcba9876543210\r',
      'APIcolon: sec:ret:with:colons',
      '',
    ].join('\n');
    const k = parseKeys(text);
    assert.deepEqual(
      [...k],
      [
        ['APIabc', '0123456789abcdef'],
        ['APIdef', 'fedcba9876543210'],
        ['APIcolon', 'sec:ret:with:colons'],
      ],
    );
  });

  it('the last entry for a key wins', () => {
    assert.equal(parseKeys('k:first-secret\nk:second-secret').get('k'), 'second-secret');
  });

  it('rejects an entry without a colon or without a key', () => {
    assert.throws(() => parseKeys('justakey'), /bad key entry .*expected key:secret/);
    assert.throws(() => parseKeys(':secret123'), /expected key:secret/);
    assert.throws(() => parseKeys('good:secret123\nbad'), /expected key:secret/);
  });

  it('rejects an empty secret', () => {
    assert.throws(() => parseKeys('key:'), /bad key entry for "key": empty key or secret/);
    assert.throws(() => parseKeys('key:   '), /empty key or secret/);
    assert.throws(() => parseKeys('  : secret123'), /expected key:secret/);
  });

  it('rejects a secret shorter than 6 characters', () => {
    assert.throws(() => parseKeys('key:abcde'), /secret for "key" is too short/);
    assert.equal(parseKeys('key:abcdef').get('key'), 'abcdef');
  });

  it('rejects empty input and input with only comments', () => {
    assert.throws(() => parseKeys(''), /no API keys given/);
    assert.throws(() => parseKeys(' , ,\n'), /no API keys given/);
    assert.throws(() => parseKeys('# just a comment\n\n'), /no API keys given/);
  });
});
