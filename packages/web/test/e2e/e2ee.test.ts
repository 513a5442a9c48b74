// End-to-end encrypted audio in real Chromium, through the real media node (run in this process
// so a test-only tap sees every RTP payload it forwards):
//  - a speaker is heard by two listeners with E2EE on (the default), and we print the time from
//    joining to the first decrypted frame, against a baseline without key delivery;
//  - a listener that never gets keys hears silence, not noise;
//  - the media-node canary: no 8-byte window of any plaintext Opus frame the speaker produced
//    appears in any payload the node forwarded — and the same check finds the plaintext when
//    encryption is switched off (negative control, so the assertion can fail);
//  - the stage is an MLS group: a listener invited to speak joins it by Welcome, both stage members
//    show the same room security code, and the new speaker is heard under its own KID leaf;
//  - a late joiner cannot open frames recorded before it joined (the node's tap), a removed
//    listener that keeps its keys cannot open frames after the removal rekey (controls: the same
//    probe opens frames from after the join / before the removal);
//  - a tampered media node (test-only `payloadTamper`): replayed and injected frames are dropped
//    and do not push the replay window;
//  - speaker authenticity: audio a key-holding listener forges under the speaker's KID (swapped in
//    by the node) is muted by a verifying listener, while a listener that skips verification (the
//    control) hears it;
//  - safety numbers on a profile match on both sides; keys the server swaps are flagged (TOFU).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Encryption_Type } from '@livekit/protocol';
import { decodeHeader, decodeKid, encodeHeader } from '@sotto/e2ee';
import { RoomServiceClient } from 'livekit-server-sdk';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../../../media/test/support/chromium.ts';
import { type RunningServer, startServer } from './server.ts';
import {
  CANARY_WINDOW,
  e2eeStats,
  Harness,
  type HookOptions,
  hookScript,
  leakedWindows,
  listenScript,
  SHOTS,
  type User,
} from './support.ts';

const SPEAKER_HZ = 440;
const LISTENER_HZ = 660;
const WINDOW = CANARY_WINDOW;

/** How many of `frames` the user's current keys open (test hook; replay windows ignored). */
function tryDecrypt(user: User, frames: Buffer[]): Promise<number | null> {
  return user.page.evaluate(
    (fs) =>
      (
        globalThis as unknown as {
          sottoSession: { tryDecryptForTest(f: Uint8Array[]): Promise<number | null> };
        }
      ).sottoSession.tryDecryptForTest(fs.map((f) => Uint8Array.from(f))),
    frames.map((f) => Array.from(f)),
  );
}

function generationOf(payload: Buffer): number {
  return decodeKid(decodeHeader(payload).kid).generation;
}

/** Frames per generation, for failure messages: `{"3":120,"4":80}`. */
function perGen(payloads: Buffer[]): string {
  const n: Record<number, number> = {};
  for (const p of payloads) {
    const g = generationOf(p);
    n[g] = (n[g] ?? 0) + 1;
  }
  return JSON.stringify(n);
}

function plaintextFrames(user: User): Promise<number[][]> {
  return user.page.evaluate(() => (globalThis as unknown as { sottoPlain: number[][] }).sottoPlain);
}

function loudest(user: User, ms: number): Promise<number> {
  return user.page.evaluate(
    (t) =>
      (globalThis as unknown as { sottoTest: { loudest(ms: number): Promise<number> } }).sottoTest.loudest(t),
    ms,
  );
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('end-to-end encrypted audio (Chromium, real media node with a payload tap)', {
  timeout: 600_000,
}, () => {
  let server: RunningServer;
  let dir: string;
  let h: Harness;
  const browsers: Browser[] = [];
  let speakerBrowser: Browser;
  let listenerBrowser: Browser;
  /** What the media node forwarded: room (media id) → payloads. */
  const forwarded = new Map<string, Buffer[]>();
  /** The tampering media node: replaces payloads under `kid` with `queue` while it lasts. */
  const tamper = { kid: null as bigint | null, queue: [] as Buffer[], replaced: 0 };
  let roomPath = '';
  let ada: User;
  let bob: User;
  let cleo: User;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sotto-e2ee-browsers-'));
    server = await startServer({
      payloadTap: (room, _track, payload) => {
        const list = forwarded.get(room) ?? [];
        if (list.length < 100_000) list.push(Buffer.from(payload));
        forwarded.set(room, list);
      },
      payloadTamper: (_room, _track, payload) => {
        if (tamper.kid === null || tamper.queue.length === 0) return undefined;
        try {
          if (decodeHeader(payload).kid !== tamper.kid) return undefined;
        } catch {
          return undefined;
        }
        tamper.replaced++;
        return [tamper.queue.shift() as Buffer];
      },
    });
    h = new Harness(server, await listenScript());
    speakerBrowser = await launchChromium(dir, SPEAKER_HZ);
    listenerBrowser = await launchChromium(dir, LISTENER_HZ);
    browsers.push(speakerBrowser, listenerBrowser);
    await mkdir(SHOTS, { recursive: true });
  });

  after(async () => {
    await Promise.allSettled(browsers.map((b) => b.close()));
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function openRoom(user: User, topic: string): Promise<string> {
    await user.page.getByLabel('Topic').fill(topic);
    await user.page.getByRole('button', { name: 'Start a room' }).click();
    await user.page.waitForURL(/\/room\/[^/]+$/);
    await h.member(user, user, 'stage').waitFor();
    return new URL(user.page.url()).pathname;
  }

  async function listener(name: string, o: HookOptions, path: string, inviter = ada): Promise<User> {
    const u = await h.newUser(listenerBrowser, name, name.replace('_', ' '), hookScript(o));
    await h.signUp(u, await h.invite(inviter));
    await u.page.goto(`${server.url}${path}`);
    await h.member(u, u, 'audience').waitFor();
    return u;
  }

  it('a speaker is heard by two listeners with E2EE on; join-to-first-decrypted-audio', async () => {
    try {
      ada = await h.newUser(speakerBrowser, 'ada_e2ee', 'Ada', hookScript({ capture: true }));
      await h.signUp(ada, server.firstInvite);
      roomPath = await openRoom(ada, 'Encrypted talk');
      bob = await listener('bob_e2ee', {}, roomPath);
      cleo = await listener('cleo_e2ee', { forgeryForTest: true }, roomPath);
      for (const u of [bob, cleo]) {
        const heard = await h.detectTone(u, SPEAKER_HZ);
        assert.ok(heard.found, `${u.username} did not hear the speaker: ${JSON.stringify(heard)}`);
      }
      // the media node lists the speaker's track as end-to-end encrypted (CUSTOM)
      const rooms = new RoomServiceClient(server.url, 'devkey', 'secret');
      const [mediaRoom] = await rooms.listRooms();
      assert.ok(mediaRoom, 'a room on the media node');
      const tracks = (await rooms.listParticipants(mediaRoom.name)).flatMap((p) => p.tracks);
      assert.ok(tracks.length > 0, 'the speaker published');
      for (const t of tracks) assert.equal(t.encryption, Encryption_Type.CUSTOM, `track ${t.sid}`);
      const speaker = await e2eeStats(ada);
      assert.ok(speaker, 'the speaker has E2EE on');
      assert.ok(speaker.isKeyHolder, 'the moderator holds the room key');
      assert.ok(
        speaker.encrypted > 50,
        `speaker: ${JSON.stringify(speaker)} bob: ${JSON.stringify(await e2eeStats(bob))}`,
      );
      for (const u of [bob, cleo]) {
        const s = await until(
          () => e2eeStats(u),
          (v) => (v?.decrypted ?? 0) > 50,
        );
        assert.ok(s && s.decrypted > 50, `${u.username} decrypted: ${JSON.stringify(s)}`);
        assert.equal(s.generation, speaker.generation);
      }
      const s = await e2eeStats(bob);
      if (s?.firstDecryptAt) {
        console.log(
          `# join → first decrypted frame (E2EE on, listener): ${Math.round(s.firstDecryptAt - s.joinStartedAt)} ms; ` +
            `key held after ${Math.round((s.firstKeyAt ?? 0) - s.joinStartedAt)} ms`,
        );
      }
    } catch (err) {
      await h.failWithLogs(err);
    }
  });

  it('a listener who comes on stage joins the MLS group: same security code, heard under its own leaf', async () => {
    try {
      const before = await e2eeStats(ada);
      await bob.page.getByRole('button', { name: 'Raise hand' }).click();
      const queued = ada.page.locator('[data-testid="hand-queue-member"]', { hasText: bob.displayName });
      await queued.getByRole('button', { name: 'Invite to speak' }).click();
      await bob.page.getByRole('button', { name: 'Accept', exact: true }).click();
      await h.member(ada, bob, 'stage').waitFor();
      const bs = await until(
        () => e2eeStats(bob),
        (v) => v?.inStageGroup === true,
      );
      assert.ok(bs?.inStageGroup, `bob joined the stage group: ${JSON.stringify(bs)}`);
      const as = await until(
        () => e2eeStats(ada),
        (v) => v?.generation === bs.generation,
      );
      assert.ok(as && (as.generation ?? 0) > (before?.generation ?? 0), 'the add started a new epoch');
      assert.match(bs.securityCode ?? '', /^\d{5}( \d{5}){5}$/);
      assert.equal(as.securityCode, bs.securityCode, 'both stage members derive the same security code');
      // … and show it on the stage, for the speakers to read aloud; listeners have none
      for (const u of [ada, bob]) {
        const shown = u.page.getByTestId('security-code');
        await shown.waitFor();
        assert.equal(await shown.textContent(), bs.securityCode, `${u.username} shows the code`);
      }
      assert.equal(await cleo.page.getByTestId('security-code').count(), 0);
      // the new speaker is heard by a listener and by the moderator (keys from the MLS exporter)
      for (const u of [cleo, ada]) {
        const heard = await h.detectTone(u, LISTENER_HZ);
        assert.ok(heard.found, `${u.username} did not hear the new speaker: ${JSON.stringify(heard)}`);
      }
      const cs = await e2eeStats(cleo);
      assert.equal(cs?.inStageGroup, false, 'listeners stay out of MLS');
      assert.equal(cs?.generation, bs.generation, 'listeners get the epoch key by HPKE/KEK wrap');
      const fmt = (t: { what: string; ms: number }[]) =>
        t.map((x) => `${x.what} ${x.ms.toFixed(1)} ms`).join(', ');
      console.log(`# MLS in Chromium: key holder: ${fmt(as.mlsTimings)}; new speaker: ${fmt(bs.mlsTimings)}`);
    } catch (err) {
      await h.failWithLogs(err);
    }
  });

  it('a listener without keys hears silence, not noise', async () => {
    try {
      const dora = await listener('dora_nokeys', { dropKeyMessagesForTest: true }, roomPath);
      await dora.page.waitForTimeout(2000);
      const level = await loudest(dora, 3000);
      const stats = await e2eeStats(dora);
      console.log(
        `# listener without keys: loudest ${level.toFixed(1)} dBFS, ${JSON.stringify(stats?.dropped)}`,
      );
      assert.ok(level < -70, `a listener without keys heard ${level} dBFS`);
      assert.ok((stats?.dropped.unknown_key ?? 0) > 20, 'frames arrived and were dropped');
      // control: the keyed listener hears the speaker at the same time
      assert.ok((await h.detectTone(bob, SPEAKER_HZ)).found);
      // control: without the transform, the ciphertext reaches the decoder (what E2EE must avoid)
      const eve = await listener('eve_plain', { enabled: false }, roomPath);
      await eve.page.waitForTimeout(2000);
      console.log(
        `# listener without E2EE given ciphertext: loudest ${(await loudest(eve, 3000)).toFixed(1)} dBFS`,
      );
    } catch (err) {
      await h.failWithLogs(err);
    }
  });

  it('media-node canary: no plaintext Opus frame reaches the media node', async () => {
    try {
      const frames = await until(
        () => plaintextFrames(ada),
        (f) => f.length > 300,
      );
      const rooms = [...forwarded.keys()];
      assert.equal(rooms.length, 1);
      const payloads = forwarded.get(rooms[0] ?? '') ?? [];
      const big = frames.filter((f) => f.length >= WINDOW);
      assert.ok(big.length > 200, `captured ${big.length} plaintext frames of ≥ ${WINDOW} bytes`);
      assert.ok(payloads.length > 200, `tapped ${payloads.length} payloads`);
      const leaks = leakedWindows(big, payloads);
      console.log(
        `# canary (E2EE on): ${big.length} plaintext frames vs ${payloads.length} forwarded payloads: ${leaks} shared ${WINDOW}-byte windows`,
      );
      assert.equal(leaks, 0);
    } catch (err) {
      await h.failWithLogs(err);
    }
  });

  it('negative control: with encryption off the same canary finds the plaintext', async () => {
    try {
      const before = new Set(forwarded.keys());
      const fred = await h.newUser(
        speakerBrowser,
        'fred_clear',
        'Fred',
        hookScript({ capture: true, passthroughForTest: true }),
      );
      await h.signUp(fred, await h.invite(ada));
      const path = await openRoom(fred, 'Clear talk');
      const gus = await h.newUser(
        listenerBrowser,
        'gus_clear',
        'Gus',
        hookScript({ passthroughForTest: true }),
      );
      await h.signUp(gus, await h.invite(fred));
      await gus.page.goto(`${server.url}${path}`);
      await h.member(gus, gus, 'audience').waitFor();
      assert.ok((await h.detectTone(gus, SPEAKER_HZ)).found, 'the clear room works');
      const base = await e2eeStats(gus);
      if (base?.firstDecryptAt) {
        console.log(
          `# join → first frame (baseline, no key delivery): ${Math.round(base.firstDecryptAt - base.joinStartedAt)} ms`,
        );
      }
      const frames = await until(
        () => plaintextFrames(fred),
        (f) => f.length > 300,
      );
      const room = [...forwarded.keys()].find((r) => !before.has(r));
      assert.ok(room, 'the media node forwarded the clear room');
      const big = frames.filter((f) => f.length >= WINDOW);
      const leaks = leakedWindows(big, forwarded.get(room) ?? []);
      console.log(`# canary (E2EE off): ${leaks} shared ${WINDOW}-byte windows`);
      assert.ok(leaks > big.length, 'the canary sees plaintext when it is there');
      await gus.page.close(); // the clear room is done (see the test above)
      await fred.page.close();
    } catch (err) {
      await h.failWithLogs(err);
    }
  });

  it('a late joiner cannot open frames from before it joined; a removed listener cannot open frames after the rekey', async () => {
    try {
      const room = forwarded.get([...forwarded.keys()][0] ?? '') ?? [];
      const before = room.slice(-400);
      const erin = await listener(
        'erin_late',
        { forgeryForTest: true, retainKeysForTest: true },
        roomPath,
        bob,
      );
      const es = await until(
        () => e2eeStats(erin),
        (v) => (v?.decrypted ?? 0) > 50,
      );
      const gen = es?.generation ?? -1;
      const mark = room.length;
      await erin.page.waitForTimeout(1500);
      const after = room.slice(mark);
      const sameGen = before.filter((p) => generationOf(p) === gen);
      assert.ok(
        sameGen.length > 100,
        `frames from before the join are of the newcomer's generation (${sameGen.length})`,
      );
      const openedBefore = await tryDecrypt(erin, sameGen);
      const openedAfter = await tryDecrypt(erin, after);
      console.log(
        `# late joiner: opens ${openedBefore}/${sameGen.length} frames from before its join, ${openedAfter}/${after.length} after`,
      );
      assert.equal(openedBefore, 0, 'the ratchet keeps earlier audio from the newcomer');
      assert.ok((openedAfter ?? 0) > 50, 'control: the same probe opens what was said after the join');

      // the moderator removes Erin; Erin's client keeps its keys (as a modified client would)
      const preRemoval = room.slice(-100);
      const removeMark = room.length;
      // the generation Erin holds now (a batched leave may have moved it on since she joined)
      const held = (await e2eeStats(erin))?.generation ?? gen;
      const t0 = Date.now();
      await ada.page.evaluate(async (u) => {
        const s = (
          globalThis as unknown as {
            sottoSession: {
              state: { audience: { user: { id: string; username: string } }[] };
              removeMember(id: string): Promise<void>;
            };
          }
        ).sottoSession;
        const m = s.state.audience.find((x) => x.user.username === u);
        if (!m) throw new Error('erin is not in the audience');
        await s.removeMember(m.user.id);
      }, erin.username);
      // Erin's keys are frozen once she is out (she keeps them, as a modified client would); the
      // room must move on to a generation she does not hold. Comparing with what she ends up
      // holding, not with a number read before, keeps a leave rekey that she still received (one
      // that raced the removal) from counting as the removal's.
      const cs = await until(
        async () => ({
          erin: Math.max(-1, ...((await e2eeStats(erin))?.keyGenerations ?? [])),
          cleo: await e2eeStats(cleo),
        }),
        (v) => (v.cleo?.generation ?? 0) > Math.max(v.erin, held),
        30_000,
      );
      const kept = cs.erin;
      const moved = cs.cleo?.generation ?? 0;
      console.log(
        `# removal → new generation at a listener: ${Date.now() - t0} ms (Erin held ${held}, keeps ${kept}; the room is at ${moved})`,
      );
      assert.ok(
        moved > Math.max(kept, held),
        `the removal started a new generation (Erin ${held}/${kept}, Cleo ${moved})`,
      );
      const cleoAfter = await until(
        () => e2eeStats(cleo),
        (v) => (v?.decrypted ?? 0) > (cs.cleo?.decrypted ?? 0) + 50,
        30_000,
      );
      assert.ok(
        (cleoAfter?.decrypted ?? 0) > (cs.cleo?.decrypted ?? 0) + 50,
        'the listener who stayed still hears the room',
      );
      // what the node forwarded under generations Erin never got (speakers move over at their pace)
      const postRemoval = await until(
        async () => room.slice(removeMark).filter((p) => generationOf(p) > kept),
        (ps) => ps.length > 100,
        30_000,
      );
      assert.ok(postRemoval.length > 100, `frames after the rekey: ${perGen(room.slice(removeMark))}`);
      const openedPost = await tryDecrypt(erin, postRemoval);
      const openedPre = await tryDecrypt(erin, preRemoval);
      console.log(
        `# removed listener: opens ${openedPost}/${postRemoval.length} frames after the rekey, ${openedPre}/${preRemoval.length} before`,
      );
      assert.equal(openedPost, 0, `the removed listener cannot open them (${perGen(postRemoval)})`);
      assert.ok((openedPre ?? 0) > 50, `control: its kept keys open earlier frames (${perGen(preRemoval)})`);
      await erin.page.close();
    } catch (err) {
      await h.failWithLogs(err);
    }
  });

  it('frames a tampered media node replays or injects are dropped, and do not push the replay window', async () => {
    try {
      const room = forwarded.get([...forwarded.keys()][0] ?? '') ?? [];
      await ada.page.waitForTimeout(6000); // collect > 5 s of the current KID
      let kid: bigint | undefined;
      let ctr = 0n;
      for (let i = room.length - 1; i >= 0 && kid === undefined; i--) {
        const hdr = decodeHeader(room[i] as Buffer);
        if (decodeKid(hdr.kid).leaf === 0) {
          kid = hdr.kid;
          ctr = hdr.ctr;
        }
      }
      assert.ok(kid !== undefined);
      const ofKid = room.filter((p) => decodeHeader(p).kid === kid);
      const old = ofKid.slice(-300, -180); // 3.6–6 s old: outside the 128-counter window
      assert.ok(old.length >= 100, `old frames to replay: ${old.length}`);
      const s0 = await e2eeStats(cleo);
      // 1. replay: the node swaps old frames of the speaker in for new ones
      tamper.queue = old.map((p) => Buffer.from(p));
      tamper.kid = kid;
      await until(
        async () => tamper.queue.length,
        (n) => n === 0,
      );
      await cleo.page.waitForTimeout(500);
      const s1 = await e2eeStats(cleo);
      // 2. injection: frames with the speaker's KID and counters ahead, but not made with the key
      const garbage = Array.from({ length: 120 }, (_, i) =>
        Buffer.concat([Buffer.from(encodeHeader(kid as bigint, ctr + 5000n + BigInt(i))), randomBytes(60)]),
      );
      tamper.queue = garbage;
      await until(
        async () => tamper.queue.length,
        (n) => n === 0,
      );
      tamper.kid = null;
      await cleo.page.waitForTimeout(500);
      const s2 = await e2eeStats(cleo);
      const replayed = (s1?.dropped.replay ?? 0) - (s0?.dropped.replay ?? 0);
      const forged = (s2?.dropped.auth_failed ?? 0) - (s1?.dropped.auth_failed ?? 0);
      console.log(
        `# tampered media node: ${replayed}/${old.length} replayed frames dropped, ${forged}/120 injected frames dropped`,
      );
      assert.ok(replayed >= old.length * 0.9, 'replayed frames are dropped as replays');
      assert.ok(forged >= 100, 'injected frames fail authentication');
      // the injected counters did not move the window: the real speaker is heard again
      assert.ok(
        (await h.detectTone(cleo, SPEAKER_HZ)).found,
        'the listener hears the real speaker after the attack',
      );
    } catch (err) {
      await h.failWithLogs(err);
    } finally {
      tamper.kid = null;
    }
  });

  it("speaker authenticity: audio a key-holding listener forged under the speaker's KID is muted", async () => {
    try {
      // negative control first: a listener that plays whatever decrypts
      const dave = await listener('dave_noverify', { skipSpeakerVerificationForTest: true }, roomPath, bob);
      assert.ok((await h.detectTone(dave, SPEAKER_HZ)).found, 'dave hears the speaker');
      const before = await e2eeStats(bob);
      assert.ok((before?.speakers.verified ?? 0) > 100, `signed frames verify: ${JSON.stringify(before)}`);
      assert.ok((await loudest(bob, 2000)) > -50, 'signed audio plays');
      // the speaker's current KID and counter, as the media node sees them
      const payloads = forwarded.get([...forwarded.keys()][0] ?? '') ?? [];
      let last: { kid: bigint; ctr: bigint } | undefined;
      for (let i = payloads.length - 1; i >= 0 && !last; i--) {
        const hdr = decodeHeader(payloads[i] as Buffer);
        if (decodeKid(hdr.kid).leaf === 0) last = { kid: hdr.kid, ctr: hdr.ctr };
      }
      assert.ok(last, 'found the speaker’s frames');
      // Cleo (a listener, so she holds the frame key) forges 15 s of the speaker's own audio under
      // the speaker's KID, with counters ahead of the real ones; the media node swaps them in
      const plain = (await plaintextFrames(ada)).slice(-750);
      const forged = await cleo.page.evaluate(
        async ([kid, ctr, frames]) => {
          const s = (
            globalThis as unknown as {
              sottoSession: {
                forgeFramesForTest(k: bigint, c: bigint, f: Uint8Array[]): Promise<Uint8Array[] | null>;
              };
            }
          ).sottoSession;
          const out = await s.forgeFramesForTest(
            BigInt(kid),
            BigInt(ctr),
            frames.map((f) => Uint8Array.from(f)),
          );
          return out?.map((f) => Array.from(f)) ?? null;
        },
        [last.kid.toString(), (last.ctr + 3000n).toString(), plain] as const,
      );
      assert.ok(forged && forged.length === plain.length, 'the listener could forge frames');
      tamper.queue = forged.map((f) => Buffer.from(f));
      tamper.kid = last.kid;
      await bob.page.waitForTimeout(2500); // the grace: unverified audio may play this long
      const mid = await e2eeStats(bob);
      const bobLevel = await loudest(bob, 3000);
      const after = await e2eeStats(bob);
      const daveTone = await h.detectTone(dave, SPEAKER_HZ, 5000);
      // frames that passed SFrame in the window after the grace, and how many of them played. (The
      // proof is at the frame level: with every frame muted, WebRTC's NetEq conceals the gap with
      // "background noise" modelled on what it last played — for a steady test tone that noise can
      // be loud and tonal, so the page's level is logged, not asserted.)
      const opened = (after?.decrypted ?? 0) - (mid?.decrypted ?? 0);
      const played = opened - ((after?.dropped.unsigned ?? 0) - (mid?.dropped.unsigned ?? 0));
      console.log(
        `# forged speaker audio (${tamper.replaced} frames swapped in): verifying listener loudest ${bobLevel.toFixed(1)} dBFS, ` +
          `muted ${(after?.speakers.muted ?? 0) - (before?.speakers.muted ?? 0)}, dropped ${JSON.stringify(after?.dropped)}; ` +
          `non-verifying control hears the tone: ${daveTone.found}; after the grace ${played}/${opened} decrypted frames played`,
      );
      assert.ok(tamper.replaced > 100, 'the media node swapped forged frames in');
      assert.ok(daveTone.found, 'control: the forged frames decrypt and carry the audio');
      assert.ok(opened > 100, 'forged frames kept arriving and decrypting');
      assert.ok(played <= 2, `after the grace the verifying listener plays none of them (${played} played)`);
      assert.ok((after?.dropped.unsigned ?? 0) > 100, 'muted as unsigned');
      assert.ok(
        (after?.decrypted ?? 0) > (before?.decrypted ?? 0) + 100,
        'they did decrypt (AEAD alone passes them)',
      );
    } catch (err) {
      await h.failWithLogs(err);
    } finally {
      tamper.kid = null;
    }
  });

  it('safety numbers on a profile match on both sides; a device key swapped by the server is flagged (TOFU)', async () => {
    try {
      const profile = async (viewer: User, of: User) => {
        const page = await viewer.page.context().newPage();
        await page.goto(`${server.url}/u/${of.username}`);
        return page;
      };
      const adaSees = await profile(ada, bob);
      const bobSees = await profile(bob, ada);
      const t0 = Date.now();
      const n1 = await adaSees.getByTestId('safety-number').textContent();
      const n2 = await bobSees.getByTestId('safety-number').textContent();
      console.log(`# safety number shown after ${Date.now() - t0} ms`);
      assert.match(n1 ?? '', /^\d{5}( \d{5}){11}$/);
      assert.equal(n1, n2, 'the same 60 digits on both sides');
      assert.equal(await adaSees.getByTestId('safety-changed').count(), 0, 'first sighting: no warning');
      // the app server (here: a re-publish of Bob's device id with other keys) swaps Bob's keys
      const devices = (await (
        await ada.page.request.get(`${server.url}/api/users/${bob.username}/devices`)
      ).json()) as {
        id: string;
      }[];
      const id = devices[0]?.id ?? '';
      const fake = () =>
        Buffer.from(Array.from({ length: 32 }, () => Math.floor(Math.random() * 256))).toString('base64url');
      const res = await bob.page.request.post(`${server.url}/api/devices`, {
        data: { deviceId: id, signingPublicKey: fake(), hpkePublicKey: fake() },
      });
      assert.equal(res.status(), 200, await res.text());
      await adaSees.reload();
      await adaSees.getByTestId('safety-changed').waitFor();
      const n3 = await adaSees.getByTestId('safety-number').textContent();
      assert.notEqual(n3, n1, 'the safety number changed with the keys');
      await adaSees.getByRole('button', { name: 'Accept new keys' }).click();
      await adaSees.getByTestId('safety-changed').waitFor({ state: 'detached' });
      await adaSees.reload();
      await adaSees.getByTestId('safety-number').waitFor();
      assert.equal(
        await adaSees.getByTestId('safety-changed').count(),
        0,
        'accepted keys are remembered (IndexedDB)',
      );
      await Promise.all([adaSees.close(), bobSees.close()]);
    } catch (err) {
      await h.failWithLogs(err);
    }
  });
});
