/**
 * @sotto/e2ee — end-to-end encryption building blocks. Isomorphic: WebCrypto only (no DOM, no
 * Node-only APIs), for browser workers (RTCRtpScriptTransform) and Node bots alike.
 */

export {
  decodeSpeakerSignature,
  encodeSpeakerSignature,
  FRAME_DIGEST_BYTES,
  type FrameVerdict,
  frameDigest,
  MAX_FRAMES_PER_SIGNATURE,
  type SignatureCheck,
  SPEAKER_SIG_LABEL,
  SPEAKER_SIG_VERSION,
  type SpeakerRoster,
  SpeakerSigError,
  type SpeakerSignature,
  SpeakerSigner,
  type SpeakerSignerOptions,
  SpeakerVerifier,
  type SpeakerVerifierOptions,
  speakerSigHash,
} from './auth/speaker-sig.ts';
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
export {
  DEVICE_IDENTITY_LABEL,
  type DeviceIdentity,
  type DeviceIdentityKeys,
  type DeviceRef,
  decodeDeviceIdentity,
  decodeDeviceRef,
  encodeDeviceIdentity,
  encodeDeviceRef,
  generateDeviceIdentity,
  IdentityError,
  type IdentityErrorCode,
  importSigningKey,
  importVerifyKey,
  type KeyDirectory,
  signEd25519,
  verifyEd25519,
} from './identity/device.ts';
export {
  fingerprintDigits,
  SAFETY_NUMBER_ITERATIONS,
  SAFETY_NUMBER_VERSION,
  safetyNumber,
} from './identity/safety-number.ts';
export {
  MemoryKeyDirectory,
  MemoryTofuStore,
  sameKeys,
  type TofuStore,
  type TofuVerdict,
} from './identity/tofu.ts';
export {
  type CredentialVerdict,
  checkCredential,
  credentialDevice,
  directoryAuthService,
} from './mls/credentials.ts';
export {
  type CommitOutput,
  createStageKeyPackage,
  decodeKeyPackage,
  type EpochKeys,
  type PendingJoin,
  SECURITY_CODE_LABEL,
  SFRAME_BASE_KEY_BYTES,
  SFRAME_EXPORTER_LABEL,
  STAGE_CIPHERSUITE,
  type StageChange,
  StageError,
  type StageErrorCode,
  type StageEvent,
  StageMember,
  type StageMemberInfo,
  type StageOptions,
  type StagePolicy,
  securityCodeFrom,
  stageCiphersuite,
} from './mls/stage.ts';
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
