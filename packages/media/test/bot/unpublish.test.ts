// A track leaving the room, end to end with WebRTC bots: revoking canPublish through the
// RoomService stops the listener's audio at once, the track disappears from the room, and
// track_published / track_unpublished webhooks arrive with the track's sid.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setLogLevel } from '@sotto/media';
import { RoomServiceClient } from 'livekit-server-sdk';
import { API_KEY, API_SECRET, startTestNode, type TestNode } from '../support/node.ts';
import { type Receiver, startReceiver } from '../support/webhook-receiver.ts';
import { Bot } from './bot.ts';
import { sleep } from './wait.ts';

setLogLevel('warn');

const ROOM = 'unpublish';
const FRAME_MS = 20;

describe('unpublishing a track', { timeout: 30_000 }, () => {
  let receiver: Receiver;
  let node: TestNode;
  let publisher: Bot;
  let listener: Bot;

  before(async () => {
    receiver = await startReceiver();
    node = await startTestNode({ webhookUrls: [receiver.url] });
    publisher = await Bot.join(node.url, await node.token('speaker', ROOM), { publish: true });
    listener = await Bot.join(node.url, await node.token('listener', ROOM), { slots: 1 });
  });

  after(async () => {
    publisher?.close();
    listener?.close();
    await node?.stop();
    await receiver?.close();
  });

  /** Sends `frames` packets at 50/s and returns how many the listener got meanwhile. */
  async function heard(frames: number): Promise<number> {
    let got = 0;
    const count = () => got++;
    listener.onRtp(count);
    for (let i = 0; i < frames; i++) {
      publisher.sendRtp(Buffer.alloc(80, 7));
      await sleep(FRAME_MS);
    }
    await sleep(200);
    const n = got;
    got = Number.NEGATIVE_INFINITY; // later callbacks no longer count
    return n;
  }

  it('revoking canPublish stops forwarding and unpublishes, with both track webhooks', async () => {
    const trackSid = publisher.trackSid;
    assert.match(trackSid ?? '', /^TR_/);
    assert.ok((await heard(50)) >= 40, 'the listener hears the speaker before the revocation');
    const published = await receiver.waitFor('track_published', 5000, (e) => e.track?.sid === trackSid);
    assert.equal(published.event?.participant?.identity, 'speaker');

    const rooms = new RoomServiceClient(node.httpUrl, API_KEY, API_SECRET);
    await rooms.updateParticipant(ROOM, 'speaker', {
      permission: { canPublish: false, canSubscribe: true, canPublishData: true },
    });
    const info = await rooms.getParticipant(ROOM, 'speaker');
    assert.deepEqual(info.tracks, [], 'the track is still listed');
    assert.equal(await heard(50), 0, 'audio still reaches the listener');
    const gone = await receiver.waitFor('track_unpublished', 5000, (e) => e.track?.sid === trackSid);
    assert.equal(gone.event?.participant?.identity, 'speaker');
  });
});
