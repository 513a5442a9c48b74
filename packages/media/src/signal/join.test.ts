import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  ConnectionSettings,
  JoinRequest,
  SessionDescription,
  WrappedJoinRequest,
  WrappedJoinRequest_Compression,
} from '@livekit/protocol';
import { MediaError } from '../util/errors.ts';
import { parseJoin, signalPath, tokenFrom } from './join.ts';

const OFFER_SDP = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:Xk2b',
  'a=ice-pwd:9Qd4bV1LxUf0nZjE3mR6sTyW',
  'a=mid:0',
  'a=sendonly',
  'a=rtpmap:111 opus/48000/2',
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
  'a=mid:1',
  'a=sctp-port:5000',
  '',
].join('\r\n');

type Compression = 'none' | 'gzip';

function wrap(req: JoinRequest | Uint8Array, compression: Compression): Uint8Array {
  const bytes = req instanceof JoinRequest ? req.toBinary() : req;
  return new WrappedJoinRequest({
    compression:
      compression === 'gzip' ? WrappedJoinRequest_Compression.GZIP : WrappedJoinRequest_Compression.NONE,
    joinRequest: compression === 'gzip' ? gzipSync(bytes) : bytes,
  }).toBinary();
}

function v1Url(joinRequest: string, extra: Record<string, string> = {}): URL {
  const u = new URL('wss://media.example:7880/rtc/v1');
  for (const [k, v] of Object.entries(extra)) u.searchParams.set(k, v);
  u.searchParams.set('join_request', joinRequest);
  return u;
}

const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');
/** What livekit-client 2.x puts in the URL: standard base64 with + and / swapped, padding kept. */
const livekitClientB64 = (b: Uint8Array) =>
  Buffer.from(b).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');

function throwsMedia(fn: () => unknown, status: number, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MediaError, `expected MediaError, got ${String(err)}`);
    assert.equal(err.status, status);
    assert.equal(err.code, code);
    return true;
  });
}

describe('tokenFrom', () => {
  it('takes access_token from the query first', () => {
    assert.equal(tokenFrom(new URL('ws://h/rtc?access_token=q.t.k'), 'Bearer h.t.k'), 'q.t.k');
    assert.equal(tokenFrom(new URL('ws://h/rtc?access_token=q.t.k'), undefined), 'q.t.k');
  });

  it('falls back to an Authorization: Bearer header', () => {
    assert.equal(tokenFrom(new URL('ws://h/rtc'), 'Bearer h.t.k'), 'h.t.k');
    assert.equal(tokenFrom(new URL('ws://h/rtc'), 'bearer   h.t.k'), 'h.t.k');
    assert.equal(tokenFrom(new URL('ws://h/rtc?access_token='), 'Bearer h.t.k'), 'h.t.k');
  });

  it('is empty without a usable token', () => {
    assert.equal(tokenFrom(new URL('ws://h/rtc'), undefined), '');
    assert.equal(tokenFrom(new URL('ws://h/rtc'), ''), '');
    assert.equal(tokenFrom(new URL('ws://h/rtc'), 'Basic dXNlcjpwYXNz'), '');
    assert.equal(tokenFrom(new URL('ws://h/rtc'), 'Bearer'), '');
    assert.equal(tokenFrom(new URL('ws://h/rtc'), 'Bearer a b'), '');
  });
});

describe('signalPath', () => {
  it('recognises /rtc and /rtc/v1 with trailing slashes and /validate', () => {
    const cases: [string, string][] = [
      ['/rtc', '/rtc'],
      ['/rtc/', '/rtc'],
      ['/rtc//', '/rtc'],
      ['/rtc/validate', '/rtc'],
      ['/rtc/validate/', '/rtc'],
      ['/rtc/v1', '/rtc/v1'],
      ['/rtc/v1/', '/rtc/v1'],
      ['/rtc/v1/validate', '/rtc/v1'],
      ['/rtc/v1/validate/', '/rtc/v1'],
    ];
    for (const [path, expected] of cases) assert.equal(signalPath(path), expected, path);
  });

  it('is undefined for anything else', () => {
    for (const path of [
      '',
      '/',
      '/validate',
      '/rtcx',
      '/rtc/v2',
      '/rtc/v1/join',
      '/rtc/validate/validate',
      '/api/rtc',
      '/RTC',
      '/twirp/livekit.RoomService/ListRooms',
    ])
      assert.equal(signalPath(path), undefined, path);
  });
});

describe('parseJoin on /rtc (query parameters)', () => {
  it('reads the parameters livekit-client sends', () => {
    const url = new URL(
      'wss://h/rtc?access_token=tok&auto_subscribe=0&sdk=js&version=2.15.0&protocol=16&adaptive_stream=1&reconnect=1&sid=PA_abc123&reconnect_reason=1',
    );
    assert.deepEqual(parseJoin(url, undefined), {
      singlePc: false,
      token: 'tok',
      autoSubscribe: false,
      reconnect: true,
      participantSid: 'PA_abc123',
    });
  });

  it('defaults to auto-subscribe, no reconnect, no sid', () => {
    assert.deepEqual(parseJoin(new URL('ws://h/rtc'), 'Bearer hdr'), {
      singlePc: false,
      token: 'hdr',
      autoSubscribe: true,
      reconnect: false,
      participantSid: '',
    });
  });

  it('accepts 1/true for flags and treats anything else as false', () => {
    const j = parseJoin(new URL('ws://h/rtc/?auto_subscribe=true&reconnect=true'), undefined);
    assert.equal(j.autoSubscribe, true);
    assert.equal(j.reconnect, true);
    const k = parseJoin(new URL('ws://h/rtc?auto_subscribe=false&reconnect=0'), undefined);
    assert.equal(k.autoSubscribe, false);
    assert.equal(k.reconnect, false);
  });

  it('works on the /validate path', () => {
    assert.equal(parseJoin(new URL('http://h/rtc/validate?access_token=v'), undefined).token, 'v');
  });

  it('throws 404 for a path that is not a signal endpoint', () => {
    throwsMedia(() => parseJoin(new URL('ws://h/other?access_token=t'), undefined), 404, 'not_found');
  });
});

describe('parseJoin on /rtc/v1 (join_request)', () => {
  const full = new JoinRequest({
    connectionSettings: new ConnectionSettings({ autoSubscribe: false, adaptiveStream: true }),
    metadata: '{"hand":"raised"}',
    participantAttributes: { seat: '4', lang: 'de' },
    publisherOffer: new SessionDescription({ type: 'offer', sdp: OFFER_SDP, id: 3 }),
    reconnect: false,
  });

  for (const compression of ['none', 'gzip'] as const) {
    it(`decodes a ${compression} WrappedJoinRequest with a publisher offer`, () => {
      const j = parseJoin(v1Url(b64url(wrap(full, compression)), { access_token: 'tok' }), undefined);
      assert.equal(j.singlePc, true);
      assert.equal(j.token, 'tok');
      assert.equal(j.autoSubscribe, false);
      assert.equal(j.reconnect, false);
      assert.equal(j.participantSid, '');
      assert.equal(j.metadata, '{"hand":"raised"}');
      assert.deepEqual(j.attributes, { seat: '4', lang: 'de' });
      assert.ok(j.publisherOffer);
      assert.equal(j.publisherOffer.type, 'offer');
      assert.equal(j.publisherOffer.sdp, OFFER_SDP);
      assert.equal(j.publisherOffer.id, 3);
    });

    it(`decodes a ${compression} reconnect with participantSid`, () => {
      const req = new JoinRequest({
        connectionSettings: new ConnectionSettings({ autoSubscribe: true }),
        reconnect: true,
        participantSid: 'PA_Zx81',
      });
      const j = parseJoin(v1Url(b64url(wrap(req, compression))), 'Bearer hdr');
      assert.equal(j.token, 'hdr');
      assert.equal(j.reconnect, true);
      assert.equal(j.participantSid, 'PA_Zx81');
      assert.equal(j.autoSubscribe, true);
      assert.equal(j.publisherOffer, undefined);
      assert.equal(j.metadata, undefined);
      assert.equal(j.attributes, undefined);
    });
  }

  it('accepts the base64 livekit-client produces (padding kept, through URLSearchParams)', () => {
    // find a request whose encoding has padding and both substituted characters
    let raw = '';
    for (let n = 0; n < 200 && !(raw.endsWith('=') && /-/.test(raw) && /_/.test(raw)); n++) {
      const req = new JoinRequest({
        metadata: `m${'x'.repeat(n)}\u00ff\u00fb\u00ef`,
        participantSid: `PA_${n}`,
      });
      raw = livekitClientB64(wrap(req, 'gzip'));
    }
    assert.ok(raw.endsWith('=') && raw.includes('-') && raw.includes('_'), raw);
    const url = new URL(`wss://h/rtc/v1?${new URLSearchParams({ join_request: raw })}`);
    const j = parseJoin(url, undefined);
    assert.match(j.participantSid, /^PA_\d+$/);
    assert.match(j.metadata ?? '', /^mx*\u00ff\u00fb\u00ef$/);
  });

  it('defaults autoSubscribe to true without connectionSettings', () => {
    const j = parseJoin(v1Url(b64url(wrap(new JoinRequest({ participantSid: 'PA_1' }), 'none'))), undefined);
    assert.deepEqual(j, {
      singlePc: true,
      token: '',
      autoSubscribe: true,
      reconnect: false,
      participantSid: 'PA_1',
      publisherOffer: undefined,
      metadata: undefined,
      attributes: undefined,
    });
  });

  it('is a plain single-PC join without join_request', () => {
    assert.deepEqual(parseJoin(new URL('ws://h/rtc/v1?access_token=t'), undefined), {
      singlePc: true,
      token: 't',
      autoSubscribe: true,
      reconnect: false,
      participantSid: '',
    });
  });

  it('ignores the /rtc query flags on /rtc/v1', () => {
    const req = new JoinRequest({ connectionSettings: new ConnectionSettings({ autoSubscribe: true }) });
    const j = parseJoin(
      v1Url(b64url(wrap(req, 'none')), { auto_subscribe: '0', reconnect: '1', sid: 'PA_q' }),
      undefined,
    );
    assert.equal(j.autoSubscribe, true);
    assert.equal(j.reconnect, false);
    assert.equal(j.participantSid, '');
  });

  it('accepts a gzip request that inflates to just under 64 KiB', () => {
    const req = new JoinRequest({ metadata: 'a'.repeat(60 * 1024), participantSid: 'PA_big' });
    const j = parseJoin(v1Url(b64url(wrap(req, 'gzip'))), undefined);
    assert.equal(j.participantSid, 'PA_big');
    assert.equal(j.metadata?.length, 60 * 1024);
  });
});

describe('parseJoin errors', () => {
  it('undecodable protobuf → 400 malformed_join_request', () => {
    for (const bytes of [
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
      Buffer.from('hello world'),
      Buffer.from([0x00, 0x00, 0x00]),
    ])
      throwsMedia(() => parseJoin(v1Url(b64url(bytes)), undefined), 400, 'malformed_join_request');
  });

  it('a valid wrapper around bytes that are not a JoinRequest → 400', () => {
    const garbage = Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    throwsMedia(
      () => parseJoin(v1Url(b64url(wrap(garbage, 'none'))), undefined),
      400,
      'malformed_join_request',
    );
  });

  it('GZIP flagged but not gzip → 400', () => {
    const notGzip = new WrappedJoinRequest({
      compression: WrappedJoinRequest_Compression.GZIP,
      joinRequest: new JoinRequest({ participantSid: 'PA_x' }).toBinary(),
    }).toBinary();
    throwsMedia(() => parseJoin(v1Url(b64url(notGzip)), undefined), 400, 'malformed_join_request');
  });

  it('a truncated gzip stream → 400', () => {
    const gz = gzipSync(new JoinRequest({ metadata: 'm'.repeat(500) }).toBinary());
    const cut = new WrappedJoinRequest({
      compression: WrappedJoinRequest_Compression.GZIP,
      joinRequest: gz.subarray(0, gz.length - 10),
    }).toBinary();
    throwsMedia(() => parseJoin(v1Url(b64url(cut)), undefined), 400, 'malformed_join_request');
  });

  it('gzip bomb (tiny, inflates beyond 64 KiB) → 400', () => {
    const bomb = gzipSync(Buffer.alloc(4 * 1024 * 1024));
    assert.ok(bomb.length < 8 * 1024, `bomb is ${bomb.length} bytes`);
    const wrapped = new WrappedJoinRequest({
      compression: WrappedJoinRequest_Compression.GZIP,
      joinRequest: bomb,
    }).toBinary();
    throwsMedia(() => parseJoin(v1Url(b64url(wrapped)), undefined), 400, 'malformed_join_request');
    // a real JoinRequest just over the limit is refused the same way
    const over = new JoinRequest({ metadata: 'b'.repeat(64 * 1024) });
    throwsMedia(() => parseJoin(v1Url(b64url(wrap(over, 'gzip'))), undefined), 400, 'malformed_join_request');
  });

  it('oversized join_request → 413 join_request_too_large', () => {
    throwsMedia(() => parseJoin(v1Url('A'.repeat(90_000)), undefined), 413, 'join_request_too_large');
    const big = new JoinRequest({ metadata: 'c'.repeat(70 * 1024) });
    throwsMedia(() => parseJoin(v1Url(b64url(wrap(big, 'none'))), undefined), 413, 'join_request_too_large');
    // a 64 KiB request encodes to ~87382 characters and is still looked at (then found malformed)
    throwsMedia(() => parseJoin(v1Url('A'.repeat(87_382)), undefined), 400, 'malformed_join_request');
  });

  it('undecodable base64 → 400 malformed_join_request', () => {
    for (const raw of ['!!!!', '***', '%%%', 'not base64 at all!'])
      throwsMedia(() => parseJoin(v1Url(raw), undefined), 400, 'malformed_join_request');
  });
});
