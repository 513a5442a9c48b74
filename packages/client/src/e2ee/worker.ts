/**
 * The E2EE frame worker: `RTCRtpScriptTransform` for the microphone sender (operation `encrypt`)
 * and every remote audio receiver (`decrypt`). Keys come from the main thread's KeyManager as
 * messages; the crypto is `FrameCrypto`. Frames are handled one at a time per transform (the
 * TransformStream awaits each), so their order is kept; a dropped frame is simply not enqueued.
 */
import { FrameCrypto } from './frame-crypto.ts';
import { SignedFrameSender } from './frame-sender.ts';
import type { ToWorker } from './messages.ts';
import { SpeakerGate } from './speaker-gate.ts';

// the DOM lib types the window; a dedicated worker's global needs only these
declare const self: {
  postMessage(message: unknown): void;
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
  onrtctransform: ((ev: Event & { transformer: RtcTransformer }) => void) | null;
};

interface RtcTransformer {
  readonly readable: ReadableStream<{ data: ArrayBuffer }>;
  readonly writable: WritableStream<{ data: ArrayBuffer }>;
  readonly options: { operation: 'encrypt' | 'decrypt' };
}

const frames = new FrameCrypto();
let capture = false;
/** Test-only negative control: frames pass unmodified. */
let passthrough = false;
let firstDecryptAt: number | null = null;
let gate: SpeakerGate | null = null;
let verify = true;
/** Encrypts and signs what we send (frame-sender.ts, shared with bots); the gate checks what we receive. */
const sender = new SignedFrameSender(frames, {
  onSignatures: (messages) => {
    for (const message of messages) self.postMessage({ t: 'sig', message });
  },
});
sender.start();
frames.onMissingKey = (generation) => self.postMessage({ t: 'missing', generation });

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  switch (m.t) {
    case 'base':
      frames.setBaseKey(m.generation, m.step, m.key);
      m.key.fill(0);
      break;
    case 'send':
      void frames.setSendKey(m.key);
      break;
    case 'nosend':
      frames.clearSendKey();
      break;
    case 'forget':
      frames.forgetBefore(m.generation, m.step);
      break;
    case 'capture':
      capture = m.on;
      break;
    case 'passthrough':
      passthrough = true;
      break;
    case 'stats':
      self.postMessage({
        t: 'stats',
        id: m.id,
        stats: frames.stats,
        firstDecryptAt,
        speakers: gate?.stats ?? { verified: 0, muted: 0, forged: 0, badSignatures: 0 },
        keyGenerations: frames.generations,
      });
      break;
    case 'clear':
      frames.clear();
      break;
    case 'signer':
      sender.setSigner(m.key, { context: m.context });
      gate = new SpeakerGate({ context: m.context });
      break;
    case 'roster':
      gate?.setRoster(m.generation, m.entries);
      break;
    case 'sig':
      void gate?.addSignature(m.message);
      break;
    case 'noverify':
      verify = false;
      break;
    case 'trydecrypt':
      void frames
        .tryDecryptForTest(m.frames)
        .then((opened) => self.postMessage({ t: 'tried', id: m.id, opened }));
      break;
    case 'forge':
      void frames
        .forgeForTest(BigInt(m.kid), BigInt(m.firstCtr), m.frames)
        .then((out) => self.postMessage({ t: 'forged', id: m.id, frames: out }));
      break;
    case 'streams':
      pipe(m.readable, m.writable, m.operation);
      break;
  }
};

self.onrtctransform = (ev) => {
  const t = ev.transformer;
  pipe(t.readable, t.writable, t.options.operation);
};

/** One sender's or receiver's frames through SFrame, in order; dropped frames are not enqueued. */
function pipe(
  readable: ReadableStream<{ data: ArrayBuffer }>,
  writable: WritableStream<{ data: ArrayBuffer }>,
  operation: 'encrypt' | 'decrypt',
): void {
  const encrypt = operation === 'encrypt';
  readable
    .pipeThrough(
      new TransformStream<{ data: ArrayBuffer }, { data: ArrayBuffer }>({
        async transform(frame, controller) {
          const data = new Uint8Array(frame.data);
          if (encrypt) {
            // test-only: the plaintext this sender produced (enabled by an explicit option)
            if (capture) self.postMessage({ t: 'plain', frame: data.slice() });
            if (passthrough) return controller.enqueue(frame);
            const out = await sender.encrypt(data);
            if (!out) return;
            frame.data = toBuffer(out);
            controller.enqueue(frame);
          } else {
            if (passthrough) {
              firstDecryptAt ??= performance.timeOrigin + performance.now();
              return controller.enqueue(frame);
            }
            const out = await frames.decrypt(data);
            if (!out || out.length === 0) return;
            // decrypted is not enough: a listener holds the key too; play only signed speakers
            if (verify && gate && !(await gate.admit(data))) {
              frames.stats.dropped.unsigned = (frames.stats.dropped.unsigned ?? 0) + 1;
              return;
            }
            firstDecryptAt ??= performance.timeOrigin + performance.now();
            frame.data = toBuffer(out);
            controller.enqueue(frame);
          }
        },
      }),
    )
    .pipeTo(writable)
    .catch(() => undefined);
}

function toBuffer(b: Uint8Array): ArrayBuffer {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength
    ? (b.buffer as ArrayBuffer)
    : (b.slice().buffer as ArrayBuffer);
}
