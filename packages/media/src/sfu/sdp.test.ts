import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AUDIO_LEVEL_URI,
  constantBitrate,
  direction,
  extmapId,
  iceUfrag,
  isRejected,
  type MediaSection,
  msidTrack,
  opusPayloadType,
  parseSdp,
  rewriteCandidateAddress,
  rewriteLocal,
  SdpError,
  type SectionPlan,
  ssrcs,
  writeSdp,
} from './sdp.ts';

const FP =
  'a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08';
const TRANSPORT = [
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:Xk2b',
  'a=ice-pwd:9Qd4bV1LxUf0nZjE3mR6sTyW',
  'a=ice-options:trickle',
  FP,
  'a=setup:actpass',
];
const STREAM = 'f4b0c3a2-5d0e-4f4c-9f7e-2b1c3d4e5f60';
const MIC = '0e7d9a6c-1b2a-4c3d-8e9f-a0b1c2d3e4f5';

function recvAudio(mid: number): string[] {
  return [
    'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
    ...TRANSPORT,
    `a=mid:${mid}`,
    'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
    'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
    'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
    'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=recvonly',
    'a=rtcp-mux',
    'a=rtcp-rsize',
    'a=rtpmap:111 opus/48000/2',
    'a=rtcp-fb:111 transport-cc',
    'a=fmtp:111 minptime=10;useinbandfec=1',
    'a=rtpmap:63 red/48000/2',
    'a=fmtp:63 111/111',
    'a=rtpmap:9 G722/8000',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:13 CN/8000',
    'a=rtpmap:110 telephone-event/48000',
    'a=rtpmap:126 telephone-event/8000',
  ];
}

function recvVideo(mid: number): string[] {
  return [
    'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125 39 40 45 46 98 99 100 101',
    ...TRANSPORT,
    `a=mid:${mid}`,
    'a=extmap:14 urn:ietf:params:rtp-hdrext:toffset',
    'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
    'a=extmap:13 urn:3gpp:video-orientation',
    'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
    'a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay',
    'a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type',
    'a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing',
    'a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space',
    'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id',
    'a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id',
    'a=recvonly',
    'a=rtcp-mux',
    'a=rtcp-rsize',
    'a=rtpmap:96 VP8/90000',
    'a=rtcp-fb:96 goog-remb',
    'a=rtcp-fb:96 transport-cc',
    'a=rtcp-fb:96 ccm fir',
    'a=rtcp-fb:96 nack',
    'a=rtcp-fb:96 nack pli',
    'a=rtpmap:97 rtx/90000',
    'a=fmtp:97 apt=96',
    'a=rtpmap:102 H264/90000',
    'a=rtcp-fb:102 goog-remb',
    'a=rtcp-fb:102 transport-cc',
    'a=rtcp-fb:102 ccm fir',
    'a=rtcp-fb:102 nack',
    'a=rtcp-fb:102 nack pli',
    'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f',
    'a=rtpmap:103 rtx/90000',
    'a=fmtp:103 apt=102',
    'a=rtpmap:45 AV1/90000',
    'a=rtcp-fb:45 goog-remb',
    'a=rtcp-fb:45 transport-cc',
    'a=rtcp-fb:45 ccm fir',
    'a=rtcp-fb:45 nack',
    'a=rtcp-fb:45 nack pli',
    'a=fmtp:45 level-idx=5;profile=0;tier=0',
    'a=rtpmap:46 rtx/90000',
    'a=fmtp:46 apt=45',
    'a=rtpmap:98 VP9/90000',
    'a=rtcp-fb:98 nack',
    'a=fmtp:98 profile-id=0',
    'a=rtpmap:99 rtx/90000',
    'a=fmtp:99 apt=98',
    'a=rtpmap:100 red/90000',
    'a=rtpmap:101 ulpfec/90000',
  ];
}

/** What Chrome 120+ offers for livekit-client in single-PC mode: mic + 3 audio + 3 video slots + data. */
const CHROME_OFFER = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1 2 3 4 5 6 7',
  'a=extmap-allow-mixed',
  `a=msid-semantic: WMS ${STREAM}`,
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
  ...TRANSPORT,
  'a=mid:0',
  'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
  'a=sendonly',
  `a=msid:${STREAM} ${MIC}`,
  'a=rtcp-mux',
  'a=rtcp-rsize',
  'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc',
  'a=fmtp:111 minptime=10;stereo=0;useinbandfec=1;usedtx=1',
  'a=rtpmap:63 red/48000/2',
  'a=fmtp:63 111/111',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:13 CN/8000',
  'a=rtpmap:110 telephone-event/48000',
  'a=rtpmap:126 telephone-event/8000',
  'a=ssrc:2746223417 cname:Ab0UqLx3J4hNwZp8',
  `a=ssrc:2746223417 msid:${STREAM} ${MIC}`,
  ...recvAudio(1),
  ...recvAudio(2),
  ...recvAudio(3),
  ...recvVideo(4),
  ...recvVideo(5),
  ...recvVideo(6),
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:Xk2b',
  'a=ice-pwd:9Qd4bV1LxUf0nZjE3mR6sTyW',
  'a=ice-options:trickle',
  FP,
  'a=setup:actpass',
  'a=mid:7',
  'a=sctp-port:5000',
  'a=max-message-size:262144',
]
  .map((l) => `${l}\r\n`)
  .join('');

// ---- what libdatachannel answers to that offer (shape taken from node-datachannel 0.33) ----
const LOCAL_FP =
  'a=fingerprint:sha-256 B8:59:76:7F:B3:92:47:71:87:84:BD:2F:96:85:39:74:A2:1B:3F:06:40:0F:BE:28:89:5C:F2:22:6B:6D:9D:5C';
const LOCAL_ICE = ['a=setup:active', 'a=ice-ufrag:/Ed6', 'a=ice-pwd:1ifVQO7ssr/JYV0GC9/9Zg'];

function answerAudio(mid: number, dir: string, extra: string[] = []): string[] {
  return [
    'm=audio 7882 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
    'c=IN IP4 10.0.0.5',
    `a=mid:${mid}`,
    'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
    'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
    'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
    'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=extmap-allow-mixed',
    `a=${dir}`,
    'a=rtcp:9 IN IP4 0.0.0.0',
    ...extra,
    'a=rtcp-mux',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:9 G722/8000',
    'a=rtpmap:13 CN/8000',
    'a=rtpmap:63 red/48000/2',
    'a=fmtp:63 111/111',
    'a=rtcp-fb:63 nack',
    'a=rtpmap:110 telephone-event/48000',
    'a=rtpmap:111 opus/48000/2',
    'a=rtcp-fb:111 transport-cc',
    'a=rtcp-fb:111 nack',
    'a=rtcp-fb:111 nack pli',
    'a=fmtp:111 minptime=10;stereo=0;useinbandfec=1;usedtx=1',
    'a=rtpmap:126 telephone-event/8000',
    'a=ssrc:1234567 cname:libdatachannel',
    'a=ssrc-group:FID 1234567 7654321',
    ...LOCAL_ICE,
  ];
}

function answerVideo(mid: number): string[] {
  return [
    'm=video 7882 UDP/TLS/RTP/SAVPF 96 97',
    'c=IN IP4 10.0.0.5',
    `a=mid:${mid}`,
    'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=extmap-allow-mixed',
    'a=sendonly',
    'a=rtcp:9 IN IP4 0.0.0.0',
    'a=msid:s v',
    'a=rtcp-mux',
    'a=rtpmap:96 VP8/90000',
    'a=rtcp-fb:96 nack',
    'a=rtcp-fb:96 nack pli',
    'a=rtpmap:97 rtx/90000',
    'a=fmtp:97 apt=96',
    'a=ssrc:42 cname:x',
    ...LOCAL_ICE,
  ];
}

const APPLICATION = [
  'm=application 7882 UDP/DTLS/SCTP webrtc-datachannel',
  'c=IN IP4 10.0.0.5',
  'a=mid:7',
  'a=sendrecv',
  'a=sctp-port:5000',
  'a=max-message-size:262144',
  'a=candidate:2 1 UDP 2114977790 10.0.0.5 7882 typ host',
  ...LOCAL_ICE,
];

const LOCAL_SESSION = [
  'v=0',
  'o=rtc 3327559163 0 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1 2 3 4 5 6 7',
  'a=group:LS 0 1',
  'a=msid-semantic:WMS *',
  'a=ice-options:ice2,trickle',
  LOCAL_FP,
];

const LIBDATACHANNEL_ANSWER = [
  ...LOCAL_SESSION,
  ...answerAudio(0, 'recvonly', [
    `a=msid:${STREAM} ${MIC}`,
    'a=candidate:1 1 UDP 2114977791 10.0.0.5 7882 typ host',
    'a=candidate:3 1 UDP 1686052607 198.51.100.9 7882 typ srflx raddr 10.0.0.5 rport 7882',
    'a=end-of-candidates',
  ]),
  ...answerAudio(1, 'sendonly'),
  ...answerAudio(2, 'sendonly'),
  ...answerAudio(3, 'sendonly'),
  ...answerVideo(4),
  ...answerVideo(5),
  ...answerVideo(6),
  ...APPLICATION,
].join('\r\n');

const SEND_SSRC = 0xdeadbeef;
const PLANS: Record<string, SectionPlan> = {
  '0': { role: 'receive' },
  '1': { role: 'send', ssrc: SEND_SSRC, streamId: 'PA_alice|TR_mic', trackId: 'TR_mic' },
  '2': { role: 'idle' },
  '3': { role: 'send', ssrc: 7, streamId: 'PA_bob|TR_b', trackId: 'TR_b' },
};
const plan = (mid: string): SectionPlan => {
  const p = PLANS[mid];
  assert.ok(p, `plan asked about mid ${mid}, which is not an audio section`);
  return p;
};

function section(sdp: string, mid: string): MediaSection {
  const m = parseSdp(sdp).media.find((s) => s.mid === mid);
  assert.ok(m, `no section with mid ${mid}`);
  return m;
}

const matching = (m: MediaSection, re: RegExp) => m.lines.filter((l) => re.test(l));

const DIRECTION = /^a=(sendrecv|sendonly|recvonly|inactive)$/;

describe('parseSdp / writeSdp', () => {
  const parsed = parseSdp(CHROME_OFFER);

  it('splits the session and the eight media sections', () => {
    assert.deepEqual(parsed.session, [
      'v=0',
      'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
      's=-',
      't=0 0',
      'a=group:BUNDLE 0 1 2 3 4 5 6 7',
      'a=extmap-allow-mixed',
      `a=msid-semantic: WMS ${STREAM}`,
    ]);
    assert.deepEqual(
      parsed.media.map((m) => [m.kind, m.mid]),
      [
        ['audio', '0'],
        ['audio', '1'],
        ['audio', '2'],
        ['audio', '3'],
        ['video', '4'],
        ['video', '5'],
        ['video', '6'],
        ['application', '7'],
      ],
    );
    for (const m of parsed.media) assert.ok(m.lines[0].startsWith(`m=${m.kind} `), m.lines[0]);
    assert.equal(parsed.media[0].lines.length, 1 + TRANSPORT.length + 1 + 4 + 1 + 1 + 2 + 11 + 2);
  });

  it('round-trips a CRLF description byte for byte', () => {
    assert.equal(writeSdp(parsed), CHROME_OFFER);
    assert.equal(writeSdp(parseSdp(writeSdp(parsed))), CHROME_OFFER);
  });

  it('accepts LF line endings and writes CRLF', () => {
    assert.equal(writeSdp(parseSdp(CHROME_OFFER.replace(/\r\n/g, '\n'))), CHROME_OFFER);
  });

  it('reads direction, defaulting to sendrecv', () => {
    assert.deepEqual(
      parsed.media.map((m) => direction(m)),
      ['sendonly', 'recvonly', 'recvonly', 'recvonly', 'recvonly', 'recvonly', 'recvonly', 'sendrecv'],
    );
    assert.equal(
      direction({ kind: 'audio', mid: 'x', lines: ['m=audio 9 RTP/AVP 0', 'a=inactive'] }),
      'inactive',
    );
    assert.equal(
      direction({ kind: 'audio', mid: 'x', lines: ['m=audio 9 RTP/AVP 0', 'a=sendrecv'] }),
      'sendrecv',
    );
  });

  it('finds the Opus payload type (and none in video or data)', () => {
    assert.equal(opusPayloadType(parsed.media[0]), 111);
    assert.equal(opusPayloadType(parsed.media[3]), 111);
    assert.equal(opusPayloadType(parsed.media[4]), undefined);
    assert.equal(opusPayloadType(parsed.media[7]), undefined);
    const upper: MediaSection = {
      kind: 'audio',
      mid: '9',
      lines: ['m=audio 9 UDP/TLS/RTP/SAVPF 0 109', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:109 OPUS/48000/2'],
    };
    assert.equal(opusPayloadType(upper), 109);
  });

  it('finds extmap ids by URI, with or without a direction', () => {
    const mic = parsed.media[0];
    assert.equal(extmapId(mic, AUDIO_LEVEL_URI), 1);
    assert.equal(extmapId(mic, 'urn:ietf:params:rtp-hdrext:sdes:mid'), 4);
    assert.equal(
      extmapId(mic, 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01'),
      3,
    );
    assert.equal(extmapId(mic, 'urn:ietf:params:rtp-hdrext:toffset'), undefined);
    assert.equal(extmapId(parsed.media[4], 'urn:ietf:params:rtp-hdrext:toffset'), 14);
    assert.equal(extmapId(parsed.media[4], AUDIO_LEVEL_URI), undefined);
    const withDir: MediaSection = {
      kind: 'audio',
      mid: '0',
      lines: ['m=audio 9 UDP/TLS/RTP/SAVPF 111', `a=extmap:12/sendonly ${AUDIO_LEVEL_URI} vad=on`],
    };
    assert.equal(extmapId(withDir, AUDIO_LEVEL_URI), 12);
  });

  it('reads the msid track and the SSRCs', () => {
    assert.equal(msidTrack(parsed.media[0]), MIC);
    assert.equal(msidTrack(parsed.media[1]), undefined);
    assert.deepEqual(ssrcs(parsed.media[0]), [2746223417]);
    assert.deepEqual(ssrcs(parsed.media[1]), []);
    const sim: MediaSection = {
      kind: 'video',
      mid: '4',
      lines: [
        'm=video 9 UDP/TLS/RTP/SAVPF 96 97',
        'a=ssrc-group:FID 100 200',
        'a=ssrc:100 cname:c',
        'a=ssrc:100 msid:s t',
        'a=ssrc:200 cname:c',
        'a=ssrc:200 msid:s t',
      ],
    };
    assert.deepEqual(ssrcs(sim), [100, 200]);
  });

  it('reads the ICE ufrag from a media section or from the session', () => {
    assert.equal(iceUfrag(parsed), 'Xk2b');
    const sessionLevel = parseSdp(
      'v=0\r\na=ice-ufrag:SeSs\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n',
    );
    assert.equal(iceUfrag(sessionLevel), 'SeSs');
    assert.equal(iceUfrag(parseSdp('v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n')), undefined);
  });

  it('tells rejected (port 0) sections from live ones', () => {
    assert.ok(parsed.media.every((m) => !isRejected(m)));
    const rejected = parseSdp('v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:4\r\n').media[0];
    assert.equal(isRejected(rejected), true);
  });

  it('throws SdpError for input that is not SDP', () => {
    for (const bad of ['', 'hello', '{"type":"offer"}', ' v=0\r\n', undefined as unknown as string]) {
      assert.throws(() => parseSdp(bad), SdpError, JSON.stringify(bad));
    }
    assert.throws(
      () => rewriteLocal('not sdp', plan, { nack: false }),
      (err: unknown) => {
        assert.ok(err instanceof SdpError);
        assert.equal(err.name, 'SdpError');
        assert.match(err.message, /not SDP/);
        return true;
      },
    );
  });
});

describe('rewriteLocal', () => {
  const out = rewriteLocal(LIBDATACHANNEL_ANSWER, plan, { nack: false });
  const outNack = rewriteLocal(LIBDATACHANNEL_ANSWER, plan, { nack: true });
  const original = parseSdp(LIBDATACHANNEL_ANSWER);

  it('keeps the session and the section order, and writes valid SDP', () => {
    const p = parseSdp(out);
    assert.deepEqual(p.session, LOCAL_SESSION);
    assert.deepEqual(
      p.media.map((m) => [m.kind, m.mid]),
      original.media.map((m) => [m.kind, m.mid]),
    );
    assert.ok(out.endsWith('\r\n'));
    assert.ok(!/\r(?!\n)|[^\r]\n/.test(out), 'only CRLF line endings');
  });

  it('keeps only Opus in the m= line, rtpmap and fmtp of every audio section', () => {
    for (const mid of ['0', '1', '2', '3']) {
      const m = section(out, mid);
      assert.equal(m.lines[0], 'm=audio 7882 UDP/TLS/RTP/SAVPF 111', `mid ${mid}`);
      assert.deepEqual(matching(m, /^a=rtpmap:/), ['a=rtpmap:111 opus/48000/2'], `mid ${mid}`);
      assert.deepEqual(
        matching(m, /^a=fmtp:/),
        ['a=fmtp:111 minptime=10;stereo=0;useinbandfec=1;usedtx=1'],
        `mid ${mid}`,
      );
    }
  });

  it('keeps only the audio-level extmap, on every audio section (the bundle keeps it negotiated)', () => {
    for (const mid of ['0', '1', '2', '3'])
      assert.deepEqual(matching(section(out, mid), /^a=extmap/), [`a=extmap:1 ${AUDIO_LEVEL_URI}`], mid);
    for (const mid of ['4', '5', '6']) assert.deepEqual(matching(section(out, mid), /^a=extmap/), [], mid);
  });

  it('hardened: no header extension at all, and Opus CBR without DTX on every audio section', () => {
    const hard = rewriteLocal(LIBDATACHANNEL_ANSWER, plan, { nack: true, hardened: true });
    for (const mid of ['0', '1', '2', '3']) {
      const m = section(hard, mid);
      assert.deepEqual(matching(m, /^a=extmap/), [], mid);
      assert.deepEqual(
        matching(m, /^a=fmtp:/),
        ['a=fmtp:111 minptime=10;stereo=0;useinbandfec=1;cbr=1;usedtx=0'],
        mid,
      );
    }
    assert.equal(rewriteLocal(hard, plan, { nack: true, hardened: true }), hard, 'idempotent');
  });

  it('drops all rtcp-fb without nack, and keeps only Opus "nack" on sections we send in', () => {
    for (const mid of ['0', '1', '2', '3']) {
      assert.deepEqual(matching(section(out, mid), /^a=rtcp-fb/), [], mid);
      const sends = PLANS[mid].role === 'send';
      assert.deepEqual(
        matching(section(outNack, mid), /^a=rtcp-fb/),
        sends ? ['a=rtcp-fb:111 nack'] : [],
        mid,
      );
    }
  });

  it('sets exactly one direction per plan, right after a=mid', () => {
    const expected: Record<string, string> = {
      '0': 'recvonly',
      '1': 'sendonly',
      '2': 'inactive',
      '3': 'sendonly',
    };
    for (const [mid, dir] of Object.entries(expected)) {
      const m = section(out, mid);
      assert.deepEqual(matching(m, DIRECTION), [`a=${dir}`], mid);
      assert.equal(direction(m), dir);
      const at = m.lines.indexOf(`a=mid:${mid}`);
      assert.equal(m.lines[at + 1], `a=${dir}`, mid);
    }
  });

  it('announces the planned SSRC and msid on send sections only', () => {
    const send = section(out, '1');
    assert.deepEqual(matching(send, /^a=msid:/), ['a=msid:PA_alice|TR_mic TR_mic']);
    assert.deepEqual(matching(send, /^a=ssrc/), [
      `a=ssrc:${SEND_SSRC} cname:sotto`,
      `a=ssrc:${SEND_SSRC} msid:PA_alice|TR_mic TR_mic`,
    ]);
    assert.deepEqual(ssrcs(send), [SEND_SSRC]);
    assert.equal(msidTrack(send), 'TR_mic');
    const send3 = section(out, '3');
    assert.deepEqual(ssrcs(send3), [7]);
    assert.equal(msidTrack(send3), 'TR_b');
    for (const mid of ['0', '2']) {
      // the remote's msid copied by libdatachannel and its own SSRCs are gone
      assert.deepEqual(matching(section(out, mid), /^a=(msid|ssrc)/), [], mid);
    }
  });

  it('makes video inactive, without SSRC, msid or extmap lines, codecs untouched', () => {
    for (const mid of ['4', '5', '6']) {
      const m = section(out, mid);
      const before = original.media.find((s) => s.mid === mid)!;
      assert.equal(m.lines[0], before.lines[0]);
      assert.deepEqual(matching(m, DIRECTION), ['a=inactive'], mid);
      assert.deepEqual(matching(m, /^a=(ssrc|msid|extmap)/), [], mid);
      assert.deepEqual(matching(m, /^a=(rtpmap|fmtp|rtcp-fb)/), matching(before, /^a=(rtpmap|fmtp|rtcp-fb)/));
    }
  });

  it('leaves the application section alone', () => {
    assert.deepEqual(section(out, '7').lines, APPLICATION);
  });

  it('keeps transport lines of audio sections', () => {
    const m = section(out, '0');
    for (const l of [
      'c=IN IP4 10.0.0.5',
      'a=rtcp-mux',
      'a=setup:active',
      'a=ice-ufrag:/Ed6',
      'a=end-of-candidates',
    ])
      assert.ok(m.lines.includes(l), l);
    assert.deepEqual(matching(m, /^a=candidate/), [
      'a=candidate:1 1 UDP 2114977791 10.0.0.5 7882 typ host',
      'a=candidate:3 1 UDP 1686052607 198.51.100.9 7882 typ srflx raddr 10.0.0.5 rport 7882',
    ]);
  });

  it('rewrites every candidate address when rewriteAddress is given', () => {
    const pub = rewriteLocal(LIBDATACHANNEL_ANSWER, plan, { nack: false, rewriteAddress: '203.0.113.7' });
    assert.deepEqual(matching(section(pub, '0'), /^a=candidate/), [
      'a=candidate:1 1 UDP 2114977791 203.0.113.7 7882 typ host',
      'a=candidate:3 1 UDP 1686052607 203.0.113.7 7882 typ srflx raddr 10.0.0.5 rport 7882',
    ]);
    assert.deepEqual(matching(section(pub, '7'), /^a=candidate/), [
      'a=candidate:2 1 UDP 2114977790 203.0.113.7 7882 typ host',
    ]);
    // nothing else differs
    assert.equal(pub.replaceAll('203.0.113.7 7882 typ', '__'), out.replace(/\S+ 7882 typ/g, '__'));
  });

  it('never leaves a dynamic payload type in the m= line without its rtpmap (audio without Opus)', () => {
    const noOpus = [
      ...LOCAL_SESSION,
      'm=audio 7882 UDP/TLS/RTP/SAVPF 0 110',
      'a=mid:0',
      'a=sendonly',
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:110 telephone-event/48000',
      '',
    ].join('\r\n');
    const m = section(
      rewriteLocal(noOpus, () => ({ role: 'receive' }), { nack: false }),
      '0',
    );
    const pts = m.lines[0].split(' ').slice(3).map(Number);
    for (const pt of pts.filter((p) => p >= 96))
      assert.ok(
        m.lines.some((l) => l.startsWith(`a=rtpmap:${pt} `)),
        `payload type ${pt} has no rtpmap`,
      );
  });

  it('is idempotent', () => {
    assert.equal(rewriteLocal(out, plan, { nack: false }), out);
    assert.equal(rewriteLocal(outNack, plan, { nack: true }), outNack);
  });

  it('asks the plan once per audio section, by mid', () => {
    const asked: string[] = [];
    rewriteLocal(
      LIBDATACHANNEL_ANSWER,
      (mid) => {
        asked.push(mid);
        return plan(mid);
      },
      { nack: false },
    );
    assert.deepEqual(asked, ['0', '1', '2', '3']);
  });
});

describe('constantBitrate', () => {
  it('sets cbr=1 and usedtx=0, replacing earlier values and keeping the rest', () => {
    assert.equal(
      constantBitrate('a=fmtp:111 minptime=10;usedtx=1;cbr=0;useinbandfec=1'),
      'a=fmtp:111 minptime=10;useinbandfec=1;cbr=1;usedtx=0',
    );
    assert.equal(constantBitrate('a=fmtp:111 '), 'a=fmtp:111 cbr=1;usedtx=0');
  });
});

describe('rewriteCandidateAddress', () => {
  it('replaces the connection address (5th field) of a candidate', () => {
    assert.equal(
      rewriteCandidateAddress('candidate:1 1 UDP 2122317823 192.168.1.2 7882 typ host', '198.51.100.1'),
      'candidate:1 1 UDP 2122317823 198.51.100.1 7882 typ host',
    );
  });

  it('leaves a line too short to be a candidate unchanged', () => {
    assert.equal(rewriteCandidateAddress('candidate:1 1 UDP', '198.51.100.1'), 'candidate:1 1 UDP');
  });
});
