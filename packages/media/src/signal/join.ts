/** Reading a join from the WebSocket URL: /rtc (query parameters) and /rtc/v1 (JoinRequest). */
import { gunzipSync } from 'node:zlib';
import {
  JoinRequest,
  type SessionDescription,
  WrappedJoinRequest,
  WrappedJoinRequest_Compression,
} from '@livekit/protocol';
import { MediaError } from '../util/errors.ts';

export interface JoinParams {
  singlePc: boolean;
  token: string;
  autoSubscribe: boolean;
  reconnect: boolean;
  participantSid: string;
  publisherOffer?: SessionDescription;
  metadata?: string;
  attributes?: Record<string, string>;
}

const MAX_JOIN_REQUEST = 64 * 1024;

export function tokenFrom(url: URL, authorization: string | undefined): string {
  const q = url.searchParams.get('access_token');
  if (q) return q;
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  return m ? m[1] : '';
}

/** The signal path without a trailing /validate, or undefined if this is not a signal URL. */
export function signalPath(pathname: string): '/rtc' | '/rtc/v1' | undefined {
  const p = pathname.replace(/\/+$/, '').replace(/\/validate$/, '');
  return p === '/rtc' || p === '/rtc/v1' ? p : undefined;
}

export function parseJoin(url: URL, authorization: string | undefined): JoinParams {
  const path = signalPath(url.pathname);
  if (!path) throw new MediaError(404, 'not_found', 'not a signal endpoint');
  const token = tokenFrom(url, authorization);
  if (path === '/rtc') {
    const flag = (k: string, dflt: boolean) => {
      const v = url.searchParams.get(k);
      return v === null ? dflt : v === '1' || v === 'true';
    };
    return {
      singlePc: false,
      token,
      autoSubscribe: flag('auto_subscribe', true),
      reconnect: flag('reconnect', false),
      participantSid: url.searchParams.get('sid') ?? '',
    };
  }
  const raw = url.searchParams.get('join_request');
  if (!raw) return { singlePc: true, token, autoSubscribe: true, reconnect: false, participantSid: '' };
  if (raw.length > (MAX_JOIN_REQUEST * 4) / 3 + 4)
    throw new MediaError(413, 'join_request_too_large', 'join_request is too large');
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(raw))
    throw new MediaError(400, 'malformed_join_request', 'join_request is not base64url');
  let req: JoinRequest;
  try {
    const wrapped = WrappedJoinRequest.fromBinary(Buffer.from(raw, 'base64url'));
    let bytes = wrapped.joinRequest;
    if (wrapped.compression === WrappedJoinRequest_Compression.GZIP) {
      bytes = gunzipSync(bytes, { maxOutputLength: MAX_JOIN_REQUEST });
    }
    req = JoinRequest.fromBinary(bytes);
  } catch (err) {
    throw new MediaError(
      400,
      'malformed_join_request',
      `join_request could not be decoded: ${(err as Error).message}`,
    );
  }
  return {
    singlePc: true,
    token,
    autoSubscribe: req.connectionSettings?.autoSubscribe ?? true,
    reconnect: req.reconnect,
    participantSid: req.participantSid,
    publisherOffer: req.publisherOffer,
    metadata: req.metadata || undefined,
    attributes: Object.keys(req.participantAttributes).length ? req.participantAttributes : undefined,
  };
}
