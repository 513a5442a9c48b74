import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type ClientConfig,
  type Credential,
  createCommit,
  defaultCapabilities,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  encodeMlsMessage,
  generateKeyPackageWithKey,
} from 'ts-mls';
import { type DeviceIdentityKeys, generateDeviceIdentity } from '../identity/device.ts';
import { MemoryKeyDirectory } from '../identity/tofu.ts';
import { SFrameContext } from '../sframe/context.ts';
import { SFrameError } from '../sframe/errors.ts';
import { encodeKid } from '../sframe/kid.ts';
import { type CredentialVerdict, createDeviceCredential } from './credentials.ts';
import {
  createStageKeyPackage,
  decodeKeyPackage,
  type PendingJoin,
  STAGE_CIPHERSUITE,
  StageError,
  type StageErrorCode,
  StageMember,
  stageCiphersuite,
} from './stage.ts';

const GROUP = new TextEncoder().encode('room-7f3a');
/** The room every leaf's binding names (StageOptions.room). */
const ROOM = 'room-7f3a';

async function device(dir: MemoryKeyDirectory, userId: string, deviceId = 'd1', publish = true) {
  const keys = await generateDeviceIdentity(userId, deviceId);
  if (publish) dir.publish(keys.identity);
  return keys;
}

async function rejects(
  p: Promise<unknown>,
  code: StageErrorCode,
  verdict?: CredentialVerdict,
): Promise<StageError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof StageError, `expected StageError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (verdict !== undefined) assert.equal(e.verdict, verdict, e.message);
    return e;
  }
  assert.fail('expected a rejection');
}

/** A KeyPackage with any credential and leaf key pair (what an attacker can make). */
async function keyPackageWith(
  credential: Credential,
  leafKeys?: { signKey: Uint8Array; publicKey: Uint8Array },
): Promise<PendingJoin> {
  const cs = await stageCiphersuite();
  const now = BigInt(Math.floor(Date.now() / 1000));
  const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
    credential,
    defaultCapabilities(),
    { notBefore: now - 60n, notAfter: now + 3600n },
    [],
    leafKeys ?? (await cs.signature.keygen()),
    cs,
  );
  return {
    message: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: publicPackage }),
    keyPackage: publicPackage,
    privatePackage,
  };
}

/** A KeyPackage whose binding says what `opts` say, signed by `signer` (default: the device key). */
async function boundKeyPackage(
  keys: DeviceIdentityKeys,
  opts: { room?: string; notAfter?: number; signer?: CryptoKey } = {},
): Promise<PendingJoin> {
  const cs = await stageCiphersuite();
  const leaf = await cs.signature.keygen();
  const credential = await createDeviceCredential(
    { identity: keys.identity, signingKey: opts.signer ?? keys.signingKey },
    leaf.publicKey,
    opts.room ?? ROOM,
    opts.notAfter ?? Math.floor(Date.now() / 1000) + 3600,
  );
  return keyPackageWith(credential, leaf);
}

/** `member` (a member whose own checks are bypassed) commits an Add of `kp` anyway. */
async function rogueAdd(member: StageMember, kp: PendingJoin) {
  const cs = await stageCiphersuite();
  return createCommit(
    { state: { ...member.mlsState, clientConfig: permissiveConfig() }, cipherSuite: cs },
    {
      extraProposals: [{ proposalType: 'add', add: { keyPackage: kp.keyPackage } }],
      ratchetTreeExtension: true,
    },
  );
}

/** Moderator + two speakers on one stage. */
async function stageOfThree() {
  const dir = new MemoryKeyDirectory();
  const [modKeys, s1Keys, s2Keys] = await Promise.all([
    device(dir, 'mod'),
    device(dir, 'speaker1'),
    device(dir, 'speaker2'),
  ]);
  const mod = await StageMember.create({ keys: modKeys, directory: dir, room: ROOM }, GROUP);
  const [kp1, kp2] = await Promise.all([
    createStageKeyPackage(s1Keys, ROOM),
    createStageKeyPackage(s2Keys, ROOM),
  ]);
  const out = await mod.add([kp1.message, kp2.message]);
  assert.ok(out.welcome !== undefined);
  const [s1, s2] = await Promise.all([
    StageMember.join({ keys: s1Keys, directory: dir, room: ROOM }, out.welcome, kp1, GROUP),
    StageMember.join({ keys: s2Keys, directory: dir, room: ROOM }, out.welcome, kp2, GROUP),
  ]);
  return { dir, mod, s1, s2, modKeys, s1Keys, s2Keys };
}

function permissiveConfig(): ClientConfig {
  return {
    keyRetentionConfig: defaultKeyRetentionConfig,
    lifetimeConfig: defaultLifetimeConfig,
    keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
    paddingConfig: defaultPaddingConfig,
    authService: { validateCredential: async () => true },
  };
}

describe('MLS stage', () => {
  test('create + add two speakers: all three agree on epoch, roster, SFrame base key and security code', async () => {
    const { mod, s1, s2 } = await stageOfThree();
    assert.equal(mod.epoch, 1n);
    for (const m of [s1, s2]) assert.equal(m.epoch, mod.epoch);
    const keys = await Promise.all([mod, s1, s2].map((m) => m.epochKeys()));
    assert.equal(keys[0]!.baseKey.length, 16);
    for (const k of keys.slice(1)) {
      assert.deepEqual(k.baseKey, keys[0]!.baseKey);
      assert.equal(k.securityCode, keys[0]!.securityCode);
      assert.equal(k.generation, 1);
    }
    assert.match(keys[0]!.securityCode, /^\d{5}( \d{5}){5}$/);
    const roster = mod.members().map((m) => `${m.leaf}:${m.userId}/${m.deviceId}`);
    assert.deepEqual(roster, ['0:mod/d1', '1:speaker1/d1', '2:speaker2/d1']);
    assert.deepEqual(
      s2.members().map((m) => m.leaf),
      [0, 1, 2],
    );
    assert.deepEqual([mod.leafIndex, s1.leafIndex, s2.leafIndex], [0, 1, 2]);
    // each sender has its own KID (hence its own sframe key and counter space)
    assert.equal(new Set([mod.kid(), s1.kid(), s2.kid()]).size, 3);
  });

  test('remove a speaker: epoch advances, the rest agree on new key and code, the removed one cannot follow', async () => {
    const { mod, s1, s2 } = await stageOfThree();
    const before = await mod.epochKeys();
    const out = await mod.remove([{ userId: 'speaker2', deviceId: 'd1' }]);
    assert.equal(out.welcome, undefined);
    const e1 = await s1.processMessage(out.commit);
    assert.equal(e1.kind, 'commit');
    assert.deepEqual(
      e1.change.removes.map((r) => r.userId),
      ['speaker2'],
    );
    const e2 = await s2.processMessage(out.commit);
    assert.equal(e2.kind, 'removed');
    assert.equal(s2.active, false);
    assert.equal(mod.epoch, before.epoch + 1n);
    assert.equal(s1.epoch, mod.epoch);
    const [km, k1] = await Promise.all([mod.epochKeys(), s1.epochKeys()]);
    assert.deepEqual(km.baseKey, k1.baseKey);
    assert.equal(km.securityCode, k1.securityCode);
    assert.notDeepEqual(km.baseKey, before.baseKey);
    assert.notEqual(km.securityCode, before.securityCode);
    // the removed member has no key for the new epoch
    await rejects(s2.epochKeys(), 'removed');
    await rejects(s2.refresh(), 'removed');
    assert.deepEqual(
      mod.members().map((m) => m.userId),
      ['mod', 'speaker1'],
    );
  });

  test('hand-over: the creator leaves (proposal committed by a speaker), the stage continues', async () => {
    const { mod, s1, s2, dir } = await stageOfThree();
    const proposal = await mod.leave();
    assert.equal((await s1.processMessage(proposal)).kind, 'proposal');
    assert.equal((await s2.processMessage(proposal)).kind, 'proposal');
    const out = await s1.refresh(); // commits the pending Remove
    assert.equal((await mod.processMessage(out.commit)).kind, 'removed');
    assert.equal((await s2.processMessage(out.commit)).kind, 'commit');
    assert.equal(mod.active, false);
    assert.deepEqual(
      s2.members().map((m) => m.userId),
      ['speaker1', 'speaker2'],
    );
    // the new moderator (speaker1) adds someone; the group continues
    const s3Keys = await device(dir, 'speaker3');
    const kp3 = await createStageKeyPackage(s3Keys, ROOM);
    const add = await s1.add([kp3.message]);
    await s2.processMessage(add.commit);
    const s3 = await StageMember.join({ keys: s3Keys, directory: dir, room: ROOM }, add.welcome!, kp3);
    const ks = await Promise.all([s1, s2, s3].map((m) => m.epochKeys()));
    assert.deepEqual(ks[1]!.baseKey, ks[0]!.baseKey);
    assert.deepEqual(ks[2]!.baseKey, ks[0]!.baseKey);
    assert.equal(s3.leafIndex, 0); // the creator's freed leaf is reused
  });

  test('hand-over: another member removes the creator directly', async () => {
    const { mod, s1, s2 } = await stageOfThree();
    const out = await s2.remove([0]);
    assert.equal((await mod.processMessage(out.commit)).kind, 'removed');
    await s1.processMessage(out.commit);
    assert.deepEqual((await s1.epochKeys()).baseKey, (await s2.epochKeys()).baseKey);
  });

  test('a KeyPackage whose credential the key directory does not back is rejected, with its verdict', async () => {
    const { mod, dir, s1, s2 } = await stageOfThree();
    // 1. device not in the directory
    const stranger = await device(dir, 'stranger', 'd1', false);
    await rejects(
      mod.add([(await createStageKeyPackage(stranger, ROOM)).message]),
      'credential_rejected',
      'unknown_device',
    );
    // 2. claims a published device (with its published key) but the binding is signed by another
    //    device key (impersonation)
    const victim = await device(dir, 'victim');
    const impostor = await generateDeviceIdentity('mallory', 'd1');
    const forged: DeviceIdentityKeys = { ...impostor, identity: victim.identity };
    const forgedKp = await createStageKeyPackage(forged, ROOM);
    await rejects(mod.add([forgedKp.message]), 'credential_rejected', 'bad_binding');
    // ... or names the victim's device with the impostor's own key
    const renamed: DeviceIdentityKeys = {
      ...impostor,
      identity: { ...impostor.identity, userId: victim.identity.userId, deviceId: victim.identity.deviceId },
    };
    await rejects(
      mod.add([(await createStageKeyPackage(renamed, ROOM)).message]),
      'credential_rejected',
      'key_mismatch',
    );
    // 3. a member whose own validation is bypassed commits it anyway: honest members reject the
    //    commit through the AuthenticationService (proves ts-mls calls ours, not accept-anything)
    const evil = await rogueAdd(s1, forgedKp);
    const epoch = mod.epoch;
    await rejects(mod.processMessage(encodeMlsMessage(evil.commit)), 'credential_rejected', 'bad_binding');
    await rejects(s2.processMessage(encodeMlsMessage(evil.commit)), 'credential_rejected', 'bad_binding');
    assert.equal(mod.epoch, epoch);
    // ... and the impostor cannot join from the Welcome either: every leaf is validated
    await rejects(
      StageMember.join(
        { keys: forged, directory: dir, room: ROOM },
        encodeMlsMessage({
          version: 'mls10',
          wireformat: 'mls_welcome',
          welcome: evil.welcome!,
        }),
        forgedKp,
      ),
      'credential_rejected',
      'bad_binding',
    );
    // 4. rotating a key in the directory makes the old KeyPackage unusable
    const s3 = await device(dir, 'speaker3');
    const kp3 = await createStageKeyPackage(s3, ROOM);
    dir.publish((await generateDeviceIdentity('speaker3', 'd1')).identity);
    await rejects(mod.add([kp3.message]), 'credential_rejected', 'key_mismatch');
    assert.equal(decodeKeyPackage(kp3.message).cipherSuite, STAGE_CIPHERSUITE);
    // the stage is unharmed
    const after = await mod.refresh();
    await s1.processMessage(after.commit);
    assert.deepEqual((await s1.epochKeys()).baseKey, (await mod.epochKeys()).baseKey);
  });

  test('a binding is for one leaf key and one room: moved to another leaf or room, it is refused', async () => {
    const { mod, dir, s1 } = await stageOfThree();
    const alice = await device(dir, 'alice');
    const genuine = await createStageKeyPackage(alice, ROOM);
    // Alice's genuine credential (binding and all) on a KeyPackage with the attacker's leaf key
    const moved = await keyPackageWith(genuine.keyPackage.leafNode.credential);
    await rejects(mod.add([moved.message]), 'credential_rejected', 'bad_binding');
    // ... committed by a rogue member: honest members refuse it too
    await rejects(
      s1.processMessage(encodeMlsMessage((await rogueAdd(mod, moved)).commit)),
      'credential_rejected',
      'bad_binding',
    );
    // a binding Alice really made, for another room
    const otherRoom = await createStageKeyPackage(alice, 'room-other');
    await rejects(mod.add([otherRoom.message]), 'credential_rejected', 'wrong_room');
    // the stage of another room refuses this room's tree: every leaf names ROOM
    const out = await mod.add([genuine.message]);
    await rejects(
      StageMember.join({ keys: alice, directory: dir, room: 'room-other' }, out.welcome!, genuine),
      'credential_rejected',
      'wrong_room',
    );
    // the same Welcome, joined as the right room, works
    const joined = await StageMember.join({ keys: alice, directory: dir, room: ROOM }, out.welcome!, genuine);
    assert.equal(joined.epoch, mod.epoch);
  });

  test('a binding past its lifetime (or claiming too long a one) cannot be added; members already in stay', async () => {
    const { mod, dir, s1, s2 } = await stageOfThree();
    const now = Math.floor(Date.now() / 1000);
    const late = await device(dir, 'late');
    const expired = await boundKeyPackage(late, { notAfter: now - 5 });
    await rejects(mod.add([expired.message]), 'credential_rejected', 'expired');
    const greedy = await boundKeyPackage(late, { notAfter: now + 30 * 24 * 3600 });
    await rejects(mod.add([greedy.message]), 'credential_rejected', 'lifetime_too_long');
    // a rogue member adds the expired one: the binding itself verifies, the lifetime does not
    const rogue = await rogueAdd(s1, expired);
    await rejects(mod.processMessage(encodeMlsMessage(rogue.commit)), 'credential_rejected', 'expired');
    await rejects(s2.processMessage(encodeMlsMessage(rogue.commit)), 'credential_rejected', 'expired');
    // a binding within its lifetime is fine; once a member, its leaf's lifetime is not re-checked
    // (later commits and Welcomes validate the whole tree without it)
    const soon = await boundKeyPackage(late, { notAfter: now + 120 });
    const out = await mod.add([soon.message]);
    await s1.processMessage(out.commit);
    await s2.processMessage(out.commit);
    const lateMember = await StageMember.join({ keys: late, directory: dir, room: ROOM }, out.welcome!, soon);
    assert.equal(lateMember.epoch, mod.epoch);
  });

  test('MLS leaf keys are ephemeral per membership; the roster maps leaves to device keys', async () => {
    const { mod, s1, s2, dir, modKeys, s1Keys, s2Keys } = await stageOfThree();
    const byUser = new Map([modKeys, s1Keys, s2Keys].map((k) => [k.identity.userId, k.identity]));
    const leafKeys = new Set<string>();
    for (const m of mod.members()) {
      const identity = byUser.get(m.userId)!;
      assert.deepEqual(m.signingPublicKey, identity.signingPublicKey, 'device key from the credential');
      assert.equal(m.leafSignaturePublicKey.length, 32);
      assert.notDeepEqual(
        m.leafSignaturePublicKey,
        identity.signingPublicKey,
        'the leaf key is not the device key',
      );
      leafKeys.add(Buffer.from(m.leafSignaturePublicKey).toString('hex'));
      // speaker signatures verify against the device key of the KID's leaf
      assert.deepEqual(mod.speakerRoster()(mod.kid(m.leaf)), identity.signingPublicKey);
    }
    assert.equal(leafKeys.size, 3);
    assert.deepEqual(s2.members(), mod.members(), 'every member sees the same roster');
    // two KeyPackages of one device: two different leaf keys
    const [a, b] = await Promise.all([
      createStageKeyPackage(s1Keys, ROOM),
      createStageKeyPackage(s1Keys, ROOM),
    ]);
    assert.notDeepEqual(a.keyPackage.leafNode.signaturePublicKey, b.keyPackage.leafNode.signaturePublicKey);
    // a device that leaves and comes back gets a new leaf key, same device key
    const before = mod.member(s1.leafIndex)!;
    const out = await mod.remove([s1.leafIndex]);
    await s2.processMessage(out.commit);
    const back = await mod.add([a.message]);
    await s2.processMessage(back.commit);
    const s1Again = await StageMember.join({ keys: s1Keys, directory: dir, room: ROOM }, back.welcome!, a);
    const now = mod.member(s1Again.leafIndex)!;
    assert.equal(now.userId, 'speaker1');
    assert.deepEqual(now.signingPublicKey, before.signingPublicKey);
    assert.notDeepEqual(now.leafSignaturePublicKey, before.leafSignaturePublicKey);
    const ks = await Promise.all([mod, s2, s1Again].map((m) => m.epochKeys()));
    assert.deepEqual(ks[1]!.baseKey, ks[0]!.baseKey);
    assert.deepEqual(ks[2]!.baseKey, ks[0]!.baseKey);
  });

  test('a moderator whose own device the directory does not back cannot open a stage', async () => {
    const dir = new MemoryKeyDirectory();
    const unpublished = await device(dir, 'ghost', 'd1', false);
    await rejects(
      StageMember.create({ keys: unpublished, directory: dir, room: ROOM }, GROUP),
      'credential_rejected',
      'unknown_device',
    );
    const published = await device(dir, 'mod');
    await rejects(
      StageMember.create(
        { keys: { ...published, signingKey: unpublished.signingKey }, directory: dir, room: ROOM },
        GROUP,
      ),
      'credential_rejected',
      'bad_binding',
    );
  });

  test('commits from non-members are rejected', async () => {
    const { mod, s1, s2, dir } = await stageOfThree();
    // a removed member replays its view of the old epoch
    const s2Before = s2.mlsState;
    const out = await mod.remove([2]);
    await s1.processMessage(out.commit);
    await s2.processMessage(out.commit);
    const cs = await stageCiphersuite();
    const stale = await createCommit({ state: s2Before, cipherSuite: cs });
    await rejects(s1.processMessage(encodeMlsMessage(stale.commit)), 'rejected');
    // an outsider with a look-alike group (same id, same epoch) — own keys, not ours
    const eveKeys = await device(dir, 'eve');
    const eve = await StageMember.create({ keys: eveKeys, directory: dir, room: ROOM }, GROUP);
    while (eve.epoch < mod.epoch) await eve.refresh();
    assert.equal(eve.epoch, mod.epoch);
    const eveState = eve.mlsState;
    const eveCommit = await eve.refresh();
    await rejects(s1.processMessage(eveCommit.commit), 'rejected');
    // also as a public message (signature + membership tag checks)
    const evePublic = await createCommit({ state: eveState, cipherSuite: cs }, { wireAsPublicMessage: true });
    await rejects(s1.processMessage(encodeMlsMessage(evePublic.commit)), 'rejected');
    assert.equal(s1.epoch, mod.epoch);
    // garbage
    await rejects(s1.processMessage(Uint8Array.of(0, 1, 2)), 'bad_message');
  });

  test('a stage policy can restrict who commits', async () => {
    const dir = new MemoryKeyDirectory();
    const [modKeys, sKeys, xKeys] = await Promise.all([
      device(dir, 'mod'),
      device(dir, 'spk'),
      device(dir, 'x'),
    ]);
    const onlyMod = (c: {
      committer: { userId: string } | undefined;
      adds: readonly unknown[];
      removes: readonly unknown[];
    }) => c.committer?.userId === 'mod' || (c.adds.length === 0 && c.removes.length === 0);
    const mod = await StageMember.create(
      { keys: modKeys, directory: dir, room: ROOM, policy: onlyMod },
      GROUP,
    );
    const kp = await createStageKeyPackage(sKeys, ROOM);
    const out = await mod.add([kp.message]);
    const spk = await StageMember.join(
      { keys: sKeys, directory: dir, room: ROOM, policy: onlyMod },
      out.welcome!,
      kp,
    );
    await rejects(spk.add([(await createStageKeyPackage(xKeys, ROOM)).message]), 'policy_rejected');
    // bypassing its own policy does not help: the moderator refuses the commit
    const cs = await stageCiphersuite();
    const rogue = await createCommit(
      { state: spk.mlsState, cipherSuite: cs },
      { extraProposals: [{ proposalType: 'remove', remove: { removed: 0 } }] },
    );
    await rejects(mod.processMessage(encodeMlsMessage(rogue.commit)), 'policy_rejected');
    // an empty refresh commit by the speaker is fine
    const r = await spk.refresh();
    assert.equal((await mod.processMessage(r.commit)).kind, 'commit');
  });
});

describe('SFrame with MLS stage keys', () => {
  test('a speaker encrypts with its per-sender key; members decrypt; a removed member cannot', async () => {
    const { mod, s1, s2 } = await stageOfThree();
    const ctx = { mod: new SFrameContext(), s1: new SFrameContext(), s2: new SFrameContext() };
    const kid1 = await s1.installSFrameKeys(ctx.s1);
    await mod.installSFrameKeys(ctx.mod);
    await s2.installSFrameKeys(ctx.s2);
    assert.equal(kid1, encodeKid({ generation: 1, step: 0, leaf: 1 }));
    const opus = Uint8Array.from({ length: 90 }, (_, i) => i);
    const f = await ctx.s1.encrypt(kid1, opus);
    assert.deepEqual((await ctx.mod.decrypt(f)).plaintext, opus);
    assert.deepEqual((await ctx.s2.decrypt(f)).plaintext, opus);
    // per-sender keys: s1's frame re-labelled as s2's KID does not decrypt
    const s2Kid = s2.kid();
    assert.ok(ctx.mod.hasDecryptionKey(s2Kid));

    // remove s2; new generation
    const out = await mod.remove([s2.leafIndex]);
    await s1.processMessage(out.commit);
    await s2.processMessage(out.commit);
    const kid1b = await s1.installSFrameKeys(ctx.s1);
    await mod.installSFrameKeys(ctx.mod);
    assert.equal(kid1b, encodeKid({ generation: 2, step: 0, leaf: 1 }));
    const g = await ctx.s1.encrypt(kid1b, opus);
    assert.deepEqual((await ctx.mod.decrypt(g)).plaintext, opus);
    // the removed member: no key for generation 2, and the old base key does not open it
    await assert.rejects(
      ctx.s2.decrypt(g),
      (e: unknown) => e instanceof SFrameError && e.code === 'unknown_key',
    );
    await rejects(s2.installSFrameKeys(ctx.s2), 'removed');
    const stolenOld = new SFrameContext();
    const oldBase = (await (await stageOfThree()).mod.epochKeys()).baseKey; // any key it could hold
    await stolenOld.addDecryptionKey(kid1b, oldBase);
    await assert.rejects(
      stolenOld.decrypt(g),
      (e: unknown) => e instanceof SFrameError && e.code === 'auth_failed',
    );
  });
});
