// Bots on the native client transport (native-link.ts) against a real media node in this process:
// a node-datachannel publisher speaks, two native listeners hear every payload byte for byte, each
// with its own SSRC, sequence and clock; their data channels work both ways. The same native
// listener also joins a node on node-datachannel (full ICE on the node's side, which answers
// a=setup:active: the native client is then the DTLS server).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setLogLevel } from '@sotto/media';
import type { MediaTransportKind } from '../../src/node.ts';
import { startTestNode, type TestNode } from '../support/node.ts';
import { Bot } from './bot.ts';
import { parseRtp, type RtpHeader, SAMPLES_PER_FRAME } from './rtp.ts';
import { sleep } from './wait.ts';

setLogLevel('warn');

const ROOM = 'native-bot-test';
const PACKETS = 100;
const FRAME_MS = 20;
const MEASURED = 0xa5; // first payload byte of the counted packets; warm-up packets carry 0

/** The known payload of counted packet `i`: tag, index, then a pattern (an 80-byte Opus frame). */
function payload(i: number): Buffer {
  const buf = Buffer.alloc(80);
  for (let j = 0; j < buf.length; j++) buf[j] = (i * 29 + j * 11) & 0xff;
  buf[0] = MEASURED;
  buf[1] = i;
  return buf;
}

/** Sends until every listener heard something, then `count` counted packets; what each heard. */
async function speak(publisher: Bot, listeners: Bot[], count: number): Promise<Map<Bot, RtpHeader[]>> {
  const received = new Map<Bot, RtpHeader[]>(listeners.map((b) => [b, []]));
  for (const [bot, packets] of received) bot.onRtp((rtp) => packets.push(parseRtp(rtp)));
  const heardAll = () => [...received.values()].every((p) => p.length > 0);
  for (let i = 0; i < 250 && !heardAll(); i++) {
    publisher.sendRtp(Buffer.alloc(80));
    await sleep(FRAME_MS);
  }
  assert.ok(heardAll(), 'listeners never heard the publisher');
  for (let i = 0; i < count; i++) {
    assert.ok(publisher.sendRtp(payload(i)), `packet ${i} was not sent`);
    await sleep(FRAME_MS);
  }
  const counted = (bot: Bot) => received.get(bot)!.filter((p) => p.payload[0] === MEASURED);
  for (let i = 0; i < 50 && listeners.some((b) => counted(b).length < count); i++) await sleep(FRAME_MS);
  return new Map(listeners.map((b) => [b, counted(b)]));
}

/** Every payload intact; one SSRC per listener; sequence and timestamp advance with the frames. */
function assertForwarded(publisher: Bot, heard: Map<Bot, RtpHeader[]>, count: number): void {
  const ssrcs = new Set<number>();
  for (const [listener, packets] of heard) {
    assert.ok(packets.length >= count - 5, `${listener.identity} got ${packets.length}/${count} packets`);
    for (const p of packets) assert.ok(p.payload.equals(payload(p.payload[1])), 'payload altered');
    assert.ok(
      packets.every((p) => p.ssrc === packets[0].ssrc && p.payloadType === 111),
      'SSRC or payload type changed mid-stream',
    );
    ssrcs.add(packets[0].ssrc);
    for (let k = 1; k < packets.length; k++) {
      const frames = packets[k].payload[1] - packets[k - 1].payload[1];
      assert.equal(
        (packets[k].seq - packets[k - 1].seq) & 0xffff,
        frames,
        'sequence numbers not consecutive',
      );
      assert.equal(
        (packets[k].timestamp - packets[k - 1].timestamp) >>> 0,
        frames * SAMPLES_PER_FRAME,
        'timestamp did not advance by 960 per frame',
      );
    }
    assert.ok(listener.timings.firstRtp !== undefined, 'firstRtp not recorded');
  }
  assert.equal(ssrcs.size, heard.size, 'listeners share an SSRC');
  assert.ok(!ssrcs.has(publisher.ssrc!), "a listener sees the publisher's own SSRC");
}

async function dataArrives(from: Bot, to: Bot, text: string): Promise<void> {
  const got: string[] = [];
  to.onData((packet) => {
    if (packet.value.case === 'user') got.push(Buffer.from(packet.value.value.payload).toString());
  });
  assert.ok(from.sendData(Buffer.from(text), { destinationIdentities: [to.identity] }), 'channel not open');
  for (let i = 0; i < 250 && !got.includes(text); i++) await sleep(FRAME_MS);
  assert.ok(got.includes(text), `${text} never arrived at ${to.identity}`);
}

for (const transport of ['native', 'datachannel'] as MediaTransportKind[]) {
  describe(`native-client bots on a ${transport} node`, { timeout: 60_000 }, () => {
    let node: TestNode;
    let publisher: Bot;
    let alice: Bot;
    let bob: Bot;

    before(async () => {
      node = await startTestNode({ transport });
      const token = (identity: string) => node.token(identity, ROOM);
      publisher = await Bot.join(node.url, await token('publisher'), { publish: true });
      [alice, bob] = await Promise.all([
        Bot.join(node.url, await token('alice'), { slots: 1, transport: 'native' }),
        Bot.join(node.url, await token('bob'), { slots: 1, transport: 'native' }),
      ]);
    });

    after(async () => {
      for (const bot of [publisher, alice, bob]) bot?.close();
      await node?.stop();
    });

    it('forwards every payload byte for byte, each listener with its own SSRC, sequence and clock', async () => {
      assertForwarded(publisher, await speak(publisher, [alice, bob], PACKETS), PACKETS);
    });

    it('carries data both ways on the native SCTP channels', async () => {
      await dataArrives(alice, publisher, 'from a native bot');
      await dataArrives(publisher, bob, 'to a native bot');
      for (const bot of [publisher, alice, bob]) assert.deepEqual(bot.errors, []);
    });

    it('a native bot publishes too, and a late listener gets a slot by renegotiation', async () => {
      const speaker = await Bot.join(node.url, await node.token('speaker', ROOM), {
        publish: true,
        transport: 'native',
      });
      // no pre-offered slot: the node asks for two (publisher, speaker) with mediaSectionsRequirement
      const carol = await Bot.join(node.url, await node.token('carol', ROOM), {
        slots: 0,
        transport: 'native',
      });
      try {
        const heard = await speak(speaker, [carol, publisher], 50);
        assertForwarded(speaker, heard, 50);
        assert.deepEqual(carol.errors, []);
      } finally {
        speaker.close();
        carol.close();
      }
    });
  });
}
