import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReceiveStats, readRtcp, receiverReport } from './rtcp.ts';

describe('receiver reports', () => {
  it('count loss, the extended highest sequence across a wrap, and echo the last sender report', () => {
    const s = new ReceiveStats(0xaabbccdd);
    let t = 1000;
    // 65530 … 65535, 0 … 9 with 3 and 4 missing: 16 expected, 14 received
    for (let seq = 65530; seq < 65546; seq++) {
      const wrapped = seq & 0xffff;
      if (wrapped === 3 || wrapped === 4) continue;
      t += 20;
      s.packet(wrapped, (wrapped * 960) >>> 0, t);
    }
    s.senderReport(0x12345678, 1100);
    const rr = receiverReport(0x01020304, [s], 1100 + 500);
    assert.equal(rr.length, 32);
    assert.equal(rr[0], 0x81);
    assert.equal(rr[1], 201);
    assert.equal(rr.readUInt16BE(2), 7);
    assert.equal(rr.readUInt32BE(4), 0x01020304);
    assert.equal(rr.readUInt32BE(8), 0xaabbccdd);
    assert.equal(rr.readUInt32BE(12) & 0xffffff, 2, 'cumulative loss');
    assert.equal(rr[12], Math.floor((2 * 256) / 16), 'fraction lost');
    assert.equal(rr.readUInt32BE(16), 0x10000 + 9, 'extended highest sequence');
    assert.equal(rr.readUInt32BE(24), 0x12345678, 'LSR');
    assert.equal(rr.readUInt32BE(28), Math.floor(0.5 * 65536), 'DLSR');
    // the next report covers only what came since: nothing lost
    s.packet(10, 10 * 960, t + 20);
    const next = receiverReport(1, [s], 2000);
    assert.equal(next[12], 0);
  });

  it('jitter stays near zero for packets that arrive on their clock, and grows when they do not', () => {
    const steady = new ReceiveStats(1);
    const shaky = new ReceiveStats(2);
    for (let i = 0; i < 200; i++) {
      steady.packet(i, i * 960, i * 20);
      shaky.packet(i, i * 960, i * 20 + (i % 2 ? 15 : 0));
    }
    const rr = receiverReport(9, [steady, shaky], 5000);
    assert.equal(rr.readUInt32BE(8 + 12), 0);
    assert.ok(rr.readUInt32BE(32 + 12) > 500, `shaky jitter ${rr.readUInt32BE(32 + 12)}`);
  });
});

describe('reading RTCP', () => {
  it('finds sender reports and generic NACKs in a compound packet', () => {
    const sr = Buffer.alloc(28);
    sr[0] = 0x80;
    sr[1] = 200;
    sr.writeUInt16BE(6, 2);
    sr.writeUInt32BE(0xdeadbeef, 4);
    sr.writeUInt32BE(0x00011234, 8);
    sr.writeUInt32BE(0x56780000, 12);
    const nack = Buffer.alloc(16);
    nack[0] = 0x81;
    nack[1] = 205;
    nack.writeUInt16BE(3, 2);
    nack.writeUInt32BE(7, 4);
    nack.writeUInt32BE(0xcafe, 8);
    nack.writeUInt16BE(65534, 12);
    nack.writeUInt16BE(0b101, 14); // +1 and +3
    const seen: string[] = [];
    readRtcp(Buffer.concat([sr, nack]), {
      senderReport: (ssrc, ntp) => seen.push(`sr ${ssrc.toString(16)} ${ntp.toString(16)}`),
      nack: (ssrc, seqs) => seen.push(`nack ${ssrc.toString(16)} ${seqs.join(',')}`),
    });
    assert.deepEqual(seen, ['sr deadbeef 12345678', 'nack cafe 65534,65535,1']);
  });

  it('stops at a malformed length without throwing', () => {
    const bad = Buffer.from([0x80, 200, 0x00, 0x40, 1, 2, 3, 4]);
    let calls = 0;
    readRtcp(bad, { senderReport: () => calls++ });
    readRtcp(Buffer.from([0x00, 0x01]), { senderReport: () => calls++ });
    assert.equal(calls, 0);
  });
});
