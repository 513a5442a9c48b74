import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DownTrack, LevelMeter, type RtpSink, senderReport, UpTrack } from './forwarder.ts';
import { isRtcp, payloadOffset } from './rtp.ts';

/**
 * The one test double: it stands for a node-datachannel Track. It must copy, because the
 * forwarder rewrites one Buffer in place for each subscriber.
 */
class RecordingSink implements RtpSink {
  readonly sent: Buffer[] = [];
  open = true;
  accept = true;
  onSend?: () => void;
  sendMessageBinary(buf: Buffer): boolean {
    this.sent.push(Buffer.from(buf));
    this.onSend?.();
    return this.accept;
  }
  isOpen(): boolean {
    return this.open;
  }
  get seqs(): number[] {
    return this.sent.map((b) => b.readUInt16BE(2));
  }
  get timestamps(): number[] {
    return this.sent.map((b) => b.readUInt32BE(4));
  }
}

class ThrowingSink implements RtpSink {
  calls = 0;
  sendMessageBinary(_buf: Buffer): boolean {
    this.calls++;
    throw new Error('Track is closed');
  }
  isOpen(): boolean {
    return false;
  }
}

interface Pkt {
  seq: number;
  ts: number;
  ssrc?: number;
  pt?: number;
  marker?: boolean;
  level?: number; // one-byte extension, id 1
  payload?: number[];
}

function rtp(p: Pkt): Buffer {
  const ext = p.level === undefined ? [] : [0xbe, 0xde, 0x00, 0x01, 0x10, 0x80 | p.level, 0x00, 0x00];
  const payload = p.payload ?? [0xf8, 0xff, 0xfe, p.seq & 0xff];
  const b = Buffer.alloc(12 + ext.length + payload.length);
  b[0] = 0x80 | (ext.length ? 0x10 : 0);
  b[1] = (p.marker ? 0x80 : 0) | (p.pt ?? 111);
  b.writeUInt16BE(p.seq & 0xffff, 2);
  b.writeUInt32BE(p.ts >>> 0, 4);
  b.writeUInt32BE(p.ssrc ?? 0xa1a2a3a4, 8);
  Buffer.from(ext).copy(b, 12);
  Buffer.from(payload).copy(b, 12 + ext.length);
  return b;
}

/** Writes a packet straight into a DownTrack, as UpTrack.receive does, with an explicit clock. */
function write(down: DownTrack, p: Pkt, now: number): void {
  const b = rtp(p);
  down.write(b, b.readUInt32BE(8), b.readUInt16BE(2), b.readUInt32BE(4), now);
}

const diffs = (xs: number[], mod: number) => xs.slice(1).map((x, i) => (x - xs[i] + mod) % mod);
const SEQ_MOD = 0x10000;
const TS_MOD = 0x100000000;

describe('UpTrack → DownTrack fan-out', () => {
  it('forwards payload and header extension bytes unchanged to every subscriber', () => {
    const up = new UpTrack('TR_a', 1);
    const sinks = [new RecordingSink(), new RecordingSink(), new RecordingSink()];
    sinks.forEach((s, i) => {
      up.add(new DownTrack(0x1000 + i, 100 + i, s));
    });
    const payload = Array.from({ length: 160 }, (_, i) => (i * 37) & 0xff);
    const original = rtp({ seq: 7, ts: 48000, level: 20, payload, marker: true });
    up.receive(Buffer.from(original));
    for (const s of sinks) {
      assert.equal(s.sent.length, 1);
      const out = s.sent[0];
      assert.equal(out.length, original.length);
      assert.equal(payloadOffset(out), 12 + 8);
      assert.deepEqual(out.subarray(12), original.subarray(12)); // extension + payload
      assert.equal(out[0], original[0]);
    }
    assert.equal(up.packets, 1);
    assert.equal(up.subscriberCount, 3);
  });

  it('shows the payload tap exactly the bytes after the RTP header (E2EE canary instrumentation)', () => {
    const up = new UpTrack('TR_a', 1);
    const seen: Buffer[] = [];
    up.tap = (p) => seen.push(Buffer.from(p));
    const payload = [0xde, 0xad, 0xbe, 0xef, 1, 2, 3];
    up.receive(Buffer.from(rtp({ seq: 1, ts: 960, level: 30, payload })));
    assert.deepEqual(seen, [Buffer.from(payload)]);
  });

  it('lets a test tamper hook replace, multiply or drop payloads under the original header', () => {
    const up = new UpTrack('TR_a', 1);
    const sink = new RecordingSink();
    up.add(new DownTrack(0x1000, 100, sink));
    const forged = Buffer.from([9, 9, 9]);
    let mode: 'replace' | 'drop' | 'keep' = 'replace';
    up.tamper = (p) => (mode === 'replace' ? [forged, Buffer.from(p)] : mode === 'drop' ? [] : undefined);
    up.receive(Buffer.from(rtp({ seq: 1, ts: 960, level: 30, payload: [1, 2, 3, 4] })));
    assert.equal(sink.sent.length, 2);
    assert.deepEqual(sink.sent[0]?.subarray(payloadOffset(sink.sent[0])), forged);
    assert.deepEqual(sink.sent[1]?.subarray(payloadOffset(sink.sent[1])), Buffer.from([1, 2, 3, 4]));
    mode = 'drop';
    up.receive(Buffer.from(rtp({ seq: 2, ts: 1920, level: 30, payload: [5] })));
    assert.equal(sink.sent.length, 2);
    mode = 'keep';
    up.receive(Buffer.from(rtp({ seq: 3, ts: 2880, level: 30, payload: [6, 7] })));
    assert.equal(sink.sent.length, 3);
    assert.deepEqual(sink.sent[2]?.subarray(payloadOffset(sink.sent[2])), Buffer.from([6, 7]));
  });

  it('gives each DownTrack its own SSRC and payload type, keeping the marker bit', () => {
    const up = new UpTrack('TR_a', undefined);
    const a = new RecordingSink();
    const b = new RecordingSink();
    up.add(new DownTrack(0xdeadbeef, 109, a));
    up.add(new DownTrack(42, 96, b));
    up.receive(rtp({ seq: 1, ts: 0, pt: 111, marker: true }));
    up.receive(rtp({ seq: 2, ts: 960, pt: 111 }));
    assert.deepEqual(
      a.sent.map((p) => [p.readUInt32BE(8), p[1] & 0x7f, p[1] >> 7]),
      [
        [0xdeadbeef, 109, 1],
        [0xdeadbeef, 109, 0],
      ],
    );
    assert.deepEqual(
      b.sent.map((p) => [p.readUInt32BE(8), p[1] & 0x7f, p[1] >> 7]),
      [
        [42, 96, 1],
        [42, 96, 0],
      ],
    );
  });

  it('does not reveal the publisher sequence numbers and timestamps', () => {
    const up = new UpTrack('TR_a', undefined);
    const a = new RecordingSink();
    const b = new RecordingSink();
    up.add(new DownTrack(0x01234567, 111, a));
    up.add(new DownTrack(0x89abcdef, 111, b));
    up.receive(rtp({ seq: 1000, ts: 480000 }));
    assert.notEqual(a.seqs[0], 1000);
    assert.notEqual(a.timestamps[0], 480000);
    assert.notEqual(a.seqs[0], b.seqs[0]);
    assert.notEqual(a.timestamps[0], b.timestamps[0]);
  });

  it('keeps sequence numbers continuous and timestamp spacing across 16-bit wrap-around', () => {
    const up = new UpTrack('TR_a', undefined);
    const sink = new RecordingSink();
    up.add(new DownTrack(0x0badf00d, 111, sink));
    const srcTs0 = 0xffffffff - 960 * 5; // the source timestamp wraps as well
    for (let i = 0; i < 12; i++) up.receive(rtp({ seq: 65530 + i, ts: srcTs0 + 960 * i }));
    assert.equal(sink.sent.length, 12);
    assert.deepEqual(diffs(sink.seqs, SEQ_MOD), Array(11).fill(1));
    assert.deepEqual(diffs(sink.timestamps, TS_MOD), Array(11).fill(960));
  });

  it('keeps irregular timestamp spacing (DTX) as the source has it', () => {
    const down = new DownTrack(99, 111, new RecordingSink());
    const sink = down.sink as RecordingSink;
    const ts = [0, 960, 1920, 1920 + 960 * 20, 1920 + 960 * 21];
    ts.forEach((t, i) => {
      write(down, { seq: 500 + i, ts: 3_000_000 + t }, 1000 + i * 20);
    });
    assert.deepEqual(diffs(sink.timestamps, TS_MOD), [960, 960, 960 * 20, 960]);
    assert.deepEqual(diffs(sink.seqs, SEQ_MOD), [1, 1, 1, 1]);
  });

  it('counts packets and bytes the sink accepted', () => {
    const sink = new RecordingSink();
    const down = new DownTrack(5, 111, sink);
    write(down, { seq: 1, ts: 0, payload: [1, 2, 3] }, 1000);
    write(down, { seq: 2, ts: 960, payload: [1, 2, 3, 4, 5] }, 1020);
    assert.equal(down.packets, 2);
    assert.equal(down.bytes, 15 + 17);
    sink.accept = false;
    write(down, { seq: 3, ts: 1920 }, 1040);
    assert.equal(sink.sent.length, 3);
    assert.equal(down.packets, 2);
    assert.equal(down.bytes, 32);
  });
});

describe('DownTrack source changes', () => {
  it('continues the sequence at +1 and the clock by the elapsed wall time when the source SSRC changes', () => {
    const sink = new RecordingSink();
    const down = new DownTrack(0x5eed5eed, 111, sink);
    for (let i = 0; i < 5; i++)
      write(down, { ssrc: 0xaaaa0001, seq: 100 + i, ts: 5000 + 960 * i }, 1000 + 20 * i);
    // the publisher restarts 500 ms after its last packet, with new random seq/ts
    const restartAt = 1080 + 500;
    for (let i = 0; i < 5; i++)
      write(down, { ssrc: 0xbbbb0002, seq: 40000 + i, ts: 3_000_000_000 + 960 * i }, restartAt + 20 * i);
    assert.equal(sink.sent.length, 10);
    assert.deepEqual(diffs(sink.seqs, SEQ_MOD), Array(9).fill(1));
    const tsGaps = diffs(sink.timestamps, TS_MOD);
    assert.deepEqual(tsGaps.slice(0, 4), [960, 960, 960, 960]);
    assert.ok(Math.abs(tsGaps[4] - 500 * 48) <= 960, `gap at the switch: ${tsGaps[4]}`);
    assert.deepEqual(tsGaps.slice(5), [960, 960, 960, 960]);
    assert.ok(sink.sent.every((p) => p.readUInt32BE(8) === 0x5eed5eed));
  });

  it('advances the clock at least one tick for a switch within the same millisecond', () => {
    const sink = new RecordingSink();
    const down = new DownTrack(77, 111, sink);
    write(down, { ssrc: 1, seq: 10, ts: 100 }, 2000);
    write(down, { ssrc: 2, seq: 9000, ts: 100 }, 2000);
    assert.deepEqual(diffs(sink.seqs, SEQ_MOD), [1]);
    assert.ok(diffs(sink.timestamps, TS_MOD)[0] >= 1);
  });

  it('stays continuous when the source switches back and forth', () => {
    const sink = new RecordingSink();
    const down = new DownTrack(0x12345678, 111, sink);
    let now = 5000;
    const sources = [
      { ssrc: 1, seq: 65000, ts: 0xfffff000 },
      { ssrc: 2, seq: 3, ts: 17 },
      { ssrc: 1, seq: 100, ts: 900_000 },
    ];
    for (const s of sources) {
      for (let i = 0; i < 3; i++) {
        write(down, { ssrc: s.ssrc, seq: s.seq + i, ts: s.ts + 960 * i }, now);
        now += 20;
      }
      now += 1000;
    }
    assert.deepEqual(diffs(sink.seqs, SEQ_MOD), Array(8).fill(1));
    const gaps = diffs(sink.timestamps, TS_MOD);
    assert.deepEqual([gaps[0], gaps[1], gaps[3], gaps[4], gaps[6], gaps[7]], Array(6).fill(960));
    for (const g of [gaps[2], gaps[5]]) assert.ok(Math.abs(g - 1020 * 48) <= 960, `switch gap ${g}`);
  });

  it('forwards out-of-order packets with their original spacing but does not rewind "last"', () => {
    const sink = new RecordingSink();
    const down = new DownTrack(0x0f0f0f0f, 111, sink);
    const order = [10, 11, 13, 12, 14];
    for (const s of order) write(down, { ssrc: 1, seq: s, ts: s * 960 }, 1000 + s * 20);
    const base = sink.seqs[0];
    assert.deepEqual(
      sink.seqs.map((q) => (q - base + SEQ_MOD) % SEQ_MOD),
      order.map((s) => s - 10),
    );
    const tsBase = sink.timestamps[0];
    assert.deepEqual(
      sink.timestamps.map((t) => (t - tsBase + TS_MOD) % TS_MOD),
      order.map((s) => (s - 10) * 960),
    );
    // "last" is 14, not 12: a new source continues at 14 + 1 …
    write(down, { ssrc: 2, seq: 30000, ts: 1 }, 1000 + 14 * 20 + 100);
    assert.equal((sink.seqs[5] - base + SEQ_MOD) % SEQ_MOD, 5);
    // … and a late packet (13 after 14) does not make the next switch reuse numbers
    const sink2 = new RecordingSink();
    const down2 = new DownTrack(0x0e0e0e0e, 111, sink2);
    for (const s of [20, 21, 22, 21]) write(down2, { ssrc: 1, seq: s, ts: s * 960 }, 2000 + s);
    write(down2, { ssrc: 2, seq: 7, ts: 7 }, 2100);
    const b2 = sink2.seqs[0];
    assert.deepEqual(
      sink2.seqs.map((q) => (q - b2 + SEQ_MOD) % SEQ_MOD),
      [0, 1, 2, 1, 3],
    );
    // the timestamp after the switch counts from packet 22's, not from the late 21's
    const tsAfter = (sink2.timestamps[4] - sink2.timestamps[2] + TS_MOD) % TS_MOD;
    assert.ok(Math.abs(tsAfter - (2100 - 2022) * 48) <= 960, `ts advance ${tsAfter}`);
  });

  it('treats a packet 0x8000 or more behind as old across the wrap', () => {
    const sink = new RecordingSink();
    const down = new DownTrack(1, 111, sink);
    write(down, { ssrc: 1, seq: 65535, ts: 0 }, 1000);
    write(down, { ssrc: 1, seq: 0, ts: 960 }, 1020); // newer, across the wrap
    write(down, { ssrc: 1, seq: 65534, ts: 0 }, 1030); // late
    write(down, { ssrc: 2, seq: 500, ts: 0 }, 1040); // switch: continues after seq 0
    const base = sink.seqs[0];
    assert.deepEqual(
      sink.seqs.map((q) => (q - base + SEQ_MOD) % SEQ_MOD),
      [0, 1, SEQ_MOD - 1, 2],
    );
  });
});

describe('UpTrack filtering and robustness', () => {
  it('forwards nothing while paused, but still counts packets and levels', () => {
    const up = new UpTrack('TR_a', 1);
    const sink = new RecordingSink();
    up.add(new DownTrack(3, 111, sink));
    up.paused = true;
    up.receive(rtp({ seq: 1, ts: 0, level: 0 }));
    up.receive(rtp({ seq: 2, ts: 960, level: 0 }));
    assert.equal(sink.sent.length, 0);
    assert.equal(up.packets, 2);
    assert.equal(up.level.take(), 1);
    up.paused = false;
    up.receive(rtp({ seq: 3, ts: 1920 }));
    assert.equal(sink.sent.length, 1);
  });

  it('does not forward RTCP or garbage', () => {
    const up = new UpTrack('TR_a', 1);
    const sink = new RecordingSink();
    up.add(new DownTrack(3, 111, sink));
    const sr = Buffer.alloc(28);
    sr[0] = 0x80;
    sr[1] = 200;
    sr.writeUInt16BE(6, 2);
    const rr = Buffer.from([0x81, 201, 0, 7, ...Array(28).fill(0)]);
    const v1 = rtp({ seq: 1, ts: 0 });
    v1[0] = 0x40;
    for (const junk of [sr, rr, v1, Buffer.alloc(0), Buffer.from('GET / HTTP/1.1'), Buffer.alloc(11, 0x80)])
      up.receive(junk);
    assert.equal(sink.sent.length, 0);
    assert.equal(up.packets, 0);
    assert.equal(up.level.take(), 0);
  });

  it('does not forward a packet whose header extension overruns it', () => {
    const up = new UpTrack('TR_a', undefined);
    const sink = new RecordingSink();
    up.add(new DownTrack(3, 111, sink));
    const bad = rtp({ seq: 1, ts: 0, level: 10 });
    bad.writeUInt16BE(200, 14); // claims 200 words of extension
    up.receive(bad);
    up.receive(rtp({ seq: 2, ts: 960 }));
    assert.equal(sink.sent.length, 1);
    assert.equal(sink.seqs.length, 1);
  });

  it('keeps serving the other subscribers when one sink throws', () => {
    const up = new UpTrack('TR_a', undefined);
    const bad = new ThrowingSink();
    const good = new RecordingSink();
    const badDown = new DownTrack(1, 111, bad);
    const goodDown = new DownTrack(2, 111, good);
    up.add(badDown);
    up.add(goodDown);
    assert.doesNotThrow(() => {
      up.receive(rtp({ seq: 1, ts: 0 }));
      up.receive(rtp({ seq: 2, ts: 960 }));
    });
    assert.equal(bad.calls, 2);
    assert.equal(good.sent.length, 2);
    assert.equal(badDown.packets, 0);
    assert.equal(goodDown.packets, 2);
  });

  it('stops forwarding to a removed subscriber; removal during fan-out affects the next packet', () => {
    const up = new UpTrack('TR_a', undefined);
    const first = new RecordingSink();
    const second = new RecordingSink();
    const d1 = new DownTrack(1, 111, first);
    const d2 = new DownTrack(2, 111, second);
    up.add(d1);
    up.add(d2);
    first.onSend = () => up.remove(d2);
    up.receive(rtp({ seq: 1, ts: 0 }));
    assert.equal(second.sent.length, 1);
    assert.equal(up.subscriberCount, 1);
    up.receive(rtp({ seq: 2, ts: 960 }));
    assert.equal(first.sent.length, 2);
    assert.equal(second.sent.length, 1);
    up.remove(d1);
    up.receive(rtp({ seq: 3, ts: 1920 }));
    assert.equal(first.sent.length, 2);
    assert.equal(up.subscriberCount, 0);
  });

  it('a subscriber added during fan-out starts with the next packet', () => {
    const up = new UpTrack('TR_a', undefined);
    const first = new RecordingSink();
    const late = new RecordingSink();
    up.add(new DownTrack(1, 111, first));
    first.onSend = () => {
      first.onSend = undefined;
      up.add(new DownTrack(2, 111, late));
    };
    up.receive(rtp({ seq: 1, ts: 0 }));
    assert.equal(late.sent.length, 0);
    assert.equal(up.subscriberCount, 2);
    up.receive(rtp({ seq: 2, ts: 960 }));
    assert.equal(late.sent.length, 1);
    assert.equal(first.sent.length, 2);
  });
});

describe('levels', () => {
  it('LevelMeter averages linear amplitude and resets on take', () => {
    const m = new LevelMeter();
    assert.equal(m.take(), 0);
    m.add(0);
    m.add(20);
    assert.ok(Math.abs(m.take() - 0.55) < 1e-12);
    assert.equal(m.take(), 0);
    m.add(127);
    assert.ok(Math.abs(m.take() - 10 ** (-127 / 20)) < 1e-15);
    m.add(6);
    m.add(6);
    m.add(6);
    assert.ok(Math.abs(m.take() - 10 ** (-6 / 20)) < 1e-12);
  });

  it('UpTrack records levels from the negotiated audio-level extension id only', () => {
    const up = new UpTrack('TR_a', 1);
    up.receive(rtp({ seq: 1, ts: 0, level: 0 }));
    up.receive(rtp({ seq: 2, ts: 960, level: 20 }));
    up.receive(rtp({ seq: 3, ts: 1920 })); // no extension: not counted
    assert.ok(Math.abs(up.level.take() - 0.55) < 1e-12);

    const other = new UpTrack('TR_b', 2); // the packets carry the level under id 1
    other.receive(rtp({ seq: 1, ts: 0, level: 0 }));
    assert.equal(other.level.take(), 0);

    const none = new UpTrack('TR_c', undefined);
    none.receive(rtp({ seq: 1, ts: 0, level: 0 }));
    assert.equal(none.level.take(), 0);
    none.audioLevelExtId = 1; // learnt later (renegotiation)
    none.receive(rtp({ seq: 2, ts: 960, level: 40 }));
    assert.ok(Math.abs(none.level.take() - 0.01) < 1e-12);
  });
});

describe('RTCP sender reports', () => {
  it('builds an SR with NTP time, RTP time, counts and an SDES CNAME (one compound packet)', () => {
    const wallMs = Date.UTC(2026, 10, 27, 12, 0, 0, 250);
    const sr = senderReport(0xcafebabe, wallMs, 123456, 50, 4000);
    assert.equal(sr.length % 4, 0);
    assert.equal(sr[0], 0x80);
    assert.equal(sr[1], 200);
    assert.equal((sr.readUInt16BE(2) + 1) * 4, 28);
    assert.equal(sr.readUInt32BE(4), 0xcafebabe);
    assert.equal(sr.readUInt32BE(8), Math.floor(wallMs / 1000) + 2_208_988_800);
    assert.equal(sr.readUInt32BE(12), 2 ** 30); // .250 s
    assert.equal(sr.readUInt32BE(16), 123456);
    assert.equal(sr.readUInt32BE(20), 50);
    assert.equal(sr.readUInt32BE(24), 4000);
    assert.equal(sr[28], 0x81);
    assert.equal(sr[29], 202);
    assert.equal(28 + (sr.readUInt16BE(30) + 1) * 4, sr.length);
    assert.equal(sr.readUInt32BE(32), 0xcafebabe);
    assert.equal(sr[36], 1);
    assert.equal(sr.subarray(38, 38 + sr[37]).toString(), 'sotto');
    assert.equal(sr[38 + sr[37]], 0, 'the item list ends with a null octet');
    assert.ok(isRtcp(sr));
  });

  it('a DownTrack reports its own SSRC, payload octets and extrapolated RTP time; nothing before it sent', () => {
    const sink = new RecordingSink();
    const down = new DownTrack(77, 111, sink);
    down.sendReport(0, Date.now());
    assert.equal(sink.sent.length, 0, 'no report before the first packet');
    const pkt = rtp({ seq: 1, ts: 1000, ssrc: 5, payload: new Array(40).fill(1) });
    down.write(pkt, 5, 1, 1000, 100);
    const sentTs = sink.sent[0].readUInt32BE(4);
    down.sendReport(120, Date.now()); // 20 ms after the packet: +960 ticks
    const sr = sink.sent[1];
    assert.equal(sr[1], 200);
    assert.equal(sr.readUInt32BE(4), 77);
    assert.equal(sr.readUInt32BE(16), (sentTs + 960) >>> 0);
    assert.equal(sr.readUInt32BE(20), 1);
    assert.equal(sr.readUInt32BE(24), 40);
    down.sendReport(100 + 6000, Date.now());
    assert.equal(sink.sent.length, 2, 'no report after 5 s without packets');
  });

  it('reports are due about a second after forwarding starts, then every 2.5–7.5 s, at a phase of their own', () => {
    /** The times (ms, 50 ms resolution) at which a DownTrack sent its reports over `ms`. */
    const reportTimes = (ms: number): number[] => {
      const sink = new RecordingSink();
      const down = new DownTrack(7, 111, sink);
      const times: number[] = [];
      for (let t = 0; t <= ms; t += 50) {
        if (t % 20 === 0) down.write(rtp({ seq: t / 20, ts: t * 48, ssrc: 5 }), 5, t / 20, t * 48, t);
        const before = sink.sent.length;
        down.reportIfDue(t, Date.now());
        if (sink.sent.slice(before).some((b) => b[1] === 200)) times.push(t);
      }
      return times;
    };
    const runs = Array.from({ length: 40 }, () => reportTimes(30_000));
    for (const times of runs) {
      const [first = -1, ...rest] = times;
      assert.ok(first >= 500 && first <= 1550, `first report at ${first} ms`);
      let prev = first;
      for (const t of rest) {
        assert.ok(t - prev >= 2500 && t - prev <= 7550, `interval ${t - prev} ms`);
        prev = t;
      }
      assert.ok(times.length >= 4 && times.length <= 12, `${times.length} reports in 30 s`);
    }
    // spread: 40 subscribers' first reports do not all fall in one 300 ms room tick
    const firsts = runs.map((t) => t[0] ?? 0);
    assert.ok(Math.max(...firsts) - Math.min(...firsts) > 300, `first reports spread over ${firsts}`);
    const none = new DownTrack(8, 111, new RecordingSink());
    none.reportIfDue(10_000, Date.now());
    assert.equal((none.sink as RecordingSink).sent.length, 0, 'nothing before the first packet');
  });
});

describe('NACK answered from the source history', () => {
  it('resends what this subscriber got under the NACKed numbers, header rewritten as it was', () => {
    const up = new UpTrack('TR_nack', undefined);
    const a = new RecordingSink();
    const b = new RecordingSink();
    const downA = new DownTrack(0x0a0a0a0a, 111, a);
    const downB = new DownTrack(0x0b0b0b0b, 96, b);
    up.add(downA);
    up.add(downB);
    for (let i = 0; i < 10; i++) up.receive(rtp({ seq: 65530 + i, ts: 1000 + i * 960, payload: [i, i, i] }));
    // B asks for its 3rd and 8th packets (across the source's sequence wrap) and one it never got
    const want = [b.seqs[2], b.seqs[7], (b.seqs[9] + 5) & 0xffff];
    assert.equal(downB.retransmit(want), 2);
    assert.equal(b.sent.length, 12);
    assert.deepEqual(b.sent[10], b.sent[2], 'the same bytes B got the first time');
    assert.deepEqual(b.sent[11], b.sent[7]);
    assert.equal(a.sent.length, 10, 'nothing for A');
    assert.equal(downA.retransmit([a.seqs[4]]), 1);
    assert.deepEqual(a.sent[10], a.sent[4]);
  });

  it('does not map numbers from before a source change, nor older than the history', () => {
    const up = new UpTrack('TR_nack2', undefined);
    const sink = new RecordingSink();
    const down = new DownTrack(0x0c0c0c0c, 111, sink);
    up.add(down);
    for (let i = 0; i < 5; i++) up.receive(rtp({ seq: 100 + i, ts: i * 960, ssrc: 1 }));
    const beforeSwitch = sink.seqs[3];
    for (let i = 0; i < 5; i++) up.receive(rtp({ seq: 7000 + i, ts: i * 960, ssrc: 2 }));
    assert.equal(down.retransmit([beforeSwitch]), 0, 'the old source is not ours to rebuild');
    assert.equal(down.retransmit([sink.seqs[6]]), 1);
    for (let i = 5; i < 200; i++) up.receive(rtp({ seq: 7000 + i, ts: i * 960, ssrc: 2 }));
    assert.equal(down.retransmit([sink.seqs[6]]), 0, 'fell out of the 128-packet history');
  });
});
