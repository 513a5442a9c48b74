import { decodeJwt, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { MediaError } from '../util/errors.ts';

/** LiveKit's video grant, as carried in the `video` claim of an access token. */
export interface VideoGrant {
  roomCreate?: boolean;
  roomList?: boolean;
  roomRecord?: boolean;
  roomAdmin?: boolean;
  roomJoin?: boolean;
  room?: string;
  canPublish?: boolean;
  canSubscribe?: boolean;
  canPublishData?: boolean;
  canPublishSources?: string[];
  canUpdateOwnMetadata?: boolean;
  hidden?: boolean;
  recorder?: boolean;
  agent?: boolean;
}

export interface TokenClaims {
  apiKey: string;
  identity: string;
  name: string;
  metadata: string;
  attributes: Record<string, string>;
  video: VideoGrant;
  /** Set on webhook tokens: base64 SHA-256 of the body. */
  sha256?: string;
  expiresAt: number;
}

/**
 * Token attribute by which the app marks a hardened room's participants (value "1"): the node then
 * negotiates no audio-level extension and asks for Opus CBR without DTX. Read from the signed
 * token only, never from what a client sets later.
 */
export const HARDENED_ATTRIBUTE = 'sotto.hardened';

/** API key → secret. */
export type KeyStore = ReadonlyMap<string, string>;

const enc = new TextEncoder();

/** Verifies an HS256 LiveKit access token. Throws MediaError(401) with a precise reason. */
export async function verifyToken(token: string, keys: KeyStore, now = Date.now()): Promise<TokenClaims> {
  if (!token)
    throw new MediaError(401, 'missing_token', 'no access token: pass access_token or Authorization: Bearer');
  let unverified: ReturnType<typeof decodeJwt>;
  try {
    unverified = decodeJwt(token);
  } catch {
    throw new MediaError(401, 'malformed_token', 'access token is not a well-formed JWT');
  }
  const apiKey = typeof unverified.iss === 'string' ? unverified.iss : '';
  const secret = keys.get(apiKey);
  if (!secret) throw new MediaError(401, 'unknown_api_key', 'access token was issued by an unknown API key');
  let payload: Record<string, unknown>;
  try {
    const res = await jwtVerify(token, enc.encode(secret), {
      algorithms: ['HS256'],
      currentDate: new Date(now),
      clockTolerance: 10,
      requiredClaims: ['exp'], // a token that never expires is refused, as LiveKit does
    });
    payload = res.payload;
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired)
      throw new MediaError(401, 'token_expired', 'access token has expired');
    if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'nbf')
      throw new MediaError(401, 'token_not_yet_valid', 'access token is not valid yet (nbf)');
    if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'exp')
      throw new MediaError(401, 'token_without_expiry', 'access token has no expiry (exp)');
    if (err instanceof joseErrors.JWSSignatureVerificationFailed)
      throw new MediaError(401, 'bad_signature', 'access token signature does not verify');
    if (err instanceof joseErrors.JOSEAlgNotAllowed)
      throw new MediaError(401, 'bad_algorithm', 'access token must be signed with HS256');
    throw new MediaError(401, 'invalid_token', `access token is invalid: ${(err as Error).message}`);
  }
  const video = (
    typeof payload.video === 'object' && payload.video !== null ? payload.video : {}
  ) as VideoGrant;
  const attrs = payload.attributes;
  return {
    apiKey,
    identity: typeof payload.sub === 'string' ? payload.sub : '',
    name: typeof payload.name === 'string' ? payload.name : '',
    metadata: typeof payload.metadata === 'string' ? payload.metadata : '',
    attributes: typeof attrs === 'object' && attrs !== null ? (attrs as Record<string, string>) : {},
    video,
    sha256: typeof payload.sha256 === 'string' ? payload.sha256 : undefined,
    expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : 0,
  };
}

/** Grants needed to join a room over the signal connection. */
export function requireJoinGrant(claims: TokenClaims): { room: string; identity: string } {
  if (!claims.video.roomJoin) throw new MediaError(403, 'missing_grant', 'token lacks the roomJoin grant');
  if (!claims.video.room) throw new MediaError(403, 'missing_grant', 'token does not name a room');
  if (!claims.identity) throw new MediaError(403, 'missing_identity', 'token has no identity (sub)');
  return { room: claims.video.room, identity: claims.identity };
}

/** Mints a token (used by the CLI, the tests and the webhook signer). */
export async function signToken(
  apiKey: string,
  secret: string,
  claims: {
    identity?: string;
    name?: string;
    video?: VideoGrant;
    sha256?: string;
    metadata?: string;
    attributes?: Record<string, string>;
  },
  ttlSeconds = 6 * 3600,
): Promise<string> {
  const body: Record<string, unknown> = {};
  if (claims.video) body.video = claims.video;
  if (claims.name) body.name = claims.name;
  if (claims.metadata) body.metadata = claims.metadata;
  if (claims.attributes) body.attributes = claims.attributes;
  if (claims.sha256) body.sha256 = claims.sha256;
  const jwt = new SignJWT(body)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(apiKey)
    .setNotBefore(Math.floor(Date.now() / 1000))
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds);
  if (claims.identity) jwt.setSubject(claims.identity);
  return jwt.sign(enc.encode(secret));
}

/** Parses "key:secret,key2:secret2" (env SOTTO_KEYS) or a keys file ("key: secret" per line). */
export function parseKeys(text: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const raw of text.split(/[,\n]/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const idx = line.indexOf(':');
    if (idx <= 0) throw new Error(`bad key entry "${line.slice(0, 20)}…": expected key:secret`);
    const key = line.slice(0, idx).trim();
    const secret = line.slice(idx + 1).trim();
    if (!key || !secret) throw new Error(`bad key entry for "${key}": empty key or secret`);
    if (secret.length < 6) throw new Error(`secret for "${key}" is too short`);
    keys.set(key, secret);
  }
  if (keys.size === 0) throw new Error('no API keys given');
  return keys;
}
