// SCTP data channels: two endpoints back to back in memory (packets delivered with setImmediate),
// the wire formats peers see, lossy links, partial reliability, stream reset, and bad input.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32c, type SctpChannel, SctpEndpoint } from './sctp.ts';

interface Chunk {
  type: number;
  flags: number;
  value: Buffer;
}

function chunksOf(p: Buffer): Chunk[] {
  const out: Chunk[] = [];
  let off = 12;
  while (off + 4 <= p.length) {
    const len = p.readUInt16BE(off + 2);
    out.push({ type: p[off], flags: p[off + 1], value: p.subarray(off + 4, off + len) });
    off += (len + 3) & ~3;
  }
  return out;
}

/** A packet with a correct checksum (SCTP stores the CRC32c little-endian). */
function packet(vtag: number, chunks: Buffer[]): Buffer {
  const body = Buffer.concat(chunks.map((c) => Buffer.concat([c, Buffer.alloc((4 - (c.length % 4)) % 4)])));
  const p = Buffer.concat([Buffer.alloc(12), body]);
  p.writeUInt16BE(5000, 0);
  p.writeUInt16BE(5000, 2);
  p.writeUInt32BE(vtag, 4);
  p.writeUInt32LE(crc32c(p), 8);
  return p;
}

function chunk(type: number, flags: number, value: Buffer): Buffer {
  const c = Buffer.alloc(4 + value.length);
  c[0] = type;
  c[1] = flags;
  c.writeUInt16BE(c.length, 2);
  value.copy(c, 4);
  return c;
}

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBuffer(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Pair {
  a: SctpEndpoint;
  b: SctpEndpoint;
  /** Every packet sent, in order, with its direction. */
  wire: { from: 'a' | 'b'; p: Buffer }[];
  states: { a: string[]; b: string[] };
  /** Channels opened by the peer, by the side they appeared on. */
  opened: { a: SctpChannel[]; b: SctpChannel[] };
  /** Drop a packet (after it is logged) when this says so. */
  drop: (from: 'a' | 'b', n: number, p: Buffer) => boolean;
  close(): void;
}

function pair(drop: Pair['drop'] = () => false): Pair {
  const wire: Pair['wire'] = [];
  const counts = { a: 0, b: 0 };
  const states = { a: [] as string[], b: [] as string[] };
  const opened = { a: [] as SctpChannel[], b: [] as SctpChannel[] };
  const ends: { a?: SctpEndpoint; b?: SctpEndpoint } = {};
  const pr: Pair = {
    a: undefined as unknown as SctpEndpoint,
    b: undefined as unknown as SctpEndpoint,
    wire,
    states,
    opened,
    drop,
    close() {
      ends.a?.close();
      ends.b?.close();
    },
  };
  const link = (from: 'a' | 'b') => (p: Buffer) => {
    wire.push({ from, p });
    counts[from]++;
    if (pr.drop(from, counts[from], p)) return;
    const to = from === 'a' ? 'b' : 'a';
    setImmediate(() => ends[to]?.receive(p));
  };
  ends.a = new SctpEndpoint({ isClient: true, send: link('a') });
  ends.b = new SctpEndpoint({ isClient: false, send: link('b') });
  pr.a = ends.a;
  pr.b = ends.b;
  pr.a.onStateChange = (s) => states.a.push(s);
  pr.b.onStateChange = (s) => states.b.push(s);
  pr.a.onChannel = (dc) => opened.a.push(dc);
  pr.b.onChannel = (dc) => opened.b.push(dc);
  return pr;
}

async function connected(): Promise<Pair> {
  const p = pair();
  p.a.start();
  p.b.start();
  await waitFor(() => p.a.state === 'connected' && p.b.state === 'connected', 'the association');
  return p;
}

function sentChunkTypes(p: Pair, from: 'a' | 'b'): number[] {
  return p.wire.filter((w) => w.from === from).flatMap((w) => chunksOf(w.p).map((c) => c.type));
}

function collect(dc: SctpChannel): (string | Buffer)[] {
  const got: (string | Buffer)[] = [];
  dc.onMessage((m) => got.push(m as string | Buffer));
  return got;
}

describe('crc32c', () => {
  it('gives the Castagnoli check value for "123456789"', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
  });
});

describe('association setup', () => {
  it('sends an INIT with tag 0, a 1 MiB window, 65535 streams, FORWARD-TSN and RE-CONFIG', () => {
    const sent: Buffer[] = [];
    const ep = new SctpEndpoint({ isClient: true, send: (p) => sent.push(p) });
    ep.start();
    ep.close();
    const init = sent[0];
    assert.equal(init.readUInt16BE(0), 5000);
    assert.equal(init.readUInt16BE(2), 5000);
    assert.equal(init.readUInt32BE(4), 0, 'INIT travels with verification tag 0');
    const zeroed = Buffer.from(init);
    zeroed.writeUInt32LE(0, 8);
    assert.equal(init.readUInt32LE(8), crc32c(zeroed));
    const [c] = chunksOf(init);
    assert.equal(c.type, 1);
    assert.notEqual(c.value.readUInt32BE(0), 0, 'initiate tag');
    assert.equal(c.value.readUInt32BE(4), 1024 * 1024);
    assert.equal(c.value.readUInt16BE(8), 65535);
    assert.equal(c.value.readUInt16BE(10), 65535);
    const params = new Map<number, Buffer>();
    for (let off = 16; off + 4 <= c.value.length; ) {
      const len = c.value.readUInt16BE(off + 2);
      params.set(c.value.readUInt16BE(off), c.value.subarray(off + 4, off + len));
      off += (len + 3) & ~3;
    }
    assert.deepEqual([...(params.get(0x8008) ?? [])], [0xc0, 0x82]);
    assert.ok(params.has(0xc000));
  });

  it('comes up when only the DTLS client starts', async () => {
    const p = pair();
    p.a.start();
    await waitFor(() => p.a.state === 'connected' && p.b.state === 'connected', 'the association');
    assert.deepEqual(p.states.a, ['connecting', 'connected']);
    assert.deepEqual(p.states.b, ['connected']);
    assert.equal(p.a.tags.remote, p.b.tags.local);
    assert.equal(p.b.tags.remote, p.a.tags.local);
    p.close();
  });

  it('resolves simultaneous INITs into one association', async () => {
    const p = await connected();
    assert.equal(p.a.tags.remote, p.b.tags.local);
    assert.equal(p.b.tags.remote, p.a.tags.local);
    assert.ok(sentChunkTypes(p, 'a').includes(1) && sentChunkTypes(p, 'b').includes(1), 'both sent INIT');
    const ch = p.a.createChannel('x', { ordered: true });
    await waitFor(() => p.opened.b.length === 1, 'the channel');
    const got = collect(p.opened.b[0]);
    assert.ok(ch.sendMessageBinary(Buffer.from('after a collision')));
    await waitFor(() => got.length === 1, 'the message');
    assert.equal(p.a.dropped + p.b.dropped, 0);
    p.close();
  });

  it('resolves a collision in which one INIT is lost', async () => {
    const p = pair((from, n) => from === 'a' && n === 1);
    p.a.start();
    p.b.start();
    await waitFor(() => p.a.state === 'connected' && p.b.state === 'connected', 'the association');
    assert.equal(p.a.tags.remote, p.b.tags.local);
    assert.equal(p.b.tags.remote, p.a.tags.local);
    p.close();
  });
});

describe('data channels', () => {
  it('opens channels from each side with DCEP, on even (client) and odd (server) streams', async () => {
    const p = await connected();
    const fromA = p.a.createChannel('_reliable', { ordered: true });
    const fromB = p.b.createChannel('_lossy', { ordered: false, maxRetransmits: 0 });
    let aOpen = false;
    fromA.onOpen(() => {
      aOpen = true;
    });
    await waitFor(() => p.opened.a.length === 1 && p.opened.b.length === 1, 'both channels');
    assert.ok(aOpen, 'onOpen fired');
    assert.equal(p.opened.b[0].getLabel(), '_reliable');
    assert.equal(p.opened.a[0].getLabel(), '_lossy');
    assert.equal(fromA.stream % 2, 0);
    assert.equal(fromB.stream % 2, 1);
    assert.equal(p.opened.a[0].ordered, false);
    assert.equal(p.opened.a[0].maxRetransmits, 0);
    assert.ok(p.opened.a[0].isOpen() && p.opened.b[0].isOpen());
    // the OPEN from b as it went on the wire: PPID 50, type 0x03, channel type 0x81, label
    const open = p.wire
      .filter((w) => w.from === 'b')
      .flatMap((w) => chunksOf(w.p))
      .find((c) => c.type === 0 && c.value.readUInt32BE(8) === 50 && c.value[12] === 0x03);
    assert.ok(open, 'a DATA_CHANNEL_OPEN');
    const dcep = open.value.subarray(12);
    assert.equal(dcep[1], 0x81);
    assert.equal(dcep.readUInt32BE(4), 0);
    assert.equal(dcep.readUInt16BE(8), 6);
    assert.equal(dcep.toString('utf8', 12, 18), '_lossy');
    assert.equal(open.value.readUInt16BE(4), fromB.stream);
    // and the ACK came back on the same stream
    const ack = p.wire
      .filter((w) => w.from === 'a')
      .flatMap((w) => chunksOf(w.p))
      .find((c) => c.type === 0 && c.value.readUInt32BE(8) === 50 && c.value[12] === 0x02);
    assert.equal(ack?.value.readUInt16BE(4), fromB.stream);
    p.close();
  });

  it('queues channels created before the association and delivers data sent right after OPEN', async () => {
    const p = pair();
    const early = p.a.createChannel('early', { ordered: true });
    assert.equal(early.isOpen(), false);
    assert.equal(early.sendMessageBinary(Buffer.from('too soon')), false);
    let opened = false;
    early.onOpen(() => {
      opened = true;
      early.sendMessageBinary(Buffer.from('first'));
    });
    const got: string[] = [];
    p.b.onChannel = (dc) => {
      p.opened.b.push(dc);
      dc.onMessage((m) => got.push(String(m)));
    };
    p.a.start();
    p.b.start();
    await waitFor(() => got.length === 1, 'the first message');
    assert.ok(opened);
    assert.deepEqual(got, ['first']);
    assert.equal(p.opened.b[0].getLabel(), 'early');
    p.close();
  });

  it('carries binary, string and empty messages both ways with their PPIDs', async () => {
    const p = await connected();
    const ca = p.a.createChannel('chat', { ordered: true });
    await waitFor(() => p.opened.b.length === 1, 'the channel');
    const cb = p.opened.b[0];
    const atA = collect(ca);
    const atB = collect(cb);
    assert.ok(ca.sendMessageBinary(Buffer.from([1, 2, 3])));
    assert.ok(ca.sendMessage('héllo'));
    assert.ok(ca.sendMessageBinary(new Uint8Array(0)));
    assert.ok(ca.sendMessage(''));
    assert.ok(cb.sendMessageBinary(new Uint8Array([9, 8])));
    assert.ok(cb.sendMessage('back'));
    assert.ok(cb.sendMessage(''));
    assert.ok(cb.sendMessageBinary(Buffer.alloc(0)));
    await waitFor(() => atB.length === 4 && atA.length === 4, 'eight messages');
    assert.deepEqual(atB, [Buffer.from([1, 2, 3]), 'héllo', Buffer.alloc(0), '']);
    assert.deepEqual(atA, [Buffer.from([9, 8]), 'back', '', Buffer.alloc(0)]);
    // on the wire: 53, 51, 57 and 56, the empty ones as one zero byte
    const ppids = p.wire
      .filter((w) => w.from === 'a')
      .flatMap((w) => chunksOf(w.p))
      .filter((c) => c.type === 0 && c.value.readUInt32BE(8) !== 50)
      .map((c) => [c.value.readUInt32BE(8), c.value.length - 12]);
    assert.deepEqual(ppids, [
      [53, 3],
      [51, 6],
      [57, 1],
      [56, 1],
    ]);
    p.close();
  });

  it('reassembles a 200 KB message and refuses one above the maximum size', async () => {
    const p = await connected();
    const ca = p.a.createChannel('big', { ordered: true });
    await waitFor(() => p.opened.b.length === 1, 'the channel');
    const cb = p.opened.b[0];
    const atA = collect(ca);
    const atB = collect(cb);
    const rand = prng(7);
    const big = randomBuffer(rand, 200 * 1024);
    const back = randomBuffer(rand, 200 * 1024 + 13);
    assert.ok(ca.sendMessageBinary(big));
    assert.ok(cb.sendMessageBinary(back));
    assert.equal(ca.sendMessageBinary(Buffer.alloc(256 * 1024 + 1)), false);
    await waitFor(() => atB.length === 1 && atA.length === 1, 'the big messages', 8000);
    assert.ok((atB[0] as Buffer).equals(big));
    assert.ok((atA[0] as Buffer).equals(back));
    const fragments = p.wire
      .filter((w) => w.from === 'a')
      .flatMap((w) => chunksOf(w.p).filter((c) => c.type === 0));
    assert.ok(fragments.length > 150, 'sent as fragments');
    assert.ok(
      p.wire.every((w) => w.p.length <= 1200),
      'no packet above the MTU',
    );
    p.close();
  });

  it('delivers 200 reliable ordered messages in order over a link that drops every 5th packet', async () => {
    const p = pair((_from, n) => n % 5 === 0);
    p.a.start();
    p.b.start();
    await waitFor(() => p.a.state === 'connected' && p.b.state === 'connected', 'the association');
    const ca = p.a.createChannel('_reliable', { ordered: true });
    await waitFor(() => p.opened.b.length === 1, 'the channel');
    const cb = p.opened.b[0];
    const atB = collect(cb);
    const atA = collect(ca);
    const rand = prng(42);
    const sent: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const m = randomBuffer(rand, 1 + Math.floor(rand() * 1500));
      m.writeUInt8(i, 0);
      sent.push(m);
      assert.ok(ca.sendMessageBinary(m));
      if (i % 50 === 0) cb.sendMessage(`echo ${i}`);
    }
    await waitFor(() => atB.length === 200 && atA.length === 4, 'all messages', 9000);
    for (let i = 0; i < 200; i++) assert.ok((atB[i] as Buffer).equals(sent[i]), `message ${i}`);
    assert.deepEqual(atA, ['echo 0', 'echo 50', 'echo 100', 'echo 150']);
    p.close();
  });

  it('abandons lost unordered maxRetransmits:0 messages with FORWARD-TSN, never blocking the reliable channel', async () => {
    const p = await connected();
    const reliable = p.a.createChannel('_reliable', { ordered: true });
    const lossy = p.a.createChannel('_lossy', { ordered: false, maxRetransmits: 0 });
    await waitFor(() => p.opened.b.length === 2, 'the channels');
    // one more round trip so that the DCEP ACKs are in: from then on _lossy is unordered
    const rb = p.opened.b.find((c) => c.getLabel() === '_reliable')!;
    const lb = p.opened.b.find((c) => c.getLabel() === '_lossy')!;
    const gotReliable = collect(rb);
    const gotLossy = collect(lb);
    reliable.sendMessage('warm up');
    await waitFor(() => gotReliable.length === 1, 'the warm-up');
    gotReliable.length = 0;
    p.drop = (_from, n) => n % 5 === 0;
    for (let i = 0; i < 100; i++) {
      const m = Buffer.alloc(1000, i);
      assert.ok(lossy.sendMessageBinary(m));
      assert.ok(reliable.sendMessageBinary(Buffer.from(`r${i}`)));
    }
    await waitFor(() => gotReliable.length === 100, 'the reliable messages', 9000);
    assert.deepEqual(
      gotReliable.map(String),
      Array.from({ length: 100 }, (_, i) => `r${i}`),
    );
    await waitFor(() => p.a.bufferedAmount === 0, 'everything acknowledged or abandoned', 9000);
    assert.ok(gotLossy.length > 0, 'some lossy messages arrive');
    assert.ok(gotLossy.length < 100, `some are abandoned (${gotLossy.length} arrived)`);
    for (const m of gotLossy) assert.equal((m as Buffer).length, 1000);
    assert.ok(sentChunkTypes(p, 'a').includes(0xc0), 'a FORWARD-TSN went out');
    const lossyData = p.wire
      .filter((w) => w.from === 'a')
      .flatMap((w) => chunksOf(w.p))
      .filter(
        (c) => c.type === 0 && c.value.readUInt16BE(4) === lossy.stream && c.value.readUInt32BE(8) === 53,
      );
    const tsns = lossyData.map((c) => c.value.readUInt32BE(0));
    assert.equal(new Set(tsns).size, tsns.length, 'no lossy chunk was retransmitted');
    assert.ok(
      lossyData.every((c) => c.flags & 0x04),
      'sent unordered',
    );
    // the association is fine afterwards
    p.drop = () => false;
    reliable.sendMessage('after');
    await waitFor(() => gotReliable.length === 101, 'one more');
    p.close();
  });

  it('skips abandoned ordered maxRetransmits:0 messages by stream sequence number', async () => {
    const p = await connected();
    const ordered = p.a.createChannel('ordered-lossy', { ordered: true, maxRetransmits: 0 });
    await waitFor(() => p.opened.b.length === 1, 'the channel');
    const got = collect(p.opened.b[0]);
    p.drop = (from, n) => from === 'a' && n % 4 === 0;
    for (let i = 0; i < 60; i++) assert.ok(ordered.sendMessageBinary(Buffer.alloc(900, i)));
    await waitFor(() => p.a.bufferedAmount === 0, 'everything acknowledged or abandoned', 9000);
    const order = got.map((m) => (m as Buffer)[0]);
    assert.ok(order.length > 0 && order.length < 60, `some abandoned (${order.length} arrived)`);
    assert.deepEqual(
      order,
      [...order].sort((x, y) => x - y),
      'in order, gaps skipped',
    );
    // FORWARD-TSN carried the stream and its last skipped SSN
    const fwd = p.wire
      .filter((w) => w.from === 'a')
      .flatMap((w) => chunksOf(w.p))
      .filter((c) => c.type === 0xc0 && c.value.length >= 8);
    assert.ok(fwd.length > 0, 'FORWARD-TSN with stream/SSN pairs');
    assert.equal(fwd[0].value.readUInt16BE(4), ordered.stream);
    p.drop = () => false;
    ordered.sendMessageBinary(Buffer.alloc(900, 200));
    await waitFor(() => got.length === order.length + 1, 'the stream is not stuck');
    p.close();
  });

  it('closes a channel on both sides with a stream reset, and the stream can be used again', async () => {
    const p = await connected();
    const ca = p.a.createChannel('one', { ordered: true });
    await waitFor(() => p.opened.b.length === 1, 'the channel');
    const cb = p.opened.b[0];
    let closedA = 0;
    let closedB = 0;
    ca.onClosed(() => closedA++);
    cb.onClosed(() => closedB++);
    ca.close();
    assert.equal(ca.isOpen(), false);
    assert.equal(ca.sendMessageBinary(Buffer.from('x')), false);
    await waitFor(() => closedA === 1 && closedB === 1, 'onClosed on both sides');
    assert.equal(cb.isOpen(), false);
    // a RE-CONFIG request from a, answered; and b reset its own outgoing stream in turn
    const reconfigs = (from: 'a' | 'b') =>
      p.wire
        .filter((w) => w.from === from)
        .flatMap((w) => chunksOf(w.p))
        .filter((c) => c.type === 0x82);
    const request = reconfigs('a').find((c) => c.value.readUInt16BE(0) === 13);
    assert.ok(request, 'an Outgoing SSN Reset Request');
    assert.equal(request.value.readUInt16BE(4 + 12), ca.stream);
    const response = reconfigs('b').find((c) => c.value.readUInt16BE(0) === 16);
    assert.equal(response?.value.readUInt32BE(8), 1, 'Success - Performed');
    assert.ok(
      reconfigs('b').some((c) => c.value.readUInt16BE(0) === 13),
      'b resets its side',
    );
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(closedA, 1, 'onClosed fires once');
    assert.equal(closedB, 1);
    const again = p.a.createChannel('two', { ordered: true });
    assert.equal(again.stream, ca.stream, 'the stream id is free again');
    await waitFor(() => p.opened.b.length === 2, 'the new channel');
    const got = collect(p.opened.b[1]);
    again.sendMessage('fresh');
    await waitFor(() => got.length === 1, 'a message on the reused stream');
    assert.deepEqual(got, ['fresh']);
    p.close();
  });

  it('defers a reset until the data before it has arrived, then closes', async () => {
    const p = await connected();
    const ca = p.a.createChannel('deferred', { ordered: true });
    await waitFor(() => p.opened.b.length === 1, 'the channel');
    const cb = p.opened.b[0];
    const events: string[] = [];
    cb.onMessage((m) => events.push(`message ${(m as Buffer).length}`));
    cb.onClosed(() => events.push('closed'));
    // the first fragment of the message is lost: the reset request overtakes it
    let lost = false;
    p.drop = (from, _n, pkt) => {
      const c = chunksOf(pkt)[0];
      if (lost || from !== 'a' || c?.type !== 0 || !(c.flags & 0x02) || c.value.readUInt32BE(8) !== 53)
        return false;
      lost = true;
      return true;
    };
    assert.ok(ca.sendMessageBinary(Buffer.alloc(3000, 1)));
    ca.close();
    await waitFor(() => events.includes('closed'), 'the channel closed at b', 8000);
    assert.ok(lost);
    assert.deepEqual(events, ['message 3000', 'closed']);
    const results = p.wire
      .filter((w) => w.from === 'b')
      .flatMap((w) => chunksOf(w.p))
      .filter((c) => c.type === 0x82 && c.value.readUInt16BE(0) === 16)
      .map((c) => c.value.readUInt32BE(8));
    assert.equal(results[0], 6, 'In progress first');
    assert.ok(results.includes(1), 'then Performed');
    p.close();
  });

  it('closes the other side when an endpoint closes (ABORT)', async () => {
    const p = await connected();
    const ca = p.a.createChannel('c', { ordered: true });
    await waitFor(() => p.opened.b.length === 1, 'the channel');
    let closed = false;
    p.opened.b[0].onClosed(() => {
      closed = true;
    });
    p.a.close();
    assert.equal(p.a.state, 'closed');
    assert.equal(ca.isOpen(), false);
    await waitFor(() => p.b.state === 'closed', 'b closed');
    assert.ok(closed);
    assert.deepEqual(p.states.b, ['connecting', 'connected', 'closed']);
    assert.ok(sentChunkTypes(p, 'a').includes(6));
  });

  it('shuts down gracefully after delivering what is outstanding', async () => {
    const p = await connected();
    const ca = p.a.createChannel('c', { ordered: true });
    await waitFor(() => p.opened.b.length === 1, 'the channel');
    const got = collect(p.opened.b[0]);
    ca.sendMessage('last words');
    p.a.shutdown();
    await waitFor(() => p.a.state === 'closed' && p.b.state === 'closed', 'both closed');
    assert.deepEqual(got, ['last words']);
    assert.ok(sentChunkTypes(p, 'a').includes(7), 'SHUTDOWN');
    assert.ok(sentChunkTypes(p, 'b').includes(8), 'SHUTDOWN ACK');
    assert.ok(sentChunkTypes(p, 'a').includes(14), 'SHUTDOWN COMPLETE');
    assert.ok(!sentChunkTypes(p, 'a').includes(6) && !sentChunkTypes(p, 'b').includes(6), 'no ABORT');
  });
});

describe('timers', () => {
  it("keeps at most one unref'd timer per association, and none after close", async () => {
    const live = new Set<NodeJS.Timeout>();
    const realSet = globalThis.setTimeout;
    const realClear = globalThis.clearTimeout;
    const patchedSet = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const t: NodeJS.Timeout = realSet(() => {
        live.delete(t);
        fn(...args);
      }, ms);
      live.add(t);
      return t;
    };
    globalThis.setTimeout = patchedSet as unknown as typeof setTimeout;
    globalThis.clearTimeout = ((t: NodeJS.Timeout | undefined) => {
      if (t) live.delete(t);
      realClear(t);
    }) as typeof clearTimeout;
    const ours = () => [...live].filter((t) => !t.hasRef()).length;
    let most = 0;
    try {
      const p = pair((_from, n) => n % 7 === 0);
      p.a.start();
      p.b.start();
      await waitFor(() => p.a.state === 'connected' && p.b.state === 'connected', 'the association');
      const ch = p.a.createChannel('t', { ordered: true });
      await waitFor(() => p.opened.b.length === 1, 'the channel');
      const got = collect(p.opened.b[0]);
      for (let i = 0; i < 50; i++) ch.sendMessageBinary(Buffer.alloc(2000, i));
      while (got.length < 50) {
        most = Math.max(most, ours());
        await new Promise((r) => realSet(r, 2));
      }
      assert.ok(most >= 1 && most <= 2, `${most} timers for two associations`);
      p.close();
      assert.equal(ours(), 0, 'none after close');
    } finally {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    }
  });
});

describe('heartbeats', () => {
  it('answers a HEARTBEAT with its info, and sends one when idle', async () => {
    const wire: { from: string; p: Buffer }[] = [];
    const ends: SctpEndpoint[] = [];
    const mk = (isClient: boolean, i: number) =>
      new SctpEndpoint({
        isClient,
        heartbeatMs: 100,
        send: (p) => {
          wire.push({ from: i === 0 ? 'a' : 'b', p });
          setImmediate(() => ends[1 - i].receive(p));
        },
      });
    ends.push(mk(true, 0), mk(false, 1));
    const [a, b] = ends;
    a.start();
    await waitFor(() => a.state === 'connected' && b.state === 'connected', 'the association');
    // a HEARTBEAT of our own making, answered with the same info
    const info = Buffer.from('0001000c6869207468657265', 'hex');
    const before = wire.length;
    b.receive(packet(b.tags.local, [chunk(4, 0, info)]));
    const ack = wire
      .slice(before)
      .filter((w) => w.from === 'b')
      .flatMap((w) => chunksOf(w.p))
      .find((c) => c.type === 5);
    assert.ok(ack, 'HEARTBEAT ACK');
    assert.ok(ack.value.equals(info));
    // idle: each side sends HEARTBEATs, and they are acknowledged
    await waitFor(
      () => wire.some((w) => w.from === 'a' && chunksOf(w.p).some((c) => c.type === 4)),
      'a heartbeat from a',
    );
    await waitFor(
      () => wire.some((w) => w.from === 'b' && chunksOf(w.p).some((c) => c.type === 5)),
      'its acknowledgement',
    );
    await new Promise((r) => setTimeout(r, 350));
    assert.equal(a.state, 'connected');
    assert.equal(b.state, 'connected');
    a.close();
    b.close();
  });
});

describe('bad input', () => {
  it('drops and counts garbage, never throws, and keeps the association working', async () => {
    const p = await connected();
    const ca = p.a.createChannel('c', { ordered: true });
    await waitFor(() => p.opened.b.length === 1, 'the channel');
    const got = collect(p.opened.b[0]);
    ca.sendMessage('before');
    await waitFor(() => got.length === 1, 'the first message');
    const tag = p.b.tags.local;
    const rand = prng(1234);
    let expected = 0;
    const feed = (pkt: Buffer, counted = true) => {
      assert.doesNotThrow(() => p.b.receive(pkt));
      if (counted) expected++;
      assert.equal(p.b.dropped, expected, `dropped after ${pkt.toString('hex').slice(0, 64)}`);
    };
    // random bytes of every size (the checksum fails)
    for (let i = 0; i < 300; i++) feed(randomBuffer(rand, Math.floor(rand() * 1500)));
    // a good packet with one bit flipped
    const good = packet(tag, [chunk(4, 0, Buffer.from('0001000800000000', 'hex'))]);
    const flipped = Buffer.from(good);
    flipped[20] ^= 0x10;
    feed(flipped);
    // random chunk bodies with a good checksum and tag, and random lengths
    for (let i = 0; i < 200; i++) {
      const body = randomBuffer(rand, 4 + Math.floor(rand() * 64));
      body[0] = [0, 3, 0x82, 0xc0, 10][i % 5];
      body.writeUInt16BE(Math.floor(rand() * 0x10000), 2); // mostly past the end
      const pkt = packet(tag, [body]);
      const len = body.readUInt16BE(2);
      if (len >= 4 && len <= body.length) continue; // a structurally valid chunk is not garbage
      feed(pkt);
    }
    // zero-length and short chunks
    feed(packet(tag, [Buffer.from([0, 0, 0, 0])]));
    const zeroLen = packet(tag, [Buffer.from([3, 0, 0, 0])]);
    feed(zeroLen);
    feed(packet(tag, [Buffer.from([0, 3, 0, 2])]));
    // a chunk length past the end, after a valid chunk
    feed(packet(tag, [chunk(4, 0, Buffer.alloc(8)), Buffer.from([0, 3, 0x40, 0])]));
    // a truncated DATA chunk (header only), a DATA chunk without user data
    feed(packet(tag, [chunk(0, 3, Buffer.alloc(6))]));
    feed(packet(tag, [chunk(0, 3, Buffer.alloc(12))]));
    // a truncated SACK and one claiming more gap blocks than it has
    feed(packet(tag, [chunk(3, 0, Buffer.alloc(6))]));
    const sack = Buffer.alloc(12);
    sack.writeUInt16BE(50, 8);
    feed(packet(tag, [chunk(3, 0, sack)]));
    // wrong verification tag; an INIT with a tag; an INIT bundled with more
    feed(packet((tag ^ 1) >>> 0, [chunk(4, 0, Buffer.alloc(8))]));
    feed(packet(tag, [chunk(1, 0, Buffer.alloc(16, 1))]));
    feed(packet(0, [chunk(1, 0, Buffer.alloc(16, 1)), chunk(4, 0, Buffer.alloc(8))]));
    // a forged COOKIE ECHO
    feed(packet(tag, [chunk(10, 0, randomBuffer(rand, 60))]));
    // too short for a header; wrong destination port
    feed(Buffer.alloc(8));
    const port = packet(tag, [chunk(4, 0, Buffer.alloc(8))]);
    port.writeUInt16BE(5001, 2);
    port.writeUInt32LE(0, 8);
    port.writeUInt32LE(crc32c(port), 8);
    feed(port);
    // an unknown chunk type (0x3f: stop processing) is not an error
    feed(packet(tag, [chunk(0x3f, 0, Buffer.alloc(4))]), false);
    assert.equal(p.b.state, 'connected');
    // the association still works, both ways
    ca.sendMessage('after');
    await waitFor(() => got.length === 2, 'a message after the garbage');
    assert.deepEqual(got, ['before', 'after']);
    const back = collect(ca);
    p.opened.b[0].sendMessage('and back');
    await waitFor(() => back.length === 1, 'a message the other way');
    assert.equal(p.a.dropped, 0);
    p.close();
  });

  it("accepts an ABORT with the T bit only under the peer's tag", async () => {
    const p = await connected();
    p.b.receive(packet(p.b.tags.local, [chunk(6, 1, Buffer.alloc(0))]));
    assert.equal(p.b.dropped, 1, 'T bit with our own tag');
    p.b.receive(packet(p.b.tags.remote, [chunk(6, 0, Buffer.alloc(0))]));
    assert.equal(p.b.dropped, 2, 'no T bit with the peer tag');
    assert.equal(p.b.state, 'connected');
    p.b.receive(packet(p.b.tags.remote, [chunk(6, 1, Buffer.alloc(0))]));
    assert.equal(p.b.state, 'closed');
    p.close();
  });

  it('never throws or loops on malformed packets with valid tags in any state', () => {
    const rand = prng(99);
    const ep = new SctpEndpoint({ isClient: false, send: () => {} });
    const tag = ep.tags.local;
    for (let i = 0; i < 2000; i++) {
      const n = 1 + Math.floor(rand() * 3);
      const chunks: Buffer[] = [];
      for (let k = 0; k < n; k++) {
        const value = randomBuffer(rand, Math.floor(rand() * 40));
        chunks.push(
          chunk([0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 0x82, 0xc0][Math.floor(rand() * 13)], 0, value),
        );
      }
      const pkt = packet(chunks[0][0] === 1 ? 0 : tag, chunks);
      assert.doesNotThrow(() => ep.receive(pkt));
      if (i === 1000) ep.start();
    }
    ep.close();
  });
});
