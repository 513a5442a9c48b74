export {
  type KeyStore,
  parseKeys,
  signToken,
  type TokenClaims,
  type VideoGrant,
  verifyToken,
} from './auth/token.ts';
export { MediaNode, type MediaNodeConfig, startMediaNode } from './node.ts';
export { type LogLevel, setLogLevel } from './util/log.ts';
