/**
 * A headless LiveKit participant for tests and benchmarks. It joins like livekit-client in
 * single-peer-connection mode (protocol 17): one peer connection on which the bot is always the
 * offerer, its first offer inside the JoinRequest, receive-only slots pre-offered and more added
 * when the server sends `mediaSectionsRequirement`. The peer connection is node-datachannel, or
 * with `transport: 'native'` the node's own native transport in client mode (see native-link.ts).
 */
import { randomBytes, randomInt } from 'node:crypto';
import {
  AddTrackRequest,
  DataPacket,
  DataPacket_Kind,
  DisconnectReason,
  type JoinResponse,
  LeaveRequest,
  LeaveRequest_Action,
  type ParticipantInfo,
  ParticipantInfo_State,
  SessionDescription,
  SignalTarget,
  type SpeakerInfo,
  TrackSource,
  TrackType,
  TrickleRequest,
  UserPacket,
} from '@livekit/protocol';
import type { DataChannelLike, MediaTrack } from '../../src/sfu/transport.ts';
import { type BotLink, DatachannelLink } from './link.ts';
import { NativeLink } from './native-link.ts';
import { isRtcp, RtpPacketizer } from './rtp.ts';
import { joinUrl, type Response, type ResponseCase, type ResponseOf, SignalClient } from './signal.ts';
import { deferred, withTimeout } from './wait.ts';

export interface BotOptions {
  /** Publish a microphone track (send RTP with `sendRtp`). */
  publish?: boolean;
  /** Receive-only audio sections in the first offer; the server asks for more when it needs them. */
  slots?: number;
  /** Deadline for the whole join, in ms (default 15 s). */
  timeoutMs?: number;
  /** Keep `participants` up to date (default true; a thousand bots need not each hold a roster). */
  roster?: boolean;
  /**
   * The peer connection: node-datachannel (default) or the node's native transport as a client,
   * light enough for a thousand listeners in one process.
   */
  transport?: BotTransport;
}

export type BotTransport = 'datachannel' | 'native';

/** Milliseconds from the start of `Bot.join`. */
export interface BotTimings {
  wsOpen?: number;
  joinResponse?: number;
  connected?: number;
  firstRtp?: number;
}

export interface DataOptions {
  reliable?: boolean;
  destinationIdentities?: string[];
  topic?: string;
}

const PUBLISH_MID = 'mic';
/** A bound on how many receive slots the server can make a bot add. */
const MAX_SLOTS = 256;

let botCount = 0;

export class Bot {
  readonly timings: BotTimings = {};
  /** Everyone else in the room by participant sid, as the latest updates describe them. */
  readonly participants = new Map<string, ParticipantInfo>();
  /** Signal messages the bot could not apply (a test can assert there are none). */
  readonly errors: string[] = [];
  joinResponse?: JoinResponse;
  speakers: SpeakerInfo[] = [];
  /** Sid of the published microphone track. */
  trackSid?: string;
  /** Why the server sent us away, if it did. */
  leaveRequest?: LeaveRequest;
  /** When (Date.now()) the server last answered a ping. */
  lastPongAt?: number;

  private readonly startedAt = performance.now();
  private readonly link: BotLink;
  private readonly reliable: DataChannelLike;
  private readonly lossy: DataChannelLike;
  private readonly connected = deferred<void>();
  private readonly reliableOpen = deferred<void>();
  private readonly rtpHandlers: ((rtp: Buffer, mid: string) => void)[] = [];
  private readonly dataHandlers: ((packet: DataPacket, reliable: boolean) => void)[] = [];
  private signal?: SignalClient;
  private slotCount = 0;
  private sendTrack?: MediaTrack;
  private publishing?: Promise<void>;
  private packetizer?: RtpPacketizer;
  private offerId = 0;
  private awaitingAnswer = false;
  private offerAgain = false;
  private localCandidates: string[] | undefined = [];
  private remoteCandidates: { candidate: string; mid: string }[] | undefined = [];
  private pingTimer?: NodeJS.Timeout;
  private closed = false;

  private constructor(
    slots: number,
    private readonly roster: boolean,
    transport: BotTransport,
  ) {
    const name = `bot${++botCount}`;
    this.link = transport === 'native' ? new NativeLink(name) : new DatachannelLink(name);
    this.link.onState = (state) => {
      if (state === 'connected') {
        this.timings.connected ??= this.elapsed();
        this.connected.resolve();
        this.negotiateIfAsked();
      } else if (state === 'failed' || state === 'closed') {
        this.connected.reject(new Error(`peer connection ${state}`));
      }
    };
    this.link.onLocalCandidate = (candidate, mid) => {
      const init = JSON.stringify({ candidate: candidate.replace(/^a=/, ''), sdpMid: mid, sdpMLineIndex: 0 });
      if (this.localCandidates) this.localCandidates.push(init);
      else this.sendCandidate(init);
    };
    for (let i = 0; i < slots; i++) this.addSlot();
    // data channels before the first offer, so that it carries the SCTP section
    this.reliable = this.adoptChannel(this.link.createChannel('_reliable', true), true);
    this.lossy = this.adoptChannel(this.link.createChannel('_lossy', false), false);
    this.reliable.onOpen?.(() => this.reliableOpen.resolve());
  }

  /** Joins a room: resolves once the peer connection is up (and the microphone published). */
  static async join(url: string, token: string, opts: BotOptions = {}): Promise<Bot> {
    const bot = new Bot(opts.slots ?? 1, opts.roster ?? true, opts.transport ?? 'datachannel');
    try {
      await bot.connect(url, token, opts.publish ?? false, opts.timeoutMs ?? 15_000);
    } catch (err) {
      bot.close();
      throw err;
    }
    return bot;
  }

  get identity(): string {
    return this.joinResponse?.participant?.identity ?? '';
  }

  get sid(): string {
    return this.joinResponse?.participant?.sid ?? '';
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends one 20 ms Opus frame as RTP; false when the send track is not open. */
  sendRtp(payload: Uint8Array): boolean {
    if (!this.sendTrack || !this.packetizer) throw new Error('this bot does not publish');
    if (this.closed || !this.sendTrack.isOpen()) return false;
    return this.sendTrack.sendMessageBinary(this.packetizer.packet(payload));
  }

  /**
   * Publishes the microphone on a bot that joined without (e.g. once the app granted it
   * canPublish by inviting it on stage); resolves when `sendRtp` can send. Once per bot.
   */
  publishMicrophone(timeoutMs = 10_000): Promise<void> {
    if (this.closed) return Promise.reject(new Error('bot closed'));
    if (!this.publishing) {
      const deadline = performance.now() + timeoutMs;
      this.publishing = this.publish(() => Math.max(1, deadline - performance.now())).catch(
        (err: unknown) => {
          this.publishing = undefined; // refused (e.g. no canPublish yet): may be tried again
          throw err;
        },
      );
    }
    return this.publishing;
  }

  /** The SSRC the bot publishes with. */
  get ssrc(): number | undefined {
    return this.packetizer?.ssrc;
  }

  /** RTP (never RTCP) arriving in any receive slot. */
  onRtp(cb: (rtp: Buffer, mid: string) => void): void {
    this.rtpHandlers.push(cb);
  }

  /** Sends a user data packet (LiveKit `publishData`). */
  sendData(payload: Uint8Array, opts: DataOptions = {}): boolean {
    const reliable = opts.reliable ?? true;
    const destinationIdentities = opts.destinationIdentities ?? [];
    const packet = new DataPacket({
      kind: reliable ? DataPacket_Kind.RELIABLE : DataPacket_Kind.LOSSY,
      destinationIdentities,
      value: { case: 'user', value: new UserPacket({ payload, topic: opts.topic, destinationIdentities }) },
    });
    return this.sendDataPacket(packet, reliable);
  }

  /** Sends any DataPacket as is (a test may write what a well-behaved client would not). */
  sendDataPacket(packet: DataPacket, reliable = true): boolean {
    const dc = reliable ? this.reliable : this.lossy;
    return !this.closed && dc.isOpen() && dc.sendMessageBinary(packet.toBinary());
  }

  onData(cb: (packet: DataPacket, reliable: boolean) => void): void {
    this.dataHandlers.push(cb);
  }

  /** The next signal response of this kind (matching `filter`). */
  waitFor<K extends ResponseCase>(
    kind: K,
    timeoutMs = 5_000,
    filter?: (value: ResponseOf<K>) => boolean,
  ): Promise<ResponseOf<K>> {
    if (!this.signal) return Promise.reject(new Error('bot is not connected'));
    return this.signal.waitFor(kind, timeoutMs, filter);
  }

  /** Leaves the room: sends `leave`, closes the peer connection and the WebSocket. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingTimer);
    this.connected.reject(new Error('bot closed'));
    this.reliableOpen.reject(new Error('bot closed'));
    this.signal?.send({
      case: 'leave',
      value: new LeaveRequest({
        canReconnect: false,
        reason: DisconnectReason.CLIENT_INITIATED,
        action: LeaveRequest_Action.DISCONNECT,
      }),
    });
    this.signal?.close();
    for (const dc of [this.reliable, this.lossy]) dc.close();
    this.link.close();
  }

  // ---- joining -------------------------------------------------------------------------------

  private async connect(url: string, token: string, publish: boolean, timeoutMs: number): Promise<void> {
    const deadline = this.startedAt + timeoutMs;
    const left = () => Math.max(1, deadline - performance.now());
    const signal = new SignalClient(joinUrl(url, token, this.offer()));
    this.signal = signal;
    signal.onOpen = () => {
      this.timings.wsOpen = this.elapsed();
    };
    signal.onResponse = (msg) => this.handle(msg);
    signal.onClose = () => this.close();
    await signal.waitFor('join', left());
    await withTimeout(this.connected.promise, left(), 'the peer connection');
    await withTimeout(this.reliableOpen.promise, left(), 'the reliable data channel');
    if (publish) {
      this.publishing = this.publish(left);
      await this.publishing;
    }
  }

  /** addTrack → trackPublished, then a send-only section whose msid track id is the cid. */
  private async publish(left: () => number): Promise<void> {
    const signal = this.signal!;
    const cid = `TR_bot_${randomBytes(6).toString('hex')}`;
    const published = signal.waitFor('trackPublished', left(), (v) => v.cid === cid);
    const refused = signal.waitFor('requestResponse', left(), (r) => r.request.case === 'addTrack');
    signal.send({
      case: 'addTrack',
      value: new AddTrackRequest({ cid, type: TrackType.AUDIO, source: TrackSource.MICROPHONE, name: 'mic' }),
    });
    const { track: info } = await Promise.race([
      published,
      refused.then((r) => Promise.reject(new Error(`addTrack refused: ${r.message}`))),
    ]);
    const ssrc = randomInt(1, 2 ** 32 - 1);
    const track = this.link.addSender(PUBLISH_MID, ssrc, cid);
    const opened = deferred<void>();
    track.onOpen(() => opened.resolve());
    const lastOffer = this.offerId;
    const answered = signal.waitFor('answer', left(), (a) => a.id > lastOffer);
    this.negotiate();
    await answered;
    if (!track.isOpen()) await withTimeout(opened.promise, left(), 'the microphone track to open');
    this.sendTrack = track;
    this.packetizer = new RtpPacketizer(ssrc);
    this.trackSid = info?.sid;
  }

  // ---- negotiation ---------------------------------------------------------------------------

  private offer(): SessionDescription {
    const local = this.link.offer();
    this.awaitingAnswer = true;
    // candidates travel by trickle only, and only once we hold the answer (see onAnswer)
    const sdp = local.replace(/^a=(candidate|end-of-candidates).*\r\n/gm, '');
    return new SessionDescription({ type: 'offer', sdp, id: ++this.offerId });
  }

  /**
   * One offer in flight at a time, and none before the connection is up (libdatachannel can
   * close a connection renegotiated during its DTLS handshake); a request meanwhile makes one
   * more offer after the answer or the connection.
   */
  private negotiate(): void {
    if (this.awaitingAnswer || this.link.state !== 'connected') {
      this.offerAgain = true;
      return;
    }
    this.signal?.send({ case: 'offer', value: this.offer() });
  }

  private onAnswer(sd: SessionDescription): void {
    if (sd.id !== this.offerId) throw new Error(`answer ${sd.id} does not answer offer ${this.offerId}`);
    this.link.applyAnswer(sd.sdp);
    this.awaitingAnswer = false;
    const queued = this.remoteCandidates ?? [];
    this.remoteCandidates = undefined;
    for (const c of queued) this.link.addRemoteCandidate(c.candidate, c.mid);
    for (const init of this.localCandidates ?? []) this.sendCandidate(init);
    this.localCandidates = undefined;
    this.negotiateIfAsked();
  }

  private negotiateIfAsked(): void {
    if (!this.offerAgain) return;
    this.offerAgain = false;
    this.negotiate();
  }

  private onTrickle(candidateInit: string): void {
    const c = JSON.parse(candidateInit) as { candidate?: string; sdpMid?: string };
    if (!c.candidate) return; // end of candidates
    const candidate = { candidate: c.candidate, mid: c.sdpMid ?? '0' };
    if (!this.remoteCandidates) {
      this.link.addRemoteCandidate(candidate.candidate, candidate.mid);
      return;
    }
    this.remoteCandidates.push(candidate); // before the first answer
  }

  private sendCandidate(candidateInit: string): void {
    this.signal?.send({
      case: 'trickle',
      value: new TrickleRequest({ candidateInit, target: SignalTarget.PUBLISHER }),
    });
  }

  private addSlot(): void {
    if (this.slotCount >= MAX_SLOTS) return;
    const mid = `r${this.slotCount++}`;
    this.link.addReceiver(mid, (msg) => this.onMedia(msg, mid));
  }

  // ---- incoming ------------------------------------------------------------------------------

  private handle(msg: Response): void {
    try {
      switch (msg.case) {
        case 'join':
          this.onJoin(msg.value);
          return;
        case 'answer':
          this.onAnswer(msg.value);
          return;
        case 'trickle':
          this.onTrickle(msg.value.candidateInit);
          return;
        case 'mediaSectionsRequirement':
          for (let i = 0; i < msg.value.numAudios; i++) this.addSlot();
          this.negotiate(); // also when no slot is missing: that is how the server asks for an offer
          return;
        case 'update':
          for (const p of msg.value.participants) this.onParticipant(p);
          return;
        case 'speakersChanged':
          this.speakers = msg.value.speakers;
          return;
        case 'pong':
          this.lastPongAt = Date.now();
          return;
        case 'leave':
          this.leaveRequest = msg.value;
          this.close();
          return;
      }
    } catch (err) {
      this.errors.push(`${msg.case}: ${(err as Error).message}`);
    }
  }

  private onJoin(join: JoinResponse): void {
    this.joinResponse = join;
    this.timings.joinResponse = this.elapsed();
    for (const p of join.otherParticipants) this.onParticipant(p);
    if (join.pingInterval > 0) {
      this.pingTimer = setInterval(
        () => this.signal?.send({ case: 'ping', value: BigInt(Date.now()) }),
        join.pingInterval * 1000,
      );
    }
  }

  /** As livekit-client: a departure applies whatever its version, other updates only if not older. */
  private onParticipant(p: ParticipantInfo): void {
    if (!this.roster || p.sid === this.sid) return;
    if (p.state === ParticipantInfo_State.DISCONNECTED) {
      this.participants.delete(p.sid);
      return;
    }
    const known = this.participants.get(p.sid);
    if (!known || known.version <= p.version) this.participants.set(p.sid, p);
  }

  private onMedia(msg: Buffer, mid: string): void {
    if (isRtcp(msg)) return;
    this.timings.firstRtp ??= this.elapsed();
    for (const cb of this.rtpHandlers) cb(msg, mid);
  }

  private adoptChannel(dc: DataChannelLike, reliable: boolean): DataChannelLike {
    dc.onClosed?.(() => {}); // as for tracks: lets the event loop end once the channel closes
    dc.onMessage((msg) => {
      if (typeof msg === 'string') return;
      let packet: DataPacket;
      try {
        packet = DataPacket.fromBinary(msg instanceof ArrayBuffer ? new Uint8Array(msg) : msg);
      } catch {
        this.errors.push(`undecodable data packet on ${dc.getLabel()}`);
        return;
      }
      for (const cb of this.dataHandlers) cb(packet, reliable);
    });
    return dc;
  }

  private elapsed(): number {
    return performance.now() - this.startedAt;
  }
}
