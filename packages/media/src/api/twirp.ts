/**
 * LiveKit's RoomService over Twirp (POST /twirp/livekit.RoomService/<Method>), JSON or protobuf
 * bodies, errors in Twirp's format. Authorized by the video grant of a Bearer token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Message } from '@bufbuild/protobuf';
import {
  CreateRoomRequest,
  DataPacket,
  DataPacket_Kind,
  DeleteRoomRequest,
  DeleteRoomResponse,
  DisconnectReason,
  ListParticipantsRequest,
  ListParticipantsResponse,
  ListRoomsRequest,
  ListRoomsResponse,
  MuteRoomTrackRequest,
  MuteRoomTrackResponse,
  ParticipantPermission,
  RemoveParticipantResponse,
  RoomParticipantIdentity,
  SendDataRequest,
  SendDataResponse,
  UpdateParticipantRequest,
  UpdateRoomMetadataRequest,
  UserPacket,
} from '@livekit/protocol';
import { type KeyStore, type TokenClaims, verifyToken } from '../auth/token.ts';
import type { Participant } from '../rtc/participant.ts';
import type { Room, RoomOptions } from '../rtc/room.ts';
import { MediaError } from '../util/errors.ts';
import { logger } from '../util/log.ts';

const log = logger('twirp');
const PREFIX = '/twirp/livekit.RoomService/';
const MAX_BODY = 1024 * 1024;

export interface RoomDirectory {
  rooms(): Iterable<Room>;
  getRoom(name: string): Room | undefined;
  createRoom(name: string, opts: Partial<RoomOptions>): Room;
  deleteRoom(name: string): boolean;
}

type TwirpCode =
  | 'invalid_argument'
  | 'malformed'
  | 'not_found'
  | 'unauthenticated'
  | 'permission_denied'
  | 'bad_route'
  | 'internal'
  | 'resource_exhausted';
const STATUS: Record<TwirpCode, number> = {
  invalid_argument: 400,
  malformed: 400,
  not_found: 404,
  unauthenticated: 401,
  permission_denied: 403,
  bad_route: 404,
  internal: 500,
  resource_exhausted: 429,
};

export class TwirpError extends Error {
  constructor(
    readonly code: TwirpCode,
    message: string,
  ) {
    super(message);
  }
}

interface MessageType<T extends Message<T>> {
  new (data?: object): T;
  fromBinary(b: Uint8Array): T;
  fromJsonString(s: string, opts?: { ignoreUnknownFields?: boolean }): T;
}

type Grant = 'roomCreate' | 'roomList' | 'roomAdmin';

interface Method<Req extends Message<Req>> {
  req: MessageType<Req>;
  grant: Grant;
  run(dir: RoomDirectory, req: Req, claims: TokenClaims): AnyMessage;
}

interface AnyMessage {
  toBinary(): Uint8Array;
  toJsonString(opts?: { emitDefaultValues?: boolean }): string;
}

/** A method with its request type erased, so all methods fit one table. */
interface Route {
  grant: Grant;
  decode(body: Buffer, json: boolean): unknown;
  run(dir: RoomDirectory, req: unknown, claims: TokenClaims): AnyMessage;
}

function method<Req extends Message<Req>>(m: Method<Req>): Route {
  return {
    grant: m.grant,
    decode: (body, json) =>
      json
        ? m.req.fromJsonString(body.length ? body.toString('utf8') : '{}', { ignoreUnknownFields: true })
        : m.req.fromBinary(body),
    run: (dir, req, claims) => m.run(dir, req as Req, claims),
  };
}

function adminRoom(dir: RoomDirectory, room: string, claims: TokenClaims): Room {
  if (!room) throw new TwirpError('invalid_argument', 'room is required');
  if (claims.video.room && claims.video.room !== room)
    throw new TwirpError('permission_denied', 'token grants roomAdmin for a different room');
  const r = dir.getRoom(room);
  if (!r) throw new TwirpError('not_found', 'room not found');
  return r;
}

function participantIn(r: Room, identity: string): Participant {
  if (!identity) throw new TwirpError('invalid_argument', 'identity is required');
  const p = r.byIdentity(identity);
  if (!p) throw new TwirpError('not_found', 'participant not found');
  return p;
}

const METHODS: Record<string, Route> = {
  CreateRoom: method({
    req: CreateRoomRequest,
    grant: 'roomCreate',
    run: (dir, req) => {
      if (!req.name) throw new TwirpError('invalid_argument', 'name is required');
      if (req.name.length > 256) throw new TwirpError('invalid_argument', 'name is too long');
      const existing = dir.getRoom(req.name);
      const r =
        existing ??
        dir.createRoom(req.name, {
          emptyTimeout: req.emptyTimeout || undefined,
          departureTimeout: req.departureTimeout || undefined,
          maxParticipants: req.maxParticipants,
          metadata: req.metadata,
        });
      return r.toInfo();
    },
  }),
  ListRooms: method({
    req: ListRoomsRequest,
    grant: 'roomList',
    run: (dir, req) => {
      const want = new Set(req.names);
      const rooms = [...dir.rooms()]
        .filter((r) => want.size === 0 || want.has(r.name))
        .map((r) => r.toInfo());
      return new ListRoomsResponse({ rooms });
    },
  }),
  DeleteRoom: method({
    req: DeleteRoomRequest,
    grant: 'roomCreate',
    run: (dir, req) => {
      if (!req.room) throw new TwirpError('invalid_argument', 'room is required');
      if (!dir.deleteRoom(req.room)) throw new TwirpError('not_found', 'room not found');
      return new DeleteRoomResponse();
    },
  }),
  ListParticipants: method({
    req: ListParticipantsRequest,
    grant: 'roomAdmin',
    run: (dir, req, claims) => {
      const r = adminRoom(dir, req.room, claims);
      return new ListParticipantsResponse({
        participants: [...r.participants.values()].map((p) => p.toInfo()),
      });
    },
  }),
  GetParticipant: method({
    req: RoomParticipantIdentity,
    grant: 'roomAdmin',
    run: (dir, req, claims) => participantIn(adminRoom(dir, req.room, claims), req.identity).toInfo(),
  }),
  RemoveParticipant: method({
    req: RoomParticipantIdentity,
    grant: 'roomAdmin',
    run: (dir, req, claims) => {
      const r = adminRoom(dir, req.room, claims);
      const p = participantIn(r, req.identity);
      p.leave(DisconnectReason.PARTICIPANT_REMOVED);
      r.remove(p, DisconnectReason.PARTICIPANT_REMOVED);
      return new RemoveParticipantResponse();
    },
  }),
  MutePublishedTrack: method({
    req: MuteRoomTrackRequest,
    grant: 'roomAdmin',
    run: (dir, req, claims) => {
      const p = participantIn(adminRoom(dir, req.room, claims), req.identity);
      const pub = p.published.get(req.trackSid);
      if (!pub) throw new TwirpError('not_found', 'track not found');
      p.serverMute(req.trackSid, req.muted);
      return new MuteRoomTrackResponse({ track: pub.info });
    },
  }),
  UpdateParticipant: method({
    req: UpdateParticipantRequest,
    grant: 'roomAdmin',
    run: (dir, req, claims) => {
      const p = participantIn(adminRoom(dir, req.room, claims), req.identity);
      p.updateInfo(req);
      if (req.permission) p.updatePermission(new ParticipantPermission(req.permission));
      return p.toInfo();
    },
  }),
  SendData: method({
    req: SendDataRequest,
    grant: 'roomAdmin',
    run: (dir, req, claims) => {
      const r = adminRoom(dir, req.room, claims);
      if (req.data.length > 60 * 1024) throw new TwirpError('invalid_argument', 'data is larger than 60 KiB');
      const reliable = req.kind !== DataPacket_Kind.LOSSY;
      const packet = new DataPacket({
        kind: req.kind,
        destinationIdentities: req.destinationIdentities,
        value: {
          case: 'user',
          value: new UserPacket({
            payload: req.data,
            topic: req.topic,
            destinationIdentities: req.destinationIdentities,
          }),
        },
      });
      const dest = new Set(req.destinationIdentities);
      for (const sid of req.destinationSids) {
        const p = r.bySid(sid);
        if (p) dest.add(p.identity);
      }
      r.deliver(packet, reliable, dest);
      return new SendDataResponse();
    },
  }),
  UpdateRoomMetadata: method({
    req: UpdateRoomMetadataRequest,
    grant: 'roomAdmin',
    run: (dir, req, claims) => {
      const r = adminRoom(dir, req.room, claims);
      r.setMetadata(req.metadata);
      return r.toInfo();
    },
  }),
};

export function isTwirp(pathname: string): boolean {
  return pathname.startsWith('/twirp/');
}

export async function handleTwirp(
  req: IncomingMessage,
  res: ServerResponse,
  dir: RoomDirectory,
  keys: KeyStore,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  try {
    if (req.method !== 'POST') throw new TwirpError('bad_route', 'twirp methods are POST');
    if (!url.pathname.startsWith(PREFIX))
      throw new TwirpError('bad_route', `no such service: ${url.pathname}`);
    const name = url.pathname.slice(PREFIX.length);
    const m = Object.hasOwn(METHODS, name) ? METHODS[name] : undefined;
    if (!m) throw new TwirpError('bad_route', `no such method: ${name}`);
    const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    let claims: TokenClaims;
    try {
      claims = await verifyToken(auth, keys);
    } catch (err) {
      throw new TwirpError('unauthenticated', (err as Error).message);
    }
    if (!claims.video[m.grant]) throw new TwirpError('permission_denied', `token lacks the ${m.grant} grant`);
    const ctype = (req.headers['content-type'] ?? '').split(';')[0].trim();
    const body = await readBody(req);
    if (ctype !== 'application/protobuf' && ctype !== 'application/json')
      throw new TwirpError('bad_route', `unsupported content-type "${ctype}"`);
    let input: unknown;
    try {
      input = m.decode(body, ctype === 'application/json');
    } catch (err) {
      if (err instanceof TwirpError) throw err;
      throw new TwirpError('malformed', `request body could not be decoded: ${(err as Error).message}`);
    }
    const out = m.run(dir, input, claims);
    if (ctype === 'application/protobuf') {
      res.writeHead(200, { 'content-type': 'application/protobuf' });
      res.end(Buffer.from(out.toBinary()));
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(out.toJsonString({ emitDefaultValues: false }));
    }
  } catch (err) {
    const e =
      err instanceof TwirpError
        ? err
        : err instanceof MediaError
          ? new TwirpError('invalid_argument', err.message)
          : new TwirpError('internal', 'internal error');
    if (!(err instanceof TwirpError) && !(err instanceof MediaError))
      log.warn('twirp handler failed', { err: String(err) });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (!req.complete) headers.connection = 'close'; // body left unread (too large)
    res.writeHead(STATUS[e.code], headers);
    res.end(JSON.stringify({ code: e.code, msg: e.message }), () => {
      if (!req.complete) req.socket.destroy();
    });
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        // stop reading; the error reply goes out with `connection: close`
        req.removeAllListeners('data');
        req.pause();
        reject(new TwirpError('malformed', 'request body is larger than 1 MiB'));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
