// Contract tests: unmodified livekit-client 2.23.0 in Debian's headless Chromium against a real
// Sotto media node — audio (a fake microphone tone found by a WebAudio analyser), data, mute,
// the RoomService API through livekit-server-sdk, resume after a dropped signal connection.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HARDENED_ATTRIBUTE } from '@sotto/media';
import { RoomServiceClient } from 'livekit-server-sdk';
import { API_KEY, API_SECRET, startTestNode, type TestNode } from '../support/node.ts';
import { type Harness, launchBrowser, type Participant } from './harness.js';

const TONE_TIMEOUT = 20_000;

describe('livekit-client 2.23 against a Sotto media node', { timeout: 300_000 }, () => {
  let tn: TestNode;
  let h: Harness;
  let rooms: RoomServiceClient;
  const open: Participant[] = [];
  /** Payload sizes the node forwarded, for rooms a test asked to watch. */
  const payloadSizes = new Map<string, number[]>();

  before(async () => {
    tn = await startTestNode({
      payloadTap: (room, _track, payload) => payloadSizes.get(room)?.push(payload.length),
    });
    h = await launchBrowser();
    rooms = new RoomServiceClient(tn.httpUrl, API_KEY, API_SECRET);
  });

  after(async () => {
    await h?.close();
    await tn?.stop();
  });

  async function join(
    room: string,
    identity: string,
    toneHz: number,
    singlePeerConnection = true,
    attributes?: Record<string, string>,
    gated = false,
  ) {
    const p = await h.newParticipant({ toneHz, name: identity, gated });
    open.push(p);
    await p.connect(tn.url, await tn.token(identity, room, {}, { attributes }), { singlePeerConnection });
    return p;
  }

  async function closeAll() {
    await Promise.allSettled(open.splice(0).map((p) => p.close()));
  }

  async function hears(listener: Participant, hz: number, from: string) {
    const r = await listener.detectTone(hz, { fromIdentity: from, timeoutMs: TONE_TIMEOUT });
    assert.ok(
      r.found,
      `${hz} Hz from ${from} not heard: ${JSON.stringify(r)}\n${listener.logs.slice(-20).join('\n')}`,
    );
  }

  /** UpdateParticipant through the RoomService, then waits until the client itself sees it. */
  async function setCanPublish(room: string, p: Participant, canPublish: boolean) {
    const mark = await p.eventCount();
    const permission = { canPublish, canSubscribe: true, canPublishData: true };
    await rooms.updateParticipant(room, p.name, { permission });
    await p.waitFor(
      'participantPermissionsChanged',
      { permissions: { ...permission, hidden: false } },
      10_000,
      mark,
    );
  }

  async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 10_000) {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.fail(`timed out waiting for ${what}`);
  }

  for (const single of [true, false]) {
    const mode = single ? 'single-PC (/rtc/v1)' : 'dual-PC (/rtc)';
    it(`${mode}: the listener hears the speaker's tone and data flows both ways`, async () => {
      const room = `tone-${single ? 'v1' : 'v0'}`;
      const speaker = await join(room, 'speaker', 440, single);
      const listener = await join(room, 'listener', 660, single);
      await speaker.publishMic();
      await hears(listener, 440, 'speaker');
      // RTCP: sender reports reach the listener, receiver reports reach the speaker
      await eventually(async () => {
        const l = await listener.rtcpStats();
        const s = await speaker.rtcpStats();
        return (l.senderReportsReceived.speaker ?? 0) > 0 && s.receiverReportsReceived;
      }, 'sender/receiver reports');
      // the listener does not publish: the speaker hears nothing
      const roster = await speaker.remoteParticipants();
      assert.deepEqual(
        roster.map((p) => [p.identity, p.tracks.length]),
        [['listener', 0]],
      );

      await listener.sendData('hello speaker', { reliable: true, topic: 'chat' });
      await speaker.waitFor('dataReceived', {
        payload: 'hello speaker',
        identity: 'listener',
        topic: 'chat',
      });
      await speaker.sendData('hello listener', { reliable: false });
      await listener.waitFor('dataReceived', { payload: 'hello listener', identity: 'speaker' });
      await closeAll();
    });
  }

  it('data goes only to the destination identities', async () => {
    const room = 'data-dest';
    const a = await join(room, 'a', 440);
    const b = await join(room, 'b', 440);
    const c = await join(room, 'c', 440);
    await a.sendData('for b only', { reliable: true, destinationIdentities: ['b'] });
    await b.waitFor('dataReceived', { payload: 'for b only', identity: 'a' });
    await a.sendData('for everyone', { reliable: true });
    await c.waitFor('dataReceived', { payload: 'for everyone', identity: 'a' });
    const cGot = (await c.events()).filter((e) => e.kind === 'dataReceived').map((e) => e.payload);
    assert.deepEqual(cGot, ['for everyone'], 'c received a packet addressed to b');
    await closeAll();
  });

  it('mute and unmute by the speaker are seen by the listener', async () => {
    const room = 'mute';
    const speaker = await join(room, 'speaker', 440);
    const listener = await join(room, 'listener', 660);
    const trackSid = await speaker.publishMic();
    await hears(listener, 440, 'speaker');
    // active speakers come from the RFC 6464 audio level the speaker's browser sends
    await listener.waitFor('activeSpeakersChanged', { speakers: ['speaker'] });
    await speaker.setMicMuted(true);
    await listener.waitFor('trackMuted', { identity: 'speaker', trackSid });
    await listener.waitFor('activeSpeakersChanged', { speakers: [] });
    await speaker.setMicMuted(false);
    await listener.waitFor('trackUnmuted', { identity: 'speaker', trackSid });
    await hears(listener, 440, 'speaker');
    await closeAll();
  });

  for (const hardened of [false, true]) {
    it(`${hardened ? 'hardened room' : 'control, normal room'}: audio level and packet sizes ${hardened ? 'leak nothing (no audio-level extension, Opus CBR without DTX)' : 'vary with the audio'}`, async () => {
      const room = `hardened-${hardened}`;
      const sizes: number[] = [];
      const attrs = { [HARDENED_ATTRIBUTE]: hardened ? '1' : '0' };
      // the speaker talks in bursts: silence is where a variable bitrate gives speech away
      const speaker = await join(room, 'speaker', 440, true, attrs, true);
      const listener = await join(room, 'listener', 660, true, attrs);
      await speaker.publishMic();
      await hears(listener, 440, 'speaker');
      payloadSizes.set(room, sizes);
      await new Promise((r) => setTimeout(r, 3000));
      payloadSizes.delete(room);
      const speakers = (await listener.events()).filter(
        (e) => e.kind === 'activeSpeakersChanged' && JSON.stringify(e).includes('speaker'),
      );
      const distinct = new Set(sizes).size;
      assert.ok(sizes.length > 100, `forwarded ${sizes.length} packets in 3 s`);
      if (hardened) {
        assert.equal(distinct, 1, `payload sizes seen: ${[...new Set(sizes)].join(', ')}`);
        assert.equal(speakers.length, 0, 'the node cannot tell who speaks');
      } else {
        assert.ok(distinct > 1, `payload sizes seen: ${[...new Set(sizes)].join(', ')}`);
        assert.ok(speakers.length > 0, 'the node reports active speakers from the audio level');
      }
      await closeAll();
    });
  }

  it('server mute and removal through livekit-server-sdk RoomServiceClient', async () => {
    const room = 'admin';
    const speaker = await join(room, 'speaker', 440);
    const listener = await join(room, 'listener', 660);
    const trackSid = await speaker.publishMic();
    await hears(listener, 440, 'speaker');

    const listed = await rooms.listParticipants(room);
    assert.deepEqual(listed.map((p) => p.identity).sort(), ['listener', 'speaker']);
    await rooms.mutePublishedTrack(room, 'speaker', trackSid, true);
    await speaker.waitFor('trackMuted', { trackSid });
    await listener.waitFor('trackMuted', { identity: 'speaker', trackSid });
    const loudest = await listener.detectSilence(1500, { fromIdentity: 'speaker' });
    assert.ok(loudest < -60, `audio still flows after a server mute (loudest ${loudest} dBFS)`);

    await rooms.removeParticipant(room, 'listener');
    await listener.waitFor('disconnected');
    await speaker.waitFor('participantDisconnected', { identity: 'listener' });
    assert.deepEqual(
      (await rooms.listParticipants(room)).map((p) => p.identity),
      ['speaker'],
    );
    await closeAll();
  });

  it('revoking canPublish through UpdateParticipant unpublishes at once; granting it lets the speaker back', async () => {
    const room = 'permissions';
    const speaker = await join(room, 'speaker', 440);
    const listener = await join(room, 'listener', 660);
    const trackSid = await speaker.publishMic();
    await hears(listener, 440, 'speaker');

    await setCanPublish(room, speaker, false);
    await listener.waitFor('trackUnpublished', { identity: 'speaker', trackSid });
    const loudest = await listener.detectSilence(1500, { fromIdentity: 'speaker' });
    assert.ok(loudest < -60, `audio still flows after canPublish was revoked (${loudest} dBFS)`);
    const info = await rooms.getParticipant(room, 'speaker');
    assert.equal(info.tracks.length, 0, 'the track is still listed as published');

    await setCanPublish(room, speaker, true);
    await speaker.waitFor('localTrackUnpublished', { trackSid });
    await speaker.publishMic();
    await hears(listener, 440, 'speaker');
    await closeAll();
  });

  it('a dropped signal connection resumes: same identity, audio keeps flowing', async () => {
    const room = 'resume';
    const speaker = await join(room, 'speaker', 440);
    const listener = await join(room, 'listener', 660);
    await speaker.publishMic();
    await hears(listener, 440, 'speaker');
    const before = (await rooms.listParticipants(room)).map((p) => `${p.identity}/${p.sid}`).sort();

    await listener.simulateSignalDrop();
    await listener.waitFor('reconnected', {}, 20_000);
    await speaker.simulateSignalDrop();
    await speaker.waitFor('reconnected', {}, 20_000);
    await hears(listener, 440, 'speaker');
    const afterDrop = (await rooms.listParticipants(room)).map((p) => `${p.identity}/${p.sid}`).sort();
    assert.deepEqual(afterDrop, before, 'participants were replaced instead of resumed');
    // negotiation still works after the resume: the listener publishes and is heard
    await listener.publishMic();
    await hears(speaker, 660, 'listener');
    await closeAll();
  });

  it('five speakers reach one listener', async () => {
    const room = 'five';
    const tones = [330, 470, 610, 790, 950];
    const speakers = await Promise.all(tones.map((hz, i) => join(room, `s${i}`, hz)));
    for (const s of speakers) await s.publishMic();
    const listener = await join(room, 'listener', 1200);
    for (const [i, hz] of tones.entries()) await hears(listener, hz, `s${i}`);
    await closeAll();
  });
});
