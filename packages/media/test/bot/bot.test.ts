// Three headless bots against a real media node in this process: one publishes, two listen.
// Checks byte-for-byte forwarding with per-listener SSRC, sequence and timestamp rewriting, and
// that the node keeps everyone's roster current, routes directed data and stamps the sender's
// identity itself.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DataPacket, UserPacket } from '@livekit/protocol';
import { setLogLevel } from '@sotto/media';
import { startTestNode, type TestNode } from '../support/node.ts';
import { Bot } from './bot.ts';
import { parseRtp, type RtpHeader, SAMPLES_PER_FRAME } from './rtp.ts';
import { sleep } from './wait.ts';

setLogLevel('warn');

const ROOM = 'bot-test';
const PACKETS = 100;
const FRAME_MS = 20;
const MEASURED = 0xa5; // first payload byte of the 100 counted packets; warm-up packets carry 0

/** The known payload of counted packet `i`: tag, index, then a pattern (an 80-byte Opus frame). */
function payload(i: number): Buffer {
  const buf = Buffer.alloc(80);
  for (let j = 0; j < buf.length; j++) buf[j] = (i * 31 + j * 7) & 0xff;
  buf[0] = MEASURED;
  buf[1] = i;
  return buf;
}

describe('a bot joins a media node like livekit-client', { timeout: 30_000 }, () => {
  let node: TestNode;
  const token = (identity: string) => node.token(identity, ROOM);
  let publisher: Bot;
  let alice: Bot;
  let bob: Bot;

  before(async () => {
    node = await startTestNode();
    publisher = await Bot.join(node.url, await token('publisher'), { publish: true });
    [alice, bob] = await Promise.all([
      Bot.join(node.url, await token('alice'), { slots: 1 }),
      Bot.join(node.url, await token('bob'), { slots: 1 }),
    ]);
  });

  after(async () => {
    for (const bot of [publisher, alice, bob]) bot?.close();
    await node?.stop();
  });

  it('keeps a roster of the others from join and update messages', async () => {
    const names = (bot: Bot) =>
      [...bot.participants.values()]
        .map((p) => p.identity)
        .sort()
        .join();
    const complete = () => names(publisher) === 'alice,bob' && names(alice) === 'bob,publisher';
    for (let i = 0; i < 100 && !complete(); i++) await sleep(FRAME_MS);
    assert.equal(names(publisher), 'alice,bob');
    assert.equal(names(alice), 'bob,publisher');
  });

  it('forwards every payload byte for byte, each listener with its own SSRC, sequence and clock', async () => {
    const received = new Map<Bot, RtpHeader[]>([
      [alice, []],
      [bob, []],
    ]);
    for (const [bot, packets] of received) bot.onRtp((rtp) => packets.push(parseRtp(rtp)));
    const heardAll = () => [...received.values()].every((p) => p.length > 0);

    // warm up until both listeners hear the publisher (their slots are wired asynchronously)
    for (let i = 0; i < 250 && !heardAll(); i++) {
      publisher.sendRtp(Buffer.alloc(80));
      await sleep(FRAME_MS);
    }
    assert.ok(heardAll(), 'listeners never heard the publisher');

    for (let i = 0; i < PACKETS; i++) {
      assert.ok(publisher.sendRtp(payload(i)), `packet ${i} was not sent`);
      await sleep(FRAME_MS);
    }
    const counted = (bot: Bot) => received.get(bot)!.filter((p) => p.payload[0] === MEASURED);
    for (let i = 0; i < 50 && [alice, bob].some((b) => counted(b).length < PACKETS); i++)
      await sleep(FRAME_MS);

    const ssrcs = new Set<number>();
    for (const listener of [alice, bob]) {
      const packets = counted(listener);
      assert.ok(packets.length >= 95, `${listener.identity} got ${packets.length}/${PACKETS} packets`);
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
    }
    assert.equal(ssrcs.size, 2, 'the two listeners share an SSRC');
    assert.ok(!ssrcs.has(publisher.ssrc!), "a listener sees the publisher's own SSRC");
  });

  it('delivers a directed data packet only to its destination, stamped with the real sender', async () => {
    const got = new Map<Bot, DataPacket[]>([
      [publisher, []],
      [bob, []],
    ]);
    for (const [bot, packets] of got) bot.onData((packet) => packets.push(packet));
    const arrived = async (bot: Bot, what: string) => {
      for (let i = 0; i < 250 && got.get(bot)!.length === 0; i++) await sleep(FRAME_MS);
      assert.ok(got.get(bot)!.length > 0, `${what} never arrived at ${bot.identity}`);
      return got.get(bot)![0];
    };

    const secret = Buffer.from('for the publisher only');
    const forged = new DataPacket({
      participantIdentity: 'mallory',
      destinationIdentities: ['publisher'],
      value: {
        case: 'user',
        value: new UserPacket({
          participantIdentity: 'mallory',
          payload: secret,
          destinationIdentities: ['publisher'],
          topic: 'whisper',
        }),
      },
    });
    assert.ok(alice.sendDataPacket(forged), 'data channel not open');
    const packet = await arrived(publisher, 'the directed packet');
    assert.equal(packet.participantIdentity, 'alice');
    assert.equal(packet.value.case, 'user');
    assert.equal(packet.value.value.participantIdentity, 'alice');
    assert.ok(Buffer.from(packet.value.value.payload).equals(secret));

    // the channel is reliable and ordered: had bob been sent the directed packet, it would come first
    assert.ok(alice.sendData(Buffer.from('for everyone')));
    const broadcast = await arrived(bob, 'the broadcast');
    assert.equal(broadcast.value.case, 'user');
    assert.equal(Buffer.from(broadcast.value.value.payload).toString(), 'for everyone');
    for (const bot of [publisher, alice, bob]) assert.deepEqual(bot.errors, []);
  });
});
