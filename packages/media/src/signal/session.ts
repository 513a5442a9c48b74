/**
 * One signal WebSocket: protobuf SignalRequest in, SignalResponse out. Every request is handled
 * against the participant it belongs to; unknown requests are tolerated (debug log), malformed
 * frames close the socket with 1007 and a reason, and nothing a client sends can take the node
 * down.
 */
import {
  Codec,
  DisconnectReason,
  JoinResponse,
  LeaveRequest,
  LeaveRequest_Action,
  Pong,
  ReconnectResponse,
  RequestResponse,
  RequestResponse_Reason,
  ServerInfo,
  ServerInfo_Edition,
  SignalRequest,
  SignalResponse,
} from '@livekit/protocol';
import type { WebSocket } from 'ws';
import { HARDENED_ATTRIBUTE, requireJoinGrant, type TokenClaims } from '../auth/token.ts';
import { Participant, type SignalMessage } from '../rtc/participant.ts';
import type { Room } from '../rtc/room.ts';
import { SdpError } from '../sfu/sdp.ts';
import { MediaError } from '../util/errors.ts';
import { logger } from '../util/log.ts';
import type { JoinParams } from './join.ts';

const log = logger('signal');

export const PROTOCOL_VERSION = 17;
export const SERVER_VERSION = '1.9.0-sotto.0.1.0';

export interface SignalHost {
  pingInterval: number;
  pingTimeout: number;
  nodeId: string;
  region: string;
  getOrCreateRoom(name: string): Room;
  getRoom(name: string): Room | undefined;
  transportConfig: import('../sfu/transport.ts').TransportConfig;
}

export function serverInfo(host: SignalHost): ServerInfo {
  return new ServerInfo({
    edition: ServerInfo_Edition.Standard,
    version: SERVER_VERSION,
    protocol: PROTOCOL_VERSION,
    nodeId: host.nodeId,
    region: host.region,
  });
}

/** Runs a signal session on an accepted WebSocket. */
export function runSession(ws: WebSocket, host: SignalHost, claims: TokenClaims, join: JoinParams): void {
  const { room: roomName, identity } = requireJoinGrant(claims);
  const sink = {
    send(msg: SignalMessage) {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(new SignalResponse({ message: msg }).toBinary());
    },
    sendEncoded(bytes: Uint8Array) {
      if (ws.readyState === ws.OPEN) ws.send(bytes);
    },
    close(code: number, reason: string) {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason);
    },
  };

  let participant: Participant;
  let room: Room;
  if (join.reconnect) {
    const r = host.getRoom(roomName);
    const p = join.participantSid ? r?.bySid(join.participantSid) : r?.byIdentity(identity);
    if (!r || !p || p.identity !== identity || p.isClosed) {
      // cannot resume: ask the client for a full reconnect (a fresh join)
      sink.send({
        case: 'leave',
        value: new LeaveRequest({
          canReconnect: true,
          reason: DisconnectReason.STATE_MISMATCH,
          action: LeaveRequest_Action.RECONNECT,
        }),
      });
      sink.close(1000, 'cannot resume: participant not found');
      return;
    }
    room = r;
    participant = p;
    participant.signal?.close(1000, 'resumed elsewhere');
    participant.signal = sink;
    clearTimeout(participant.resumeTimer);
    sink.send({
      case: 'reconnect',
      value: new ReconnectResponse({ iceServers: [], serverInfo: serverInfo(host) }),
    });
    log.info('participant resumed', { pa: participant.sid, rm: room.sid });
  } else {
    room = host.getOrCreateRoom(roomName);
    if (room.isFull && !room.byIdentity(identity)) {
      sink.send({
        case: 'leave',
        value: new LeaveRequest({
          canReconnect: false,
          reason: DisconnectReason.JOIN_FAILURE,
          action: LeaveRequest_Action.DISCONNECT,
        }),
      });
      sink.close(4003, 'room is full');
      return;
    }
    participant = new Participant(
      identity,
      room,
      join.singlePc,
      join.autoSubscribe,
      claims.video,
      {
        name: claims.name,
        metadata: join.metadata ?? claims.metadata,
        attributes: { ...claims.attributes, ...join.attributes },
      },
      { ...host.transportConfig, hardened: claims.attributes[HARDENED_ATTRIBUTE] === '1' },
    );
    participant.signal = sink;
    sink.send({
      case: 'join',
      value: new JoinResponse({
        room: room.toInfo(),
        participant: participant.toInfo(),
        otherParticipants: room.othersInfo(participant),
        serverVersion: SERVER_VERSION,
        serverInfo: serverInfo(host),
        iceServers: [],
        subscriberPrimary: !join.singlePc,
        // dual-PC: have the client negotiate its publisher connection (with its data channels)
        // at once; libdatachannel cannot add SCTP to an answerer connection that is already up
        fastPublish: !join.singlePc,
        pingInterval: host.pingInterval,
        pingTimeout: host.pingTimeout,
        enabledPublishCodecs: [new Codec({ mime: 'audio/opus' })],
      }),
    });
    room.add(participant);
    participant.start();
    if (join.publisherOffer) guard(participant, () => participant.handleOffer(join.publisherOffer!));
    log.info('participant joined', { pa: participant.sid, rm: room.sid, singlePc: join.singlePc });
  }

  participant.lastSeen = Date.now();
  let lastCheck = Date.now();
  const pingCheck = setInterval(() => {
    const now = Date.now();
    const stalled = now - lastCheck > 2000;
    lastCheck = now;
    // after a stall of this process the pings may be waiting, unread, in the socket: look again
    // next round rather than drop participants for our own delay
    if (stalled) return;
    if (now - participant.lastSeen > host.pingTimeout * 1000) {
      // vanished: nothing heard for the whole ping timeout — removed now, not resumable
      log.info('ping timeout', { pa: participant.sid });
      sink.close(4008, 'ping timeout');
      room.remove(participant, DisconnectReason.SIGNAL_CLOSE);
    }
  }, 1000);

  ws.on('message', (data, isBinary) => {
    participant.lastSeen = Date.now();
    let req: SignalRequest;
    try {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      req = isBinary ? SignalRequest.fromBinary(buf) : SignalRequest.fromJsonString(buf.toString('utf8'));
    } catch {
      log.info('malformed signal message', { pa: participant.sid });
      sink.close(1007, 'malformed signal message');
      return;
    }
    guard(participant, () => handle(participant, room, req));
  });

  ws.on('close', () => {
    clearInterval(pingCheck);
    if (participant.signal !== sink) return; // superseded by a resume
    participant.signal = undefined;
    if (participant.isClosed) return;
    // keep the participant (tracks, subscriptions) for a resume until the ping timeout,
    // counted from the last time we heard from it
    const left = participant.lastSeen + host.pingTimeout * 1000 - Date.now();
    participant.resumeTimer = setTimeout(
      () => {
        if (!participant.signal) room.remove(participant, DisconnectReason.SIGNAL_CLOSE);
      },
      Math.max(0, left),
    );
  });
  ws.on('error', (err) => log.debug('websocket error', { pa: participant.sid, err: String(err) }));
}

function handle(p: Participant, room: Room, req: SignalRequest): void {
  const m = req.message;
  switch (m.case) {
    case 'offer':
      p.handleOffer(m.value);
      return;
    case 'answer':
      p.handleAnswer(m.value);
      return;
    case 'trickle':
      p.handleTrickle(m.value.candidateInit, m.value.target);
      return;
    case 'addTrack':
      try {
        p.addTrack(m.value);
      } catch (err) {
        if (!(err instanceof MediaError)) throw err;
        const reason =
          err.status === 403
            ? RequestResponse_Reason.NOT_ALLOWED
            : err.code === 'unsupported_type'
              ? RequestResponse_Reason.UNSUPPORTED_TYPE
              : RequestResponse_Reason.INVALID_REQUEST;
        respond(p, reason, err.message, { case: 'addTrack', value: m.value });
      }
      return;
    case 'mute':
      if (!p.setTrackMuted(m.value.sid, m.value.muted))
        respond(p, RequestResponse_Reason.NOT_FOUND, 'no such track', { case: 'mute', value: m.value });
      return;
    case 'subscription': {
      const sids = [...m.value.trackSids, ...m.value.participantTracks.flatMap((t) => t.trackSids)];
      for (const sid of sids) m.value.subscribe ? p.subscribe(sid) : p.unsubscribe(sid);
      return;
    }
    case 'leave':
      room.remove(p, DisconnectReason.CLIENT_INITIATED);
      return;
    case 'ping':
      p.send({ case: 'pong', value: BigInt(Date.now()) });
      return;
    case 'pingReq':
      p.send({
        case: 'pongResp',
        value: new Pong({ lastPingTimestamp: m.value.timestamp, timestamp: BigInt(Date.now()) }),
      });
      return;
    case 'updateMetadata': {
      const ok = p.permission.canUpdateMetadata;
      if (ok) p.updateInfo(m.value);
      respond(
        p,
        ok ? RequestResponse_Reason.OK : RequestResponse_Reason.NOT_ALLOWED,
        ok ? '' : 'token lacks canUpdateOwnMetadata',
        { case: 'updateMetadata', value: m.value },
        m.value.requestId,
      );
      return;
    }
    default:
      log.debug('signal request not handled', { pa: p.sid, case: m.case ?? 'empty' });
  }
}

/** Answers a request with a RequestResponse (the outcome livekit-client waits for). */
function respond(
  p: Participant,
  reason: RequestResponse_Reason,
  message: string,
  request: RequestResponse['request'],
  requestId = 0,
): void {
  p.send({ case: 'requestResponse', value: new RequestResponse({ requestId, reason, message, request }) });
}

/** Runs a handler; a typed error from bad input is reported and the session goes on. */
function guard(p: Participant, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof MediaError || err instanceof SdpError) {
      log.info('bad signal request', { pa: p.sid, err: err.message });
      return;
    }
    log.warn('signal handler failed', { pa: p.sid, err: String(err) });
  }
}
