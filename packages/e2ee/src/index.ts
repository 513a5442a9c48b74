/**
 * @sotto/e2ee — end-to-end encryption building blocks. Isomorphic: WebCrypto only (no DOM, no
 * Node-only APIs), for browser workers (RTCRtpScriptTransform) and Node bots alike.
 */

export {
  createListenerKek,
  KEK_BYTES,
  KEK_WRAP_LABEL,
  kekUnwrap,
  kekWrap,
  kekWrapMany,
  type ListenerKek,
  openListenerKek,
} from './hpke/kek.ts';
export {
  deriveWrapKeyPair,
  exportPrivateKey,
  exportPublicKey,
  generateWrapKeyPair,
  hpkeSuite,
  importPrivateKey,
  importPublicKey,
  type KeyWrapContextFields,
  KeyWrapError,
  type KeyWrapErrorCode,
  keyWrapContext,
  unwrapKey,
  WRAP_ENC_BYTES,
  WRAP_INFO_LABEL,
  WRAP_TAG_BYTES,
  type WrapKeyPair,
  wrapInfo,
  wrapKey,
} from './hpke/wrap.ts';
export { concatBytes } from './sframe/bytes.ts';
export { type DecryptedFrame, SFrameContext, type SFrameContextOptions } from './sframe/context.ts';
export { isSFrameError, SFrameError, type SFrameErrorCode } from './sframe/errors.ts';
export {
  decryptFrame,
  decryptFrameWithHeader,
  deriveSFrameKey,
  encryptFrame,
  type SFrameKey,
} from './sframe/frame.ts';
export {
  type DecodedHeader,
  decodeHeader,
  encodeHeader,
  headerLength,
  MAX_UINT64,
  type SFrameHeader,
  writeHeader,
} from './sframe/header.ts';
export {
  deriveKeySalt,
  MIN_BASE_KEY_BYTES,
  type SFrameKeyMaterial,
  sframeKeyLabel,
  sframeNonce,
  sframeSaltLabel,
} from './sframe/keys.ts';
export {
  type DecodedKid,
  decodeKid,
  encodeKid,
  KID_GENERATION_BITS,
  KID_LEAF_BITS,
  KID_STEP_BITS,
  type KidFields,
  MAX_GENERATION,
  MAX_LEAF_INDEX,
  RATCHET_LABEL,
  ratchetBaseKey,
  ratchetForward,
  unwrapRatchetStep,
} from './sframe/kid.ts';
export { DEFAULT_REPLAY_WINDOW, ReplayWindow } from './sframe/replay.ts';
export {
  type CipherSuite,
  CipherSuiteId,
  DEFAULT_CIPHER_SUITE,
  getCipherSuite,
  importAeadKey,
  type SFrameAead,
  supportedCipherSuites,
} from './sframe/suites.ts';
