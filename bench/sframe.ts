/**
 * E2EE cost benchmark: SFrame per-frame cost and HPKE key-wrap fan-out, on WebCrypto.
 *
 *   node --import tsx bench/sframe.ts [--runs 3] [--frames 20000] [--quick]
 *
 * - SFrame (AES_128_GCM_SHA256_128 through SFrameContext): µs per encrypt and per decrypt of an
 *   80-byte Opus-sized frame, one at a time (as an RTCRtpScriptTransform does), and the share
 *   of one core that one received 50 frame/s stream costs.
 * - Key wraps of one 32-byte key to 1,000 and 5,000 listeners:
 *   (a) direct: one HPKE seal (X25519) per listener per rotation;
 *   (b) listener KEKs: one HPKE seal per listener once (at join), then one AES-128-GCM wrap per
 *       listener per rotation.
 *
 * CPU time is process.cpuUsage() (all threads: WebCrypto jobs run on libuv's pool), wall time
 * is performance.now(). Every figure is the median of `--runs` runs. The machine is shared
 * (2 cores, other work running): expect noise; CPU time is the steadier figure.
 * Prints a table, then exactly one JSON line.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Aes128Gcm, CipherSuite, HkdfSha256, DhkemX25519HkdfSha256 as NativeX25519 } from '@hpke/core';
import {
  createListenerKek,
  encodeKid,
  exportPublicKey,
  generateWrapKeyPair,
  kekWrap,
  kekWrapMany,
  keyWrapContext,
  type ListenerKek,
  SFrameContext,
  wrapKey,
} from '@sotto/e2ee';

const FRAME_BYTES = 80;
const FRAMES_PER_SECOND = 50;
const KEY_BYTES = 32;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    frames: { type: 'string', default: '20000' },
    quick: { type: 'boolean', default: false },
  },
});
const RUNS = Math.max(1, Number(values.runs));
const FRAMES = Math.max(1000, Number(values.frames));
const LISTENER_COUNTS = values.quick ? [200, 1000] : [1000, 5000];

interface Sample {
  cpuMs: number;
  wallMs: number;
}

async function measure(fn: () => Promise<void>): Promise<Sample> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { cpuMs: (c.user + c.system) / 1000, wallMs };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function medianOf(runs: number, fn: () => Promise<void>): Promise<Sample> {
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) samples.push(await measure(fn));
  return { cpuMs: median(samples.map((s) => s.cpuMs)), wallMs: median(samples.map((s) => s.wallMs)) };
}

const fmt = (x: number, digits = 1) => x.toFixed(digits);

async function benchSFrame() {
  const baseKey = crypto.getRandomValues(new Uint8Array(16));
  const kid = encodeKid({ generation: 1, step: 0, leaf: 3 });
  const payload = crypto.getRandomValues(new Uint8Array(FRAME_BYTES));

  // Each run uses fresh contexts so the receiver's replay window starts empty.
  const makeFrames = async () => {
    const tx = new SFrameContext();
    await tx.addEncryptionKey(kid, baseKey);
    const frames: Uint8Array[] = [];
    for (let i = 0; i < FRAMES; i++) frames.push(await tx.encrypt(kid, payload));
    return frames;
  };

  // warm-up (JIT, key import paths)
  await makeFrames();

  const enc = await medianOf(RUNS, async () => {
    const tx = new SFrameContext();
    await tx.addEncryptionKey(kid, baseKey);
    for (let i = 0; i < FRAMES; i++) await tx.encrypt(kid, payload);
  });
  const frames = await makeFrames();
  const decSamples: Sample[] = [];
  for (let r = 0; r < RUNS; r++) {
    const rx = new SFrameContext();
    await rx.addDecryptionKey(kid, baseKey);
    decSamples.push(
      await measure(async () => {
        for (const f of frames) await rx.decrypt(f);
      }),
    );
  }
  const dec = {
    cpuMs: median(decSamples.map((s) => s.cpuMs)),
    wallMs: median(decSamples.map((s) => s.wallMs)),
  };
  // baseline: the bare WebCrypto AES-128-GCM calls on the same frame, to show SFrame's overhead
  const raw = await crypto.subtle.importKey('raw', baseKey, 'AES-GCM', false, ['encrypt', 'decrypt']);
  const iv = new Uint8Array(12);
  const aad = new Uint8Array(6);
  const rawCt = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, raw, payload);
  const rawDec = await medianOf(RUNS, async () => {
    for (let i = 0; i < FRAMES; i++)
      await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: aad }, raw, rawCt);
  });
  const encUs = (enc.cpuMs * 1000) / FRAMES;
  const decUs = (dec.cpuMs * 1000) / FRAMES;
  return {
    frameBytes: FRAME_BYTES,
    sealedBytes: frames[0]!.length,
    frames: FRAMES,
    encryptCpuUs: encUs,
    encryptWallUs: (enc.wallMs * 1000) / FRAMES,
    decryptCpuUs: decUs,
    decryptWallUs: (dec.wallMs * 1000) / FRAMES,
    rawWebCryptoDecryptCpuUs: (rawDec.cpuMs * 1000) / FRAMES,
    /** % of one core for one received 50 frame/s stream. */
    receiveStreamCorePct: (decUs * FRAMES_PER_SECOND * 100) / 1e6,
    sendStreamCorePct: (encUs * FRAMES_PER_SECOND * 100) / 1e6,
  };
}

async function benchWraps() {
  const key = crypto.getRandomValues(new Uint8Array(KEY_BYTES));
  const maxN = Math.max(...LISTENER_COUNTS);
  const listeners: Uint8Array[] = [];
  for (let i = 0; i < maxN; i++)
    listeners.push(await exportPublicKey((await generateWrapKeyPair()).publicKey));
  const rotationCtx = keyWrapContext({ purpose: 'sframe-base-key', roomId: 'bench-room', generation: 2 });
  const setupCtx = keyWrapContext({ purpose: 'listener-kek', roomId: 'bench-room', generation: 0 });

  // warm-up
  for (let i = 0; i < 20; i++) await wrapKey(listeners[i]!, key, rotationCtx);

  // (a) direct HPKE per listener, one at a time (WebCrypto X25519 since device keys became
  // non-extractable CryptoKeys; it was pure-JS X25519 on the main thread before)
  const direct: Record<number, { seq: Sample; bytes: number }> = {};
  for (const n of LISTENER_COUNTS) {
    let bytes = 0;
    const seq = await medianOf(RUNS, async () => {
      bytes = 0;
      for (let i = 0; i < n; i++) bytes += (await wrapKey(listeners[i]!, key, rotationCtx)).length;
    });
    direct[n] = { seq, bytes };
  }

  // the same seal with a freshly built @hpke/core suite (what src/ now uses), as a cross-check
  const native = new CipherSuite({ kem: new NativeX25519(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });
  const nativeKeys: CryptoKey[] = [];
  for (let i = 0; i < 200; i++) nativeKeys.push((await native.kem.generateKeyPair()).publicKey);
  const nativeSeal = await medianOf(RUNS, async () => {
    for (const pk of nativeKeys)
      await native.seal({ recipientPublicKey: pk, info: rotationCtx }, key, rotationCtx);
  });

  // (b) listener KEKs: setup (once per listener) and per-rotation fan-out
  const keks: ListenerKek[] = [];
  const setup = await measure(async () => {
    for (let i = 0; i < maxN; i++) keks.push(await createListenerKek(listeners[i]!, setupCtx));
  });
  const setupBytes = keks.reduce((a, k) => a + k.wrapped.length, 0) / keks.length;
  const kek: Record<number, { seq: Sample; par: Sample; bytes: number }> = {};
  for (let i = 0; i < 200; i++) await kekWrap(keks[i]!.key, key, rotationCtx); // warm-up
  for (const n of LISTENER_COUNTS) {
    let bytes = 0;
    const seq = await medianOf(RUNS, async () => {
      bytes = 0;
      for (let i = 0; i < n; i++) bytes += (await kekWrap(keks[i]!.key, key, rotationCtx)).length;
    });
    const kekKeys = keks.slice(0, n).map((k) => k.key);
    const par = await medianOf(RUNS, async () => {
      await kekWrapMany(kekKeys, key, rotationCtx, 16);
    });
    kek[n] = { seq, par, bytes };
  }

  return {
    direct,
    nativeSealCpuMsEach: nativeSeal.cpuMs / nativeKeys.length,
    kekSetupCpuMsEach: setup.cpuMs / maxN,
    kekSetupBytesEach: setupBytes,
    kek,
  };
}

const started = performance.now();
console.log(
  `E2EE benchmark — Node ${process.version}, ${RUNS} runs each (medians); shared 2-core machine, expect noise`,
);
const sframe = await benchSFrame();
console.log('\nSFrame AES_128_GCM_SHA256_128, one frame at a time via SFrameContext');
console.log(
  `  frame ${sframe.frameBytes} B → ${sframe.sealedBytes} B sealed, ${sframe.frames} frames per run`,
);
console.log(`  encrypt: ${fmt(sframe.encryptCpuUs)} µs CPU (${fmt(sframe.encryptWallUs)} µs wall) per frame`);
console.log(`  decrypt: ${fmt(sframe.decryptCpuUs)} µs CPU (${fmt(sframe.decryptWallUs)} µs wall) per frame`);
console.log(
  `  (bare WebCrypto AES-GCM decrypt of the same frame: ${fmt(sframe.rawWebCryptoDecryptCpuUs)} µs CPU)`,
);
console.log(
  `  one received 50 frame/s stream: ${fmt(sframe.receiveStreamCorePct, 3)}% of a core (goal ≤ 0.5%); ` +
    `sending one: ${fmt(sframe.sendStreamCorePct, 3)}%`,
);

const wraps = await benchWraps();
console.log('\nKey wrap of one 32-byte key (X25519 HPKE via @hpke/core on WebCrypto X25519; AES-128-GCM)');
for (const n of LISTENER_COUNTS) {
  const d = wraps.direct[n]!;
  const k = wraps.kek[n]!;
  console.log(
    `  ${n} listeners, direct HPKE per listener: ${fmt(d.seq.cpuMs, 0)} ms CPU sequential ` +
      `(${fmt(d.seq.wallMs, 0)} ms wall), ` +
      `${d.bytes} B`,
  );
  console.log(
    `  ${n} listeners, listener-KEK rotation:     ${fmt(k.seq.cpuMs, 0)} ms CPU sequential ` +
      `(${fmt(k.seq.wallMs, 0)} ms wall; kekWrapMany, 16 in flight: ${fmt(k.par.cpuMs, 0)} ms CPU, ${fmt(k.par.wallMs, 0)} ms wall), ` +
      `${k.bytes} B`,
  );
}
console.log(
  `  KEK setup (once per listener, one HPKE seal): ${fmt(wraps.kekSetupCpuMsEach, 2)} ms CPU, ` +
    `${wraps.kekSetupBytesEach} B each`,
);
console.log(
  `  cross-check, a separate @hpke/core WebCrypto X25519 suite: ${fmt(wraps.nativeSealCpuMsEach, 2)} ms CPU each seal`,
);
console.log(`\ntotal ${fmt((performance.now() - started) / 1000)} s`);
console.log(JSON.stringify({ runs: RUNS, sframe, wraps }));
