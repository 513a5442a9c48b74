/**
 * A participant: its signal connection, its peer connection(s), the tracks it publishes and
 * the tracks it receives. Single-PC (/rtc/v1): the client offers on one connection carrying
 * its microphone and pre-offered receive slots; we answer and fit remote audio into the slots.
 * Dual-PC (/rtc): the client offers on its publisher connection; we offer on a subscriber one.
 */
import {
  type AddTrackRequest,
  DataPacket,
  DisconnectReason,
  LeaveRequest,
  LeaveRequest_Action,
  MediaSectionsRequirement,
  MuteTrackRequest,
  ParticipantInfo,
  ParticipantInfo_Kind,
  ParticipantInfo_State,
  ParticipantPermission,
  SessionDescription,
  type SignalResponse,
  SignalTarget,
  TrackInfo,
  TrackPublishedResponse,
  TrackSource,
  TrackSubscribed,
  TrackType,
  TrackUnpublishedResponse,
  TrickleRequest,
} from '@livekit/protocol';
import type { VideoGrant } from '../auth/token.ts';
import { DownTrack, UpTrack } from '../sfu/forwarder.ts';
import {
  AUDIO_LEVEL_URI,
  direction,
  extmapId,
  hasNack,
  isRejected,
  msidTrack,
  OPUS_PT,
  opusPayloadType,
  parseSdp,
  type SectionPlan,
} from '../sfu/sdp.ts';
import {
  type CandidateInit,
  createTransport,
  type MediaTrack,
  type Transport,
  type TransportConfig,
} from '../sfu/transport.ts';
import { MediaError } from '../util/errors.ts';
import { newId, newSsrc } from '../util/ids.ts';
import { logger } from '../util/log.ts';

const log = logger('participant');
/** Dual-PC: the first subscriber offer goes out at the latest this long after the join (see start). */
const SUBSCRIBER_OFFER_FALLBACK_MS = 1_000;

export type SignalMessage = NonNullable<SignalResponse['message']>;

export interface SignalSink {
  send(msg: SignalMessage): void;
  /** An already-encoded SignalResponse (one encoding shared by many recipients). */
  sendEncoded(bytes: Uint8Array): void;
  close(code: number, reason: string): void;
}

/** What the room offers a participant (so the participant never reaches into the room). */
export interface RoomLink {
  onTrackPublished(p: Participant, info: TrackInfo, up: UpTrack): void;
  onTrackUnpublished(p: Participant, info: TrackInfo): void;
  onInfoChanged(p: Participant): void;
  onData(p: Participant, packet: DataPacket, reliable: boolean): void;
  findUpTrack(trackSid: string): PublishedTrack | undefined;
}

/** A track as the room indexes it: who publishes it and where its packets come in. */
export interface PublishedTrack {
  publisher: Participant;
  up: UpTrack;
}

interface Published {
  info: TrackInfo;
  up: UpTrack;
  mid?: string;
  track?: MediaTrack; // keep the native track referenced
}

/** A downstream media section (a "slot") and what it carries. */
interface Slot {
  mid: string;
  payloadType: number;
  /** The receiver negotiated NACK: retransmit from our buffer. */
  nack: boolean;
  assigned?: { trackSid: string; publisherSid: string; ssrc: number };
  /** The answer/offer that made `assigned` visible to the client has been sent. */
  announced: boolean;
  down?: DownTrack;
}

export class Participant {
  readonly sid = newId('PA_');
  readonly joinedAt = Date.now();
  state = ParticipantInfo_State.JOINING;
  version = 1;
  name: string;
  metadata: string;
  attributes: Record<string, string>;
  permission: ParticipantPermission;
  readonly published = new Map<string, Published>();
  /** trackSid → slot mid ('' while waiting for a slot). */
  readonly subscriptions = new Map<string, string>();
  signal?: SignalSink;
  lastSeen = Date.now();
  resumeTimer?: NodeJS.Timeout;
  disconnectReason = DisconnectReason.UNKNOWN_REASON;

  private readonly pub: Transport;
  private sub?: Transport;
  private readonly slots = new Map<string, Slot>();
  private readonly pendingAdds = new Map<string, TrackInfo>();
  private subOfferId = 0;
  private subAwaitingAnswer = false;
  /** Dual-PC: the first subscriber offer has gone out (see startSubscriber). */
  private subStarted = false;
  private subStartTimer: ReturnType<typeof setTimeout> | undefined;
  private negotiationQueued = false;
  /** An announced slot was freed since the last negotiation. */
  private slotsReleased = false;
  private closed = false;
  /** No audio-level extension is negotiated (see TransportConfig.hardened). */
  private readonly hardened: boolean;

  constructor(
    readonly identity: string,
    readonly room: RoomLink,
    readonly singlePc: boolean,
    readonly autoSubscribe: boolean,
    grant: VideoGrant,
    init: { name: string; metadata: string; attributes: Record<string, string> },
    transportCfg: TransportConfig,
  ) {
    this.name = init.name;
    this.metadata = init.metadata;
    this.attributes = { ...init.attributes };
    this.permission = new ParticipantPermission({
      canPublish: grant.canPublish ?? true,
      canSubscribe: grant.canSubscribe ?? true,
      canPublishData: grant.canPublishData ?? true,
      canPublishSources: (grant.canPublishSources ?? []).map(sourceFromString),
      hidden: grant.hidden ?? false,
      canUpdateMetadata: grant.canUpdateOwnMetadata ?? false,
    });
    this.hardened = transportCfg.hardened === true;
    this.pub = this.wireTransport(createTransport(this.sid, transportCfg), SignalTarget.PUBLISHER);
    if (!singlePc) {
      this.sub = this.wireTransport(
        createTransport(`${this.sid}-sub`, transportCfg),
        SignalTarget.SUBSCRIBER,
      );
      this.sub.createChannel('_reliable', true);
      this.sub.createChannel('_lossy', false);
    }
  }

  get hidden(): boolean {
    return this.permission.hidden;
  }

  toInfo(): ParticipantInfo {
    return new ParticipantInfo({
      sid: this.sid,
      identity: this.identity,
      name: this.name,
      state: this.state,
      tracks: [...this.published.values()].map((p) => p.info),
      metadata: this.metadata,
      attributes: this.attributes,
      joinedAt: BigInt(Math.floor(this.joinedAt / 1000)),
      joinedAtMs: BigInt(this.joinedAt),
      version: this.version,
      permission: this.permission,
      isPublisher: this.published.size > 0,
      kind: ParticipantInfo_Kind.STANDARD,
      disconnectReason: this.disconnectReason,
    });
  }

  /** Marks a change visible to others; ParticipantInfo.version must increase (see FACTS). */
  touch(): void {
    this.version++;
    this.room.onInfoChanged(this);
  }

  send(msg: SignalMessage): void {
    this.signal?.send(msg);
  }

  sendEncoded(bytes: Uint8Array): void {
    this.signal?.sendEncoded(bytes);
  }

  // ---- signal requests -------------------------------------------------------------------

  addTrack(req: AddTrackRequest): void {
    if (!this.permission.canPublish) {
      throw new MediaError(403, 'not_allowed', 'this participant may not publish');
    }
    if (req.type !== TrackType.AUDIO) {
      throw new MediaError(400, 'unsupported_type', 'Sotto forwards audio only');
    }
    const source = req.source || TrackSource.MICROPHONE;
    const allowed = this.permission.canPublishSources;
    if (allowed.length > 0 && !allowed.includes(source)) {
      throw new MediaError(403, 'not_allowed', `publishing source ${TrackSource[source]} is not allowed`);
    }
    if (!req.cid) throw new MediaError(400, 'invalid_request', 'addTrack needs a cid');
    const info = new TrackInfo({
      sid: newId('TR_'),
      type: TrackType.AUDIO,
      name: req.name,
      muted: req.muted,
      source,
      mimeType: 'audio/opus',
      disableDtx: req.disableDtx,
      stereo: req.stereo,
      disableRed: true,
      encryption: req.encryption,
      stream: req.stream,
      audioFeatures: req.audioFeatures,
    });
    this.pendingAdds.set(req.cid, info);
    this.send({ case: 'trackPublished', value: new TrackPublishedResponse({ cid: req.cid, track: info }) });
  }

  /** The client's offer on the publisher connection (both modes). */
  handleOffer(sd: SessionDescription): void {
    const parsed = parseSdp(sd.sdp);
    const publishMids = new Set<string>();
    for (const m of parsed.media) {
      if (m.kind !== 'audio' || isRejected(m)) continue;
      const dir = direction(m);
      if (dir === 'sendonly' || dir === 'sendrecv') {
        publishMids.add(m.mid);
        this.bindPublishedSection(
          m.mid,
          msidTrack(m),
          this.hardened ? undefined : extmapId(m, AUDIO_LEVEL_URI),
        );
      } else if (dir === 'recvonly' && this.singlePc) {
        if (!this.slots.has(m.mid)) {
          const pt = opusPayloadType(m) ?? OPUS_PT;
          this.slots.set(m.mid, { mid: m.mid, payloadType: pt, nack: hasNack(m, pt), announced: false });
        }
      }
    }
    const missing = this.singlePc ? this.assignSlots() : 0;
    const answer = this.pub.answer(sd.sdp, (mid) => this.planFor(mid, publishMids));
    for (const s of this.slots.values()) s.announced = s.assigned !== undefined;
    this.send({
      case: 'answer',
      value: new SessionDescription({
        type: 'answer',
        sdp: answer,
        id: sd.id,
        midToTrackId: this.midToTrackId(),
      }),
    });
    this.activateSlots(this.pub);
    if (!this.singlePc) this.startSubscriber(); // the client's peer connections exist now
    if (missing > 0)
      this.send({
        case: 'mediaSectionsRequirement',
        value: new MediaSectionsRequirement({ numAudios: missing }),
      });
  }

  /** The client's answer to our subscriber offer (dual-PC). */
  handleAnswer(sd: SessionDescription): void {
    if (!this.sub) throw new MediaError(400, 'invalid_request', 'no subscriber connection in single-PC mode');
    this.sub.applyAnswer(sd.sdp);
    this.subAwaitingAnswer = false;
    this.activateSlots(this.sub);
    if (this.negotiationQueued) setImmediate(() => this.runNegotiation());
  }

  handleTrickle(candidateInit: string, target: SignalTarget): void {
    let c: unknown;
    try {
      c = JSON.parse(candidateInit);
    } catch {
      throw new MediaError(400, 'invalid_request', 'trickle candidate is not JSON');
    }
    if (typeof c !== 'object' || c === null || typeof (c as CandidateInit).candidate !== 'string')
      throw new MediaError(400, 'invalid_request', 'trickle candidate is not an RTCIceCandidateInit');
    const t = target === SignalTarget.SUBSCRIBER && this.sub ? this.sub : this.pub;
    t.addCandidate(c as CandidateInit);
  }

  setTrackMuted(trackSid: string, muted: boolean): boolean {
    const p = this.published.get(trackSid);
    if (!p) return false;
    if (!muted) p.up.paused = !this.permission.canPublish; // a participant may unmute itself
    if (p.info.muted === muted) return true;
    p.info.muted = muted;
    this.touch();
    return true;
  }

  /** MutePublishedTrack: forwarding stops at once and the client is told to mute. */
  serverMute(trackSid: string, muted: boolean): void {
    const p = this.published.get(trackSid);
    if (!p) return;
    p.up.paused = muted || !this.permission.canPublish;
    p.info.muted = muted;
    this.send({ case: 'mute', value: new MuteTrackRequest({ sid: trackSid, muted }) });
    this.touch();
  }

  // ---- subscriptions -----------------------------------------------------------------------

  subscribe(trackSid: string): void {
    if (this.subscriptions.has(trackSid) || !this.permission.canSubscribe) return;
    this.subscriptions.set(trackSid, '');
    this.negotiate();
  }

  unsubscribe(trackSid: string): void {
    const mid = this.subscriptions.get(trackSid);
    if (mid === undefined) return;
    this.subscriptions.delete(trackSid);
    const slot = mid ? this.slots.get(mid) : undefined;
    if (slot) this.releaseSlot(slot);
    this.negotiate();
  }

  /**
   * Asks for (single-PC) or performs (dual-PC) a renegotiation so that the client learns which
   * tracks sit in which sections. Batched: many subscriptions in one tick → one negotiation.
   */
  negotiate(): void {
    if (this.closed || this.negotiationQueued) return;
    this.negotiationQueued = true;
    setImmediate(() => this.runNegotiation());
  }

  private runNegotiation(): void {
    if (this.closed || !this.negotiationQueued) return;
    // dual-PC: one offer at a time; handleAnswer runs this again (and the first offer comes first)
    if (!this.singlePc && (this.subAwaitingAnswer || !this.subStarted)) return;
    this.negotiationQueued = false;
    const missing = this.assignSlots();
    const unannounced = [...this.slots.values()].some((s) => s.assigned && !s.announced);
    // nothing the client does not know yet (an earlier answer carried it): no renegotiation
    if (missing === 0 && !unannounced && !this.slotsReleased) return;
    this.slotsReleased = false;
    if (this.singlePc) {
      // the client is always the offerer on /rtc/v1: ask it for a new offer
      this.send({
        case: 'mediaSectionsRequirement',
        value: new MediaSectionsRequirement({ numAudios: missing }),
      });
    } else {
      this.offerSubscriberSafely(missing);
    }
  }

  /** offerSubscriber from a timer or setImmediate: a refusal (a closing connection) is logged, not thrown. */
  private offerSubscriberSafely(newSections: number): void {
    try {
      this.offerSubscriber(newSections);
    } catch (err) {
      log.warn('subscriber offer not made', { pa: this.sid, err: String(err) });
    }
  }

  /** Dual-PC: adds `newSections` send sections for waiting subscriptions, then offers. */
  private offerSubscriber(newSections: number): void {
    const sub = this.sub!;
    for (let i = 0; i < newSections; i++) {
      const mid = `a${this.slots.size}`;
      sub.addSendSection(mid, OPUS_PT);
      this.slots.set(mid, { mid, payloadType: OPUS_PT, nack: true, announced: false });
    }
    if (newSections > 0) this.assignSlots();
    const offer = sub.offer((mid) => this.planFor(mid, new Set()));
    for (const s of this.slots.values()) s.announced = s.assigned !== undefined;
    this.subAwaitingAnswer = true;
    this.send({
      case: 'offer',
      value: new SessionDescription({
        type: 'offer',
        sdp: offer,
        id: ++this.subOfferId,
        midToTrackId: this.midToTrackId(),
      }),
    });
  }

  /** Fits waiting subscriptions into free slots; returns how many still need one. */
  private assignSlots(): number {
    let missing = 0;
    for (const [trackSid, mid] of this.subscriptions) {
      if (mid) continue;
      const found = this.room.findUpTrack(trackSid);
      if (!found) continue;
      const slot = [...this.slots.values()].find((s) => !s.assigned && !s.down);
      if (!slot) {
        missing++;
        continue;
      }
      slot.assigned = { trackSid, publisherSid: found.publisher.sid, ssrc: newSsrc() };
      slot.announced = false;
      this.subscriptions.set(trackSid, slot.mid);
    }
    return missing;
  }

  private releaseSlot(slot: Slot): void {
    if (slot.announced) this.slotsReleased = true; // the client must learn the section is idle
    if (slot.down && slot.assigned) this.room.findUpTrack(slot.assigned.trackSid)?.up.remove(slot.down);
    slot.down = undefined;
    slot.assigned = undefined;
    slot.announced = false;
  }

  /** Starts forwarding into every announced slot whose native track is open. */
  private activateSlots(t: Transport): void {
    for (const slot of this.slots.values()) {
      if (!slot.assigned || !slot.announced || slot.down) continue;
      const track = t.tracks.get(slot.mid);
      if (!track) continue; // arrives with onTrack; retried there
      const start = () => {
        if (!slot.assigned || slot.down || this.closed) return;
        const found = this.room.findUpTrack(slot.assigned.trackSid);
        if (!found) return;
        slot.down = new DownTrack(slot.assigned.ssrc, slot.payloadType, track);
        if (slot.nack) t.retransmitOnNack(track, slot.down);
        found.up.add(slot.down);
        found.publisher.send({
          case: 'trackSubscribed',
          value: new TrackSubscribed({ trackSid: slot.assigned.trackSid }),
        });
      };
      if (track.isOpen()) start();
      else track.onOpen(start);
    }
  }

  private planFor(mid: string, publishMids: Set<string>): SectionPlan {
    if (publishMids.has(mid)) return { role: 'receive' };
    const slot = this.slots.get(mid);
    if (slot?.assigned) {
      const { publisherSid, trackSid, ssrc } = slot.assigned;
      return { role: 'send', ssrc, streamId: `${publisherSid}|${trackSid}`, trackId: trackSid };
    }
    return { role: 'idle' };
  }

  private midToTrackId(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const s of this.slots.values()) if (s.assigned) out[s.mid] = s.assigned.trackSid;
    return out;
  }

  // ---- publishing --------------------------------------------------------------------------

  private bindPublishedSection(mid: string, cid: string | undefined, levelExt: number | undefined): void {
    for (const p of this.published.values()) {
      if (p.mid === mid) {
        p.up.audioLevelExtId = levelExt;
        return; // renegotiation of a section we already know
      }
    }
    const info = cid ? this.pendingAdds.get(cid) : undefined;
    if (!info || !cid) {
      log.debug('publish section without addTrack', { pa: this.sid, mid });
      return;
    }
    this.pendingAdds.delete(cid);
    info.mid = mid;
    const p: Published = { info, up: new UpTrack(info.sid, levelExt), mid };
    this.published.set(info.sid, p);
    const track = this.pub.tracks.get(mid);
    if (track) this.attachUpstream(p, track);
  }

  private attachUpstream(p: Published, track: MediaTrack): void {
    p.track = track;
    this.pub.receiveWithRtcp(track);
    track.onMessage((msg) => p.up.receive(msg));
    if (!this.permission.canPublish) p.up.paused = true;
    this.touch();
    this.room.onTrackPublished(this, p.info, p.up);
  }

  /** RTCP sender reports for the tracks we forward to this participant that are due one. */
  sendSenderReports(now: number, wallMs: number): void {
    for (const slot of this.slots.values()) slot.down?.reportIfDue(now, wallMs);
  }

  unpublish(trackSid: string): void {
    const p = this.published.get(trackSid);
    if (!p) return;
    this.published.delete(trackSid);
    p.up.paused = true;
    this.room.onTrackUnpublished(this, p.info);
    this.send({ case: 'trackUnpublished', value: new TrackUnpublishedResponse({ trackSid }) });
    this.touch();
  }

  /** Name, metadata and attributes (an empty attribute value deletes it); others are told. */
  updateInfo(change: { name?: string; metadata?: string; attributes?: Record<string, string> }): void {
    if (change.name) this.name = change.name;
    if (change.metadata) this.metadata = change.metadata;
    for (const [k, v] of Object.entries(change.attributes ?? {})) {
      if (v === '') delete this.attributes[k];
      else this.attributes[k] = v;
    }
    this.touch();
  }

  /** Permission changes apply at once: revoking canPublish stops forwarding and unpublishes. */
  updatePermission(perm: ParticipantPermission): void {
    this.permission = perm;
    if (!perm.canPublish) for (const sid of [...this.published.keys()]) this.unpublish(sid);
    if (!perm.canSubscribe) for (const sid of [...this.subscriptions.keys()]) this.unsubscribe(sid);
    this.touch();
  }

  // ---- data ---------------------------------------------------------------------------------

  /** Sends an already-encoded DataPacket to this participant. */
  sendData(bytes: Uint8Array, reliable: boolean): void {
    const t = this.sub ?? this.pub;
    const dc = t.channels.get(reliable ? '_reliable' : '_lossy');
    if (!dc?.isOpen()) return;
    try {
      dc.sendMessageBinary(bytes);
    } catch (err) {
      log.debug('data send failed', { pa: this.sid, err: String(err) });
    }
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  leave(reason: DisconnectReason, action = LeaveRequest_Action.DISCONNECT): void {
    this.send({
      case: 'leave',
      value: new LeaveRequest({ canReconnect: false, reason, action }),
    });
  }

  close(reason: DisconnectReason): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.resumeTimer);
    clearTimeout(this.subStartTimer);
    this.disconnectReason = reason;
    this.state = ParticipantInfo_State.DISCONNECTED;
    this.version++;
    for (const slot of this.slots.values()) this.releaseSlot(slot);
    for (const p of this.published.values()) p.up.paused = true;
    this.pub.close();
    this.sub?.close();
    this.signal?.close(1000, 'participant closed');
    this.signal = undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private wireTransport(t: Transport, target: SignalTarget): Transport {
    t.onCandidate = (c) =>
      this.send({
        case: 'trickle',
        value: new TrickleRequest({ candidateInit: JSON.stringify(c), target }),
      });
    t.onTrack = (mid, track) => {
      if (target === SignalTarget.PUBLISHER) {
        for (const p of this.published.values()) {
          if (p.mid === mid && !p.track) this.attachUpstream(p, track);
        }
      }
      this.activateSlots(t);
    };
    t.onChannel = (label, dc) => {
      if (label !== '_reliable' && label !== '_lossy') return;
      dc.onMessage((msg) => {
        if (typeof msg === 'string') return;
        const bytes = msg instanceof ArrayBuffer ? new Uint8Array(msg) : msg;
        let packet: DataPacket;
        try {
          packet = DataPacket.fromBinary(bytes);
        } catch {
          log.debug('undecodable data packet dropped', { pa: this.sid, size: bytes.length });
          return;
        }
        this.room.onData(this, packet, label === '_reliable');
      });
    };
    t.onState = (state) => {
      log.debug('transport state', { pa: this.sid, target: SignalTarget[target], state });
      if (state === 'connected' && this.state !== ParticipantInfo_State.ACTIVE) {
        this.state = ParticipantInfo_State.ACTIVE;
        this.touch();
      }
    };
    return t;
  }

  /**
   * Dual-PC: the subscriber connection is primary, and we are its offerer. livekit-client drops a
   * server offer that arrives before it has created its peer connections — which it does only
   * after processing the JoinResponse, while its signal reader may already hand it the next
   * message (seen in CI: "could not establish pc connection"). So the first offer waits for the
   * client's own publisher offer (it sends one at once: JoinResponse.fastPublish), or at most
   * SUBSCRIBER_OFFER_FALLBACK_MS for a client that does not.
   */
  start(): void {
    if (this.singlePc) return;
    this.subStartTimer = setTimeout(() => this.startSubscriber(), SUBSCRIBER_OFFER_FALLBACK_MS);
    this.subStartTimer.unref?.();
  }

  private startSubscriber(): void {
    if (this.subStarted || this.closed) return;
    this.subStarted = true;
    clearTimeout(this.subStartTimer);
    this.offerSubscriberSafely(0);
    // subscriptions that waited for it go out once the client answers (handleAnswer → negotiate)
  }
}

export function sourceFromString(s: string): TrackSource {
  switch (s.toLowerCase()) {
    case 'microphone':
      return TrackSource.MICROPHONE;
    case 'camera':
      return TrackSource.CAMERA;
    case 'screen_share':
      return TrackSource.SCREEN_SHARE;
    case 'screen_share_audio':
      return TrackSource.SCREEN_SHARE_AUDIO;
    default:
      return TrackSource.UNKNOWN;
  }
}
