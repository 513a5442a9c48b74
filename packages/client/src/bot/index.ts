/**
 * E2EE for bots (`@sotto/client/bot`, Node): device key files, and an E2EE room member that opens
 * SFrame payloads as a listener and, on stage, speaks Opus-encoded PCM, SFrame-encrypted and signed.
 */

export { E2EE_TOPIC, SPEAKER_SIG_TOPIC } from '../e2ee/keys.ts';
export {
  createDeviceFile,
  type DeviceFile,
  DeviceFileError,
  type DeviceFileErrorCode,
  deviceFromFile,
  parseDeviceFile,
} from './device.ts';
export {
  type BotDataTransport,
  E2eeBot,
  type E2eeBotOptions,
  type E2eeBotStats,
  type SpeakOptions,
} from './e2ee-bot.ts';
export { BotError, type BotErrorCode, isBotError } from './errors.ts';
export { KEY_FILE_MODE, loadDeviceFile, loadOrCreateDeviceFile, saveDeviceFile } from './key-file.ts';
export { type OpusEncoderOptions, OpusFrameEncoder } from './opus.ts';
export {
  FRAME_MS,
  FRAME_SAMPLES,
  FramePacer,
  type PcmSource,
  pcmClip,
  SAMPLE_RATE,
  sineTone,
  type ToneOptions,
} from './pcm.ts';
export { BotSpeech, type SpeechOptions, type SpeechResult, type SpeechStats } from './speech.ts';
