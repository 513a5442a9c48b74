/**
 * A room: participants by identity, who subscribes to what, data routing, active speakers and
 * the empty-room timer. Rooms are named by whatever the token says — in Sotto the app server
 * names them with random media ids, so nothing here is personal.
 */
import {
  Codec,
  type DataPacket,
  DisconnectReason,
  ParticipantUpdate,
  Room as RoomInfo,
  RoomUpdate,
  SignalResponse,
  SpeakerInfo,
  SpeakersChanged,
  type TrackInfo,
} from '@livekit/protocol';
import type { UpTrack } from '../sfu/forwarder.ts';
import { newId } from '../util/ids.ts';
import { logger } from '../util/log.ts';
import type { Participant, PublishedTrack, RoomLink, SignalMessage } from './participant.ts';

const log = logger('room');

export interface RoomEvents {
  participantJoined(room: Room, p: Participant): void;
  participantLeft(room: Room, p: Participant): void;
  trackPublished(room: Room, p: Participant, track: TrackInfo): void;
  trackUnpublished(room: Room, p: Participant, track: TrackInfo): void;
  roomEmpty(room: Room): void;
}

export interface RoomOptions {
  emptyTimeout: number; // seconds a room with no one in it lives on
  departureTimeout: number; // seconds after the last participant leaves
  maxParticipants: number; // 0 = unlimited
  metadata: string;
  /** Test instrumentation (the E2EE canary): sees every RTP payload the room forwards. */
  payloadTap?: PayloadTap;
  /** Test instrumentation (a tampering media node, E2EE tests): may replace forwarded payloads. */
  payloadTamper?: PayloadTamper;
}

/** Receives each forwarded RTP payload (the bytes after the RTP header), by room name and track. */
export type PayloadTap = (room: string, trackSid: string, payload: Buffer) => void;

/** Returns the payloads to forward instead of `payload` ([] drops it), or undefined: unchanged. */
export type PayloadTamper = (room: string, trackSid: string, payload: Buffer) => Buffer[] | undefined;

/** Linear mean amplitude above which a track counts as speaking (≈ -46 dBov). */
const SPEAKING_LEVEL = 0.005;
const TICK_MS = 300;
const UPDATE_BATCH_MS = 50;

function encode(message: SignalMessage): Uint8Array {
  return new SignalResponse({ message }).toBinary();
}

export class Room implements RoomLink {
  readonly sid = newId('RM_');
  readonly createdAt = Date.now();
  readonly participants = new Map<string, Participant>();
  /** Every published track in the room by sid: subscriptions look them up on the join path. */
  private readonly tracks = new Map<string, PublishedTrack>();
  metadata: string;
  private speakers = new Map<string, number>(); // participant sid → level
  private tickTimer?: NodeJS.Timeout;
  private readonly dirty = new Map<string, Participant>(); // participant sid → changed since last batch
  private updateTimer?: NodeJS.Timeout;
  private emptyTimer?: NodeJS.Timeout;
  private everJoined = false;
  closed = false;

  constructor(
    readonly name: string,
    readonly options: RoomOptions,
    private readonly events: RoomEvents,
  ) {
    this.metadata = options.metadata;
    this.armEmptyTimer(options.emptyTimeout);
  }

  toInfo(): RoomInfo {
    const ps = [...this.participants.values()];
    return new RoomInfo({
      sid: this.sid,
      name: this.name,
      emptyTimeout: this.options.emptyTimeout,
      departureTimeout: this.options.departureTimeout,
      maxParticipants: this.options.maxParticipants,
      creationTime: BigInt(Math.floor(this.createdAt / 1000)),
      creationTimeMs: BigInt(this.createdAt),
      metadata: this.metadata,
      numParticipants: ps.filter((p) => !p.hidden).length,
      numPublishers: ps.filter((p) => p.published.size > 0).length,
      enabledCodecs: [new Codec({ mime: 'audio/opus' })],
    });
  }

  get isFull(): boolean {
    return this.options.maxParticipants > 0 && this.participants.size >= this.options.maxParticipants;
  }

  /** Adds a participant (after its JoinResponse went out) and tells everyone else. */
  add(p: Participant): void {
    const existing = this.participants.get(p.identity);
    if (existing) {
      existing.leave(DisconnectReason.DUPLICATE_IDENTITY);
      this.remove(existing, DisconnectReason.DUPLICATE_IDENTITY);
    }
    this.participants.set(p.identity, p);
    this.everJoined = true;
    clearTimeout(this.emptyTimer);
    this.emptyTimer = undefined;
    this.broadcastInfo(p);
    if (p.autoSubscribe) {
      for (const other of this.participants.values()) {
        if (other === p) continue;
        for (const sid of other.published.keys()) p.subscribe(sid);
      }
    }
    this.tickTimer ??= setInterval(() => this.tick(), TICK_MS);
    this.events.participantJoined(this, p);
  }

  remove(p: Participant, reason: DisconnectReason): void {
    if (this.participants.get(p.identity) !== p) return;
    this.participants.delete(p.identity);
    for (const pub of p.published.values()) this.onTrackUnpublished(p, pub.info);
    p.close(reason);
    this.broadcastInfo(p);
    this.speakers.delete(p.sid);
    this.events.participantLeft(this, p);
    if (this.participants.size === 0) {
      clearInterval(this.tickTimer);
      this.tickTimer = undefined;
      this.armEmptyTimer(this.everJoined ? this.options.departureTimeout : this.options.emptyTimeout);
    }
  }

  close(reason = DisconnectReason.ROOM_DELETED): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.participants.values()]) {
      p.leave(reason);
      this.remove(p, reason);
    }
    clearTimeout(this.emptyTimer);
    clearInterval(this.tickTimer);
    clearTimeout(this.updateTimer);
  }

  byIdentity(identity: string): Participant | undefined {
    return this.participants.get(identity);
  }

  bySid(sid: string): Participant | undefined {
    for (const p of this.participants.values()) if (p.sid === sid) return p;
    return undefined;
  }

  /** Everyone else, as a newcomer's JoinResponse lists them (hidden ones are left out). */
  othersInfo(p: Participant) {
    return [...this.participants.values()].filter((o) => o !== p && !o.hidden).map((o) => o.toInfo());
  }

  setMetadata(metadata: string): void {
    this.metadata = metadata;
    const bytes = encode({ case: 'roomUpdate', value: new RoomUpdate({ room: this.toInfo() }) });
    for (const p of this.participants.values()) p.sendEncoded(bytes);
  }

  // ---- RoomLink: what participants report ----------------------------------------------

  findUpTrack(trackSid: string): PublishedTrack | undefined {
    return this.tracks.get(trackSid);
  }

  onTrackPublished(publisher: Participant, info: TrackInfo, up: UpTrack): void {
    this.tracks.set(info.sid, { publisher, up });
    const tap = this.options.payloadTap;
    if (tap) up.tap = (payload) => tap(this.name, info.sid, payload);
    const tamper = this.options.payloadTamper;
    if (tamper) up.tamper = (payload) => tamper(this.name, info.sid, payload);
    for (const other of this.participants.values()) {
      if (other !== publisher && other.autoSubscribe) other.subscribe(info.sid);
    }
    this.events.trackPublished(this, publisher, info);
  }

  /** Everyone stops receiving the track (their slots leave its UpTrack), then it is forgotten. */
  onTrackUnpublished(publisher: Participant, info: TrackInfo): void {
    for (const other of this.participants.values()) other.unsubscribe(info.sid);
    this.tracks.delete(info.sid);
    this.events.trackUnpublished(this, publisher, info);
  }

  onInfoChanged(p: Participant): void {
    if (this.participants.get(p.identity) === p) this.broadcastInfo(p);
  }

  /**
   * Routes a data packet. The sender is stamped by the server — whatever identity the client
   * wrote is overwritten — and destinations are limited to identities in this room.
   */
  onData(from: Participant, packet: DataPacket, reliable: boolean): void {
    if (!from.permission.canPublishData) {
      log.debug('data from participant without canPublishData dropped', { pa: from.sid });
      return;
    }
    packet.participantIdentity = from.identity;
    packet.participantSid = from.sid;
    const dest = new Set(packet.destinationIdentities);
    if (packet.value.case === 'user') {
      const user = packet.value.value;
      user.participantIdentity = from.identity;
      user.participantSid = from.sid;
      for (const d of user.destinationIdentities) dest.add(d);
    }
    this.deliver(packet, reliable, dest, from);
  }

  /** Sends a data packet to `dest` identities (all when empty), except `exclude`. */
  deliver(packet: DataPacket, reliable: boolean, dest: Set<string>, exclude?: Participant): void {
    const bytes = packet.toBinary();
    for (const p of this.participants.values()) {
      if (p === exclude) continue;
      if (dest.size > 0 && !dest.has(p.identity)) continue;
      p.sendData(bytes, reliable);
    }
  }

  // ---- internals ----------------------------------------------------------------------------

  /**
   * Participant changes go out in batches: every UPDATE_BATCH_MS, one `update` carrying every
   * participant that changed, encoded once for the whole room. A join storm of N listeners then
   * costs O(N) messages per batch instead of O(N²). Hidden participants only hear about themselves.
   */
  private broadcastInfo(p: Participant): void {
    this.dirty.set(p.sid, p);
    this.updateTimer ??= setTimeout(() => this.flushUpdates(), UPDATE_BATCH_MS);
  }

  private flushUpdates(): void {
    this.updateTimer = undefined;
    const changed = [...this.dirty.values()];
    this.dirty.clear();
    const visible = changed.filter((p) => !p.hidden).map((p) => p.toInfo());
    if (visible.length > 0) {
      const bytes = encode({ case: 'update', value: new ParticipantUpdate({ participants: visible }) });
      for (const p of this.participants.values()) p.sendEncoded(bytes);
    }
    for (const p of changed) {
      if (p.hidden) p.send({ case: 'update', value: new ParticipantUpdate({ participants: [p.toInfo()] }) });
    }
  }

  /** The room's clock: active speakers, and the RTCP sender reports that are due. */
  private tick(): void {
    this.updateSpeakers();
    const now = performance.now();
    const wall = performance.timeOrigin + now;
    for (const p of this.participants.values()) p.sendSenderReports(now, wall);
  }

  /** Active speakers from RFC 6464 levels; sends only changes, loudest first. */
  private updateSpeakers(): void {
    const now = new Map<string, number>();
    for (const p of this.participants.values()) {
      let level = 0;
      for (const pub of p.published.values()) {
        if (pub.info.muted || pub.up.paused) {
          pub.up.level.take();
          continue;
        }
        level = Math.max(level, pub.up.level.take());
      }
      if (level >= SPEAKING_LEVEL) now.set(p.sid, Math.min(1, level));
    }
    const changed: SpeakerInfo[] = [];
    for (const [sid, level] of now) {
      if (!this.speakers.has(sid)) changed.push(new SpeakerInfo({ sid, level, active: true }));
    }
    for (const sid of this.speakers.keys()) {
      if (!now.has(sid)) changed.push(new SpeakerInfo({ sid, level: 0, active: false }));
    }
    this.speakers = now;
    if (changed.length === 0) return;
    changed.sort((a, b) => b.level - a.level);
    const bytes = encode({ case: 'speakersChanged', value: new SpeakersChanged({ speakers: changed }) });
    for (const p of this.participants.values()) p.sendEncoded(bytes);
  }

  private armEmptyTimer(seconds: number): void {
    clearTimeout(this.emptyTimer);
    this.emptyTimer = setTimeout(() => {
      if (this.participants.size === 0) this.events.roomEmpty(this);
    }, seconds * 1000);
    this.emptyTimer.unref();
  }
}
