import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  audioLevel,
  isRtcp,
  isRtp,
  payloadOffset,
  RTP_HEADER_MIN,
  rtpSeq,
  rtpSsrc,
  rtpTimestamp,
} from './rtp.ts';

interface PacketSpec {
  pt?: number;
  marker?: boolean;
  seq?: number;
  ts?: number;
  ssrc?: number;
  csrcs?: number[];
  /** Header extension: 16-bit profile and the extension body (padded to 32-bit words here). */
  ext?: { profile: number; body: number[] };
  payload?: number[];
}

function rtp(p: PacketSpec = {}): Buffer {
  const csrcs = p.csrcs ?? [];
  const body = p.ext ? [...p.ext.body] : [];
  while (body.length % 4) body.push(0);
  const extLen = p.ext ? 4 + body.length : 0;
  const payload = p.payload ?? [0xde, 0xad, 0xbe, 0xef];
  const b = Buffer.alloc(RTP_HEADER_MIN + csrcs.length * 4 + extLen + payload.length);
  b[0] = 0x80 | (p.ext ? 0x10 : 0) | csrcs.length;
  b[1] = (p.marker ? 0x80 : 0) | (p.pt ?? 111);
  b.writeUInt16BE(p.seq ?? 1, 2);
  b.writeUInt32BE(p.ts ?? 960, 4);
  b.writeUInt32BE(p.ssrc ?? 0x11223344, 8);
  let off = RTP_HEADER_MIN;
  for (const c of csrcs) {
    b.writeUInt32BE(c, off);
    off += 4;
  }
  if (p.ext) {
    b.writeUInt16BE(p.ext.profile, off);
    b.writeUInt16BE(body.length / 4, off + 2);
    Buffer.from(body).copy(b, off + 4);
    off += 4 + body.length;
  }
  Buffer.from(payload).copy(b, off);
  return b;
}

describe('isRtcp', () => {
  it('recognises RTCP packet types 192–223 in byte 1 (RFC 5761)', () => {
    for (const pt of [192, 200, 201, 202, 203, 205, 206, 207, 223])
      assert.equal(isRtcp(Buffer.from([0x80, pt, 0, 1])), true, String(pt));
  });

  it('does not take RTP (with or without marker) or short buffers for RTCP', () => {
    for (const b1 of [111, 0x80 | 111, 0, 96, 0x80 | 96, 191, 224])
      assert.equal(isRtcp(Buffer.from([0x80, b1, 0, 1])), false, String(b1));
    assert.equal(isRtcp(Buffer.from([0x80])), false);
    assert.equal(isRtcp(new Uint8Array(0)), false);
  });
});

describe('isRtp', () => {
  it('accepts a version-2 packet with a full fixed header', () => {
    assert.equal(isRtp(rtp()), true);
    assert.equal(isRtp(rtp({ marker: true, pt: 96 })), true);
    assert.equal(isRtp(rtp({ payload: [] })), true); // header only
  });

  it('rejects other versions, short packets and RTCP', () => {
    const v1 = rtp();
    v1[0] = (v1[0] & 0x3f) | 0x40;
    assert.equal(isRtp(v1), false);
    const v0 = rtp();
    v0[0] &= 0x3f;
    assert.equal(isRtp(v0), false);
    assert.equal(isRtp(rtp({ payload: [] }).subarray(0, 11)), false);
    const sr = Buffer.alloc(28);
    sr[0] = 0x80;
    sr[1] = 200;
    assert.equal(isRtp(sr), false);
    assert.equal(isRtp(Buffer.from('hello, world')), false);
  });

  it('requires room for the CSRCs the header announces', () => {
    const full = rtp({ csrcs: [1, 2], payload: [] }); // 20 bytes
    assert.equal(full.length, 20);
    assert.equal(isRtp(full), true);
    assert.equal(isRtp(full.subarray(0, 19)), false);
  });
});

describe('header accessors', () => {
  it('read sequence number, timestamp and SSRC', () => {
    const b = rtp({ seq: 0xfffe, ts: 0xfffffff0, ssrc: 0xcafebabe });
    assert.equal(rtpSeq(b), 0xfffe);
    assert.equal(rtpTimestamp(b), 0xfffffff0);
    assert.equal(rtpSsrc(b), 0xcafebabe);
  });
});

describe('payloadOffset', () => {
  it('is 12 for a plain header', () => {
    const b = rtp({ payload: [1, 2, 3] });
    assert.equal(payloadOffset(b), 12);
    assert.deepEqual([...b.subarray(payloadOffset(b))], [1, 2, 3]);
  });

  it('skips CSRCs', () => {
    const b = rtp({ csrcs: [7, 8, 9], payload: [4, 5] });
    assert.equal(payloadOffset(b), 24);
    assert.deepEqual([...b.subarray(payloadOffset(b))], [4, 5]);
  });

  it('skips CSRCs and a header extension', () => {
    const b = rtp({
      csrcs: [7, 8],
      ext: { profile: 0xbede, body: [0x10, 0x85, 0, 0, 0x30, 1, 2, 3] },
      payload: [9],
    });
    assert.equal(payloadOffset(b), 12 + 8 + 4 + 8);
    assert.deepEqual([...b.subarray(payloadOffset(b))], [9]);
  });

  it('allows a packet that ends right after its header', () => {
    const b = rtp({ ext: { profile: 0xbede, body: [0x10, 0x85] }, payload: [] });
    assert.equal(payloadOffset(b), b.length);
  });

  it('is -1 when the CSRCs or the extension overrun the packet', () => {
    const b = rtp({
      csrcs: [1, 2],
      ext: { profile: 0xbede, body: [0x10, 0x85, 0, 0, 0, 0, 0, 0] },
      payload: [],
    });
    assert.equal(payloadOffset(b.subarray(0, b.length - 1)), -1); // extension body cut
    assert.equal(payloadOffset(b.subarray(0, 12 + 8 + 3)), -1); // extension header cut
    assert.equal(payloadOffset(b.subarray(0, 12 + 8)), -1); // X bit but no extension header
    const noExt = rtp({ csrcs: [1, 2, 3], payload: [] });
    assert.equal(payloadOffset(noExt.subarray(0, 12 + 8)), -1); // third CSRC missing
    assert.equal(payloadOffset(new Uint8Array(0)), -1);
  });

  it('is -1 when the extension length field claims more words than there are', () => {
    const b = rtp({ ext: { profile: 0xbede, body: [0x10, 0x85, 0, 0] }, payload: [1, 2, 3, 4] });
    b.writeUInt16BE(3, 14); // says 3 words; 1 word + 4 payload bytes follow
    assert.equal(payloadOffset(b), -1);
    b.writeUInt16BE(2, 14); // 2 words fit exactly (eating the payload)
    assert.equal(payloadOffset(b), b.length);
  });
});

describe('audioLevel', () => {
  it('reads the RFC 6464 level from a one-byte (0xBEDE) extension, dropping the V bit', () => {
    const voiced = rtp({ ext: { profile: 0xbede, body: [0x10, 0x80 | 30] } });
    assert.equal(audioLevel(voiced, 1), 30);
    const silent = rtp({ ext: { profile: 0xbede, body: [0x10, 127] } });
    assert.equal(audioLevel(silent, 1), 127);
  });

  it('walks past other elements and padding bytes', () => {
    // id 4 (mid, 2 bytes "0\0"), padding, padding, id 3 (3 bytes transport-cc), padding, id 1 (level 42)
    const body = [0x41, 0x30, 0x00, 0x00, 0x00, 0x32, 0x01, 0x02, 0x03, 0x00, 0x10, 0x80 | 42];
    const b = rtp({ ext: { profile: 0xbede, body } });
    assert.equal(audioLevel(b, 1), 42);
    assert.equal(audioLevel(b, 4), 0x30);
    assert.equal(audioLevel(b, 3), 1);
  });

  it('works behind CSRCs', () => {
    const b = rtp({ csrcs: [0x10101010, 0x20202020], ext: { profile: 0xbede, body: [0x50, 55] } });
    assert.equal(audioLevel(b, 5), 55);
  });

  it('reads a two-byte (0x100x) extension, with padding', () => {
    const body = [0, 0, 0x07, 0x02, 0xaa, 0xbb, 0x01, 0x01, 0x80 | 17];
    assert.equal(audioLevel(rtp({ ext: { profile: 0x1000, body } }), 1), 17);
    assert.equal(audioLevel(rtp({ ext: { profile: 0x100f, body } }), 1), 17); // app bits
    assert.equal(audioLevel(rtp({ ext: { profile: 0x1000, body } }), 7), 0xaa & 0x7f);
    // ids above 14 only exist in the two-byte form
    assert.equal(audioLevel(rtp({ ext: { profile: 0x1000, body: [200, 1, 99] } }), 200), 99);
  });

  it('is undefined for a two-byte element with no data', () => {
    assert.equal(audioLevel(rtp({ ext: { profile: 0x1000, body: [0x01, 0x00] } }), 1), undefined);
  });

  it('is undefined when the id is missing, there is no extension, or the profile is unknown', () => {
    assert.equal(audioLevel(rtp({ ext: { profile: 0xbede, body: [0x41, 0x30, 0x00] } }), 1), undefined);
    assert.equal(audioLevel(rtp({ ext: { profile: 0xbede, body: [0, 0, 0, 0] } }), 1), undefined);
    assert.equal(audioLevel(rtp(), 1), undefined);
    assert.equal(audioLevel(rtp({ ext: { profile: 0x1234, body: [0x10, 30] } }), 1), undefined);
  });

  it('stops at the reserved id 15 of the one-byte form', () => {
    assert.equal(audioLevel(rtp({ ext: { profile: 0xbede, body: [0xf0, 0x00, 0x10, 30] } }), 1), undefined);
  });

  it('is undefined for a truncated extension', () => {
    const b = rtp({ ext: { profile: 0xbede, body: [0x10, 30, 0, 0] }, payload: [] });
    assert.equal(audioLevel(b, 1), 30);
    assert.equal(audioLevel(b.subarray(0, b.length - 1), 1), undefined); // body shorter than its length
    assert.equal(audioLevel(b.subarray(0, 14), 1), undefined); // extension header cut
    const long = Buffer.from(b);
    long.writeUInt16BE(50, 14); // claims 50 words
    assert.equal(audioLevel(long, 1), undefined);
  });

  it('ignores the level element when its data byte lies past the declared extension', () => {
    // one word: id 4 with 2 data bytes, then an id-1 header in the last byte; its data byte (30)
    // would be the first payload byte
    const b = rtp({ ext: { profile: 0xbede, body: [0x41, 1, 2, 0x10] }, payload: [30, 0] });
    assert.equal(audioLevel(b, 4), 1);
    assert.equal(audioLevel(b, 1), undefined);
    const two = rtp({ ext: { profile: 0x1000, body: [0, 0, 0x01, 0x01] }, payload: [30] });
    assert.equal(audioLevel(two, 1), undefined);
  });
});
