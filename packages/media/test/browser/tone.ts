/// <reference lib="dom" />
// In-page audio analysis (bundled into the test page): listens to any MediaStreamTrack through
// WebAudio and looks for a sine tone, or measures the loudest sample.
import type { ToneResult } from './types.js';

const FFT_SIZE = 8192;
const MIN_SNR_DB = 20;
/** Stands in for −Infinity dB (digital silence) so results stay finite and comparable. */
const FLOOR_DB = -200;
const POLL_MS = 100;

let context: AudioContext | undefined;

async function audioContext(): Promise<AudioContext> {
  context ??= new AudioContext();
  if (context.state !== 'running') await context.resume();
  return context;
}

const toDb = (value: number): number => (Number.isFinite(value) ? Math.max(value, FLOOR_DB) : FLOOR_DB);

/** One track feeding an AnalyserNode. */
class TrackListener {
  private readonly element = document.createElement('audio');
  private readonly source: MediaStreamAudioSourceNode;
  private readonly analyser: AnalyserNode;

  constructor(track: MediaStreamTrack, ctx: AudioContext) {
    const stream = new MediaStream([track]);
    // Chrome only runs a remote WebRTC track into WebAudio while a media element plays it too.
    this.element.muted = true;
    this.element.srcObject = stream;
    document.body.append(this.element);
    void this.element.play();
    this.source = ctx.createMediaStreamSource(stream);
    this.analyser = ctx.createAnalyser();
    this.analyser.fftSize = FFT_SIZE;
    this.source.connect(this.analyser);
  }

  tone(hz: number): ToneResult {
    const bins = new Float32Array(this.analyser.frequencyBinCount);
    this.analyser.getFloatFrequencyData(bins);
    const db = Array.from(bins, toDb);
    let peak = 0;
    for (let i = 1; i < db.length; i++) if ((db[i] ?? FLOOR_DB) > (db[peak] ?? FLOOR_DB)) peak = i;
    const sorted = [...db].sort((a, b) => a - b);
    const medianDb = sorted[sorted.length >> 1] ?? FLOOR_DB;
    const peakDb = db[peak] ?? FLOOR_DB;
    const binHz = this.analyser.context.sampleRate / FFT_SIZE;
    const snrDb = peakDb - medianDb;
    return {
      found: peak === Math.round(hz / binHz) && snrDb >= MIN_SNR_DB,
      peakHz: peak * binHz,
      peakDb,
      snrDb,
    };
  }

  /** Loudest sample in the analyser's current window, in dBFS. */
  levelDb(): number {
    const samples = new Float32Array(this.analyser.fftSize);
    this.analyser.getFloatTimeDomainData(samples);
    let max = 0;
    for (const s of samples) max = Math.max(max, Math.abs(s));
    return toDb(20 * Math.log10(max));
  }

  close(): void {
    this.source.disconnect();
    this.element.srcObject = null;
    this.element.remove();
  }
}

/**
 * Polls listeners on the tracks `getTracks` returns (asked again on every poll, so tracks that
 * arrive late are picked up) until `onPoll` returns true or `durationMs` passes.
 */
async function listen(
  getTracks: () => MediaStreamTrack[],
  durationMs: number,
  onPoll: (listeners: TrackListener[]) => boolean,
): Promise<void> {
  const ctx = await audioContext();
  const listeners = new Map<MediaStreamTrack, TrackListener>();
  const deadline = performance.now() + durationMs;
  try {
    for (;;) {
      for (const track of getTracks()) {
        if (!listeners.has(track)) listeners.set(track, new TrackListener(track, ctx));
      }
      if (onPoll([...listeners.values()]) || performance.now() >= deadline) return;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    for (const listener of listeners.values()) listener.close();
  }
}

const NOTHING_HEARD: ToneResult = { found: false, peakHz: 0, peakDb: FLOOR_DB, snrDb: 0 };

/** Resolves as soon as one track carries `hz`; otherwise, at the timeout, with the best result seen. */
export async function listenForTone(
  getTracks: () => MediaStreamTrack[],
  hz: number,
  timeoutMs: number,
): Promise<ToneResult> {
  let best = NOTHING_HEARD;
  await listen(getTracks, timeoutMs, (listeners) => {
    for (const listener of listeners) {
      const result = listener.tone(hz);
      if (result.found || result.snrDb > best.snrDb) best = result;
      if (result.found) return true;
    }
    return false;
  });
  return best;
}

/** The loudest sample, in dBFS, heard on any of the tracks during `ms`. */
export async function listenForLoudest(getTracks: () => MediaStreamTrack[], ms: number): Promise<number> {
  let loudest = FLOOR_DB;
  await listen(getTracks, ms, (listeners) => {
    for (const listener of listeners) loudest = Math.max(loudest, listener.levelDb());
    return false;
  });
  return loudest;
}
