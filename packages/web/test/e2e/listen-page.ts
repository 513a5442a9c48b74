/// <reference lib="dom" />
// Injected into the web app's pages by the end-to-end tests: listens to the remote audio the
// app plays (its <audio data-sotto-track> elements) through WebAudio and looks for a tone.
import { listenForLoudest, listenForTone } from '../../../media/test/browser/tone.ts';

function appAudioTracks(): MediaStreamTrack[] {
  return [...document.querySelectorAll<HTMLAudioElement>('audio[data-sotto-track]')].flatMap((el) =>
    el.srcObject instanceof MediaStream ? el.srcObject.getAudioTracks() : [],
  );
}

(globalThis as unknown as { sottoTest: unknown }).sottoTest = {
  detectTone: (hz: number, timeoutMs: number) => listenForTone(appAudioTracks, hz, timeoutMs),
  loudest: (ms: number) => listenForLoudest(appAudioTracks, ms),
};
