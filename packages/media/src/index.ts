export {
  HARDENED_ATTRIBUTE,
  type KeyStore,
  parseKeys,
  signToken,
  type TokenClaims,
  type VideoGrant,
  verifyToken,
} from './auth/token.ts';
export {
  MediaNode,
  type MediaNodeConfig,
  type MediaTransportKind,
  mediaTransportKind,
  startMediaNode,
} from './node.ts';
export type { PayloadTamper, PayloadTap } from './rtc/room.ts';
export { type Logger, type LogLevel, logger, setLogLevel } from './util/log.ts';
