/**
 * RoomSession: one person's presence in one room. Three concerns, kept apart:
 *  - the app API (join/leave, hand, invitation, chat) through SottoApi;
 *  - the stage state, from the SSE stream `/api/rooms/{id}/events` (older versions dropped);
 *  - media transport through livekit-client (audio only). All livekit-client use lives in this
 *    file; end-to-end encryption (`./e2ee/`, on by default) hooks in at `#connectMedia`: the mic
 *    sender and every remote audio receiver get an SFrame `RTCRtpScriptTransform`, and key
 *    messages travel as data packets (topic `sotto.e2ee`).
 * The media node knows participants only by their per-join handle; names come from RoomState.
 */
import type { ChatMessage, RoomState } from '@sotto/app/api';
import {
  ConnectionState,
  Encryption_Type,
  type LocalParticipant,
  type Participant,
  type RemoteTrack,
  Room,
  RoomEvent,
  Track,
  type TrackPublication,
} from 'livekit-client';
import { SottoApi } from './api.ts';
import {
  type E2eeOptions,
  type E2eeStats,
  e2eeRtcConfig,
  e2eeSupported,
  LEVEL_INTERVAL_MS,
  LEVEL_STALE_MS,
  RoomE2ee,
} from './e2ee/index.ts';
import { Emitter } from './emitter.ts';
import { MicLevelMeter, SpeakingDetector } from './mic-level.ts';
import { mergeChat, sameSet, shouldApply, usersForHandles } from './stage.ts';

export interface MicState {
  /** The media node lets this participant publish (they are on stage). */
  canPublish: boolean;
  /** The microphone track is published. */
  published: boolean;
  /** Published but muted (by the user, or by a moderator). */
  muted: boolean;
}

export type ConnectionStatus = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

export interface RoomSessionEvents {
  state: [RoomState];
  chat: [ChatMessage];
  /** User ids currently speaking. */
  speaking: [ReadonlySet<string>];
  /** User ids whose microphone is published and unmuted (everyone else on stage shows as muted). */
  audible: [ReadonlySet<string>];
  ended: [];
  removed: [{ blocked: boolean }];
  error: [Error];
  micChanged: [MicState];
  connection: [ConnectionStatus];
  /** The browser blocked audio playback until a user gesture; call `startAudio()` from one. */
  audioBlocked: [boolean];
  /** Verification state of the end-to-end encryption (security code, stage group, key changes). */
  e2ee: [E2eeView];
}

/** The part of EventSource that RoomSession uses (Node bots can pass a polyfill). */
export interface EventSourceLike {
  readonly readyState: number;
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void;
  onerror: ((ev: Event) => unknown) | null;
  onopen: ((ev: Event) => unknown) | null;
  close(): void;
}

export interface E2eeView {
  /** Room security code of the stage's current MLS epoch (stage members; null otherwise). */
  securityCode: string | null;
  /** Devices in the stage's MLS group (stage members; empty otherwise). */
  stageDevices: { userId: string; deviceId: string }[];
  /** Users whose device keys differ from those this browser first saw (trust on first use). */
  keyChanged: ReadonlySet<string>;
}

export interface RoomSessionOptions {
  api?: SottoApi;
  /** Where remote <audio> elements are appended (default document.body). */
  audioContainer?: HTMLElement;
  /** Defaults to `new EventSource(url)`. */
  eventSource?: (url: string) => EventSourceLike;
  /** End-to-end encryption (on by default where the browser supports encoded transforms). */
  e2ee?: E2eeOptions;
}

const EVENTSOURCE_CLOSED = 2;

export class RoomSession extends Emitter<RoomSessionEvents> {
  readonly roomId: string;
  readonly api: SottoApi;
  /** This join's media identity. */
  handle = '';
  #state: RoomState | null = null;
  #chat: ChatMessage[] = [];
  #speakingHandles: string[] = [];
  #speaking: ReadonlySet<string> = new Set();
  #audibleHandles: string[] = [];
  #audible: ReadonlySet<string> = new Set();
  #mic: MicState = { canPublish: false, published: false, muted: false };
  #connection: ConnectionStatus = 'connecting';
  #room: Room | null = null;
  #events: EventSourceLike | null = null;
  #eventsRetry: ReturnType<typeof setTimeout> | null = null;
  readonly #audioElements = new Map<string, HTMLMediaElement[]>();
  readonly #audioContainer: HTMLElement | undefined;
  readonly #eventSource: (url: string) => EventSourceLike;
  #closed = false;
  #micBusy: Promise<void> = Promise.resolve();
  #e2ee: RoomE2ee | null = null;
  #e2eeView: E2eeView = { securityCode: null, stageDevices: [], keyChanged: new Set() };
  #joinStartedAt = 0;
  /** Hardened rooms: speaking comes from members' encrypted levels (handle → last reading). */
  readonly #levels = new Map<string, { speaking: boolean; at: number }>();
  #levelTimer: ReturnType<typeof setInterval> | null = null;
  #meter: MicLevelMeter | null = null;
  readonly #detector = new SpeakingDetector();

  constructor(roomId: string, options: RoomSessionOptions = {}) {
    super();
    this.roomId = roomId;
    this.api = options.api ?? new SottoApi();
    this.#audioContainer = options.audioContainer;
    this.#eventSource = options.eventSource ?? ((url) => new EventSource(url, { withCredentials: true }));
    if (options.e2ee?.enabled !== false && e2eeSupported()) {
      this.#e2ee = new RoomE2ee(this.api, roomId, options.e2ee ?? {});
      const e2ee = this.#e2ee;
      e2ee.onEpoch = (e) => {
        this.#e2eeView = { ...this.#e2eeView, securityCode: e.securityCode, stageDevices: e2ee.stageDevices };
        this.emit('e2ee', this.#e2eeView);
      };
      e2ee.onLevel = (handle, reading) =>
        this.#levels.set(handle, { speaking: reading.speaking, at: Date.now() });
    }
  }

  /**
   * The room security code (6 groups of 5 digits) of the stage's current MLS epoch — the same for
   * every stage member, so speakers can compare it aloud; null for listeners and without E2EE —
   * the stage group's devices, and the users whose keys changed since first seen.
   */
  get e2ee(): E2eeView {
    return this.#e2eeView;
  }

  /** Test-only (`e2ee.forgeryForTest`): how many of `frames` our keys open (replay windows ignored). */
  tryDecryptForTest(frames: Uint8Array[]): Promise<number | null> {
    return this.#e2ee?.tryDecryptForTest(frames) ?? Promise.resolve(null);
  }

  /** Test-only (`e2ee.forgeryForTest`): frames encrypted under someone else's KID with our keys. */
  forgeFramesForTest(kid: bigint, firstCtr: bigint, frames: Uint8Array[]): Promise<Uint8Array[] | null> {
    return this.#e2ee?.forgeFramesForTest(kid, firstCtr, frames) ?? Promise.resolve(null);
  }

  /** Whether this session encrypts its audio end to end. */
  get encrypted(): boolean {
    return this.#e2ee !== null;
  }

  /** E2EE counters (frames encrypted/decrypted/dropped, generation, first-decrypt time); null without E2EE. */
  async e2eeStats(): Promise<(E2eeStats & { joinStartedAt: number }) | null> {
    const s = await this.#e2ee?.stats();
    return s ? { ...s, joinStartedAt: this.#joinStartedAt } : null;
  }

  get state(): RoomState | null {
    return this.#state;
  }
  get chat(): readonly ChatMessage[] {
    return this.#chat;
  }
  get speaking(): ReadonlySet<string> {
    return this.#speaking;
  }
  get audible(): ReadonlySet<string> {
    return this.#audible;
  }
  get mic(): MicState {
    return this.#mic;
  }
  get connection(): ConnectionStatus {
    return this.#connection;
  }
  get closed(): boolean {
    return this.#closed;
  }
  get audioBlocked(): boolean {
    const room = this.#room;
    return room !== null && room.state === ConnectionState.Connected && !room.canPlaybackAudio;
  }

  /**
   * Joins: the API call (throws ApiError: 403 banned/blocked/not_invited, 409 room_full, 410
   * room_ended), then the state stream, the chat history and the media connection. A media failure
   * does not throw: it is reported through `error` and `connection`, so chat and state still work.
   */
  async join(): Promise<RoomState> {
    this.#joinStartedAt = performance.timeOrigin + performance.now();
    const deviceId = this.#e2ee ? await this.#e2ee.prepare() : undefined;
    const joined = await this.api.joinRoom(this.roomId, deviceId);
    this.handle = joined.handle;
    this.#e2ee?.start(
      joined.handle,
      { publish: (payload, to, topic, lossy) => this.#publishData(payload, to, topic, lossy) },
      (msg) => console.info(msg),
    );
    this.#applyState(joined.state);
    this.#openEvents();
    this.api.chat(this.roomId).then(
      (history) => this.#addChat(history),
      (err) => this.#fail(err),
    );
    await this.#connectMedia(joined.mediaUrl, joined.mediaToken);
    return joined.state;
  }

  /** Applies a RoomState from an API answer (dropped if older than what we have). */
  applyState(state: RoomState): void {
    this.#applyState(state);
  }

  // ---- stage actions (the answers carry the new state) ----
  async setHand(raised: boolean): Promise<void> {
    this.#applyState(await this.api.setHand(this.roomId, raised));
  }
  async answerInvitation(accept: boolean): Promise<void> {
    this.#applyState(await this.api.answerInvitation(this.roomId, accept));
  }
  async sendChat(text: string): Promise<void> {
    const msg = await this.api.sendChat(this.roomId, text);
    this.#addChat([msg]);
  }

  /** Mutes or unmutes the published microphone. */
  setMicMuted(muted: boolean): Promise<void> {
    return this.#serialMic(async () => {
      const room = this.#room;
      if (!room || !this.#mic.published) return;
      await room.localParticipant.setMicrophoneEnabled(!muted);
      this.#updateMic();
    });
  }

  /** Removes a member (moderators); with E2EE the room key is replaced at once. */
  async removeMember(userId: string, block = false): Promise<void> {
    this.#applyState(await this.api.removeMember(this.roomId, userId, block));
    this.#e2ee?.rekeyNow();
  }

  /** Resumes audio playback after the browser blocked autoplay; call from a click handler. */
  async startAudio(): Promise<void> {
    await this.#room?.startAudio();
    this.emit('audioBlocked', this.audioBlocked);
  }

  /** Leaves the room (`quiet`: no "… left" line in the chat), then disconnects. */
  async leave(options: { quiet?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    try {
      await this.api.leaveRoom(this.roomId, options.quiet ?? false);
    } finally {
      await this.close();
    }
  }

  /** Disconnects without telling the app server (it notices via the media node's webhook). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#events?.close();
    this.#events = null;
    if (this.#eventsRetry) clearTimeout(this.#eventsRetry);
    const room = this.#room;
    this.#room = null;
    for (const els of this.#audioElements.values()) for (const el of els) el.remove();
    this.#audioElements.clear();
    this.#setConnection('disconnected');
    if (this.#levelTimer) clearInterval(this.#levelTimer);
    this.#levelTimer = null;
    this.#meter?.close();
    this.#meter = null;
    this.#e2ee?.close();
    if (!this.#e2ee?.retainsKeysForTest) this.#e2ee = null;
    if (room) await room.disconnect();
    this.removeAllListeners();
  }

  // ---- state stream ----
  #applyState(state: RoomState): void {
    if (this.#closed || state.id !== this.roomId || !shouldApply(this.#state, state)) return;
    this.#state = state;
    this.#e2ee?.updateState(state);
    void this.#checkKeys(state);
    this.emit('state', state);
    this.#recomputeUsers();
    if (state.status === 'ended') void this.#ended();
  }

  async #checkKeys(state: RoomState): Promise<void> {
    const e2ee = this.#e2ee;
    if (!e2ee) return;
    const changed = await e2ee.keyChanges(state).catch(() => new Set<string>());
    if (this.#closed || sameSet(changed, this.#e2eeView.keyChanged)) return;
    this.#e2eeView = { ...this.#e2eeView, keyChanged: changed };
    this.emit('e2ee', this.#e2eeView);
  }

  #addChat(messages: ChatMessage[]): void {
    if (this.#closed) return;
    const before = new Set(this.#chat.map((m) => m.id));
    this.#chat = mergeChat(this.#chat, messages);
    for (const m of this.#chat) if (!before.has(m.id)) this.emit('chat', m);
  }

  #openEvents(): void {
    if (this.#closed) return;
    const es = this.#eventSource(this.api.roomEventsUrl(this.roomId));
    this.#events = es;
    const parse = <T>(ev: MessageEvent): T | undefined => {
      try {
        return JSON.parse(String(ev.data)) as T;
      } catch {
        return undefined;
      }
    };
    es.addEventListener('state', (ev) => {
      const s = parse<RoomState>(ev);
      if (s) this.#applyState(s);
    });
    es.addEventListener('chat', (ev) => {
      const m = parse<ChatMessage>(ev);
      if (m) this.#addChat([m]);
    });
    es.addEventListener('ended', () => void this.#ended());
    es.addEventListener('removed', (ev) => {
      const r = parse<{ blocked?: boolean }>(ev);
      void this.#removed(r?.blocked === true);
    });
    es.onerror = () => {
      // EventSource retries by itself unless the server refused the stream (non-200): then find out why.
      if (es.readyState !== EVENTSOURCE_CLOSED || this.#closed || this.#events !== es) return;
      this.#events = null;
      void this.#checkAfterStreamClosed();
    };
  }

  async #checkAfterStreamClosed(): Promise<void> {
    try {
      const state = await this.api.room(this.roomId);
      if (state.status === 'ended') return void this.#ended();
      if (!state.me) return void this.#removed(false);
      this.#applyState(state);
    } catch (err) {
      const status = (err as { status?: number }).status;
      if (status === 404 || status === 410) return void this.#ended();
      if (status === 403) return void this.#removed(false);
    }
    if (!this.#closed) this.#eventsRetry = setTimeout(() => this.#openEvents(), 3000);
  }

  async #ended(): Promise<void> {
    if (this.#closed) return;
    this.emit('ended');
    await this.close();
  }

  async #removed(blocked: boolean): Promise<void> {
    if (this.#closed) return;
    this.emit('removed', { blocked });
    await this.close();
  }

  #fail(err: unknown): void {
    if (this.#closed) return;
    this.emit('error', err instanceof Error ? err : new Error(String(err)));
  }

  // ---- media (livekit-client) ----
  async #connectMedia(url: string, token: string): Promise<void> {
    const room = new Room({ adaptiveStream: false, dynacast: false });
    this.#room = room;
    room
      .on(RoomEvent.TrackSubscribed, (track) => {
        // decrypt before anything reaches the decoder (the transform is set synchronously here)
        if (this.#e2ee && track.kind === Track.Kind.Audio && track.receiver)
          this.#e2ee.protectReceiver(track.receiver);
        this.#attachAudio(track);
      })
      .on(RoomEvent.DataReceived, (payload, participant, _kind, topic) =>
        this.#e2ee?.receive(payload, participant?.identity, topic),
      )
      .on(RoomEvent.TrackUnsubscribed, (track) => this.#detachAudio(track))
      .on(RoomEvent.ActiveSpeakersChanged, (speakers: Participant[]) => {
        if (this.#state?.hardened && this.#e2ee) return; // levels come from the members (#levelTick)
        this.#speakingHandles = speakers.map((p) => p.identity);
        this.#recomputeUsers();
      })
      .on(RoomEvent.ParticipantPermissionsChanged, (_prev, participant) => {
        if (participant === room.localParticipant) this.#syncPublishing();
      })
      .on(RoomEvent.TrackMuted, (_pub: TrackPublication, p: Participant) => this.#onTrackChange(p))
      .on(RoomEvent.TrackUnmuted, (_pub: TrackPublication, p: Participant) => this.#onTrackChange(p))
      .on(RoomEvent.TrackPublished, () => this.#recomputeAudible())
      .on(RoomEvent.TrackUnpublished, () => this.#recomputeAudible())
      .on(RoomEvent.ParticipantConnected, () => this.#recomputeAudible())
      .on(RoomEvent.ParticipantDisconnected, () => this.#recomputeAudible())
      .on(RoomEvent.LocalTrackPublished, () => this.#onTrackChange(room.localParticipant))
      .on(RoomEvent.LocalTrackUnpublished, () => this.#onTrackChange(room.localParticipant))
      .on(RoomEvent.AudioPlaybackStatusChanged, () => this.emit('audioBlocked', this.audioBlocked))
      .on(RoomEvent.MediaDevicesError, (err: Error) => this.#fail(err))
      .on(RoomEvent.ConnectionStateChanged, (s: ConnectionState) => {
        if (s === ConnectionState.Connected) this.#setConnection('connected');
        else if (s === ConnectionState.Disconnected) this.#setConnection('disconnected');
        else if (s === ConnectionState.Connecting) this.#setConnection('connecting');
        else this.#setConnection('reconnecting');
      });
    this.#setConnection('connecting');
    if (this.#e2ee) {
      // tell the media node our tracks are custom-encrypted (it copies AddTrackRequest.encryption
      // into TrackInfo); livekit-client has no public option for CUSTOM, so this sets its field —
      // before connecting, because a permission event during the connect may already publish
      (room.localParticipant as unknown as { encryptionType: Encryption_Type }).encryptionType =
        Encryption_Type.CUSTOM;
    }
    try {
      // with E2EE, the peer connection gets the encoded-streams flag: nothing is sent or played
      // until the SFrame worker is piped in (fail-closed)
      await room.connect(url, token, {
        autoSubscribe: true,
        ...(this.#e2ee ? { rtcConfig: e2eeRtcConfig() } : {}),
      });
    } catch (err) {
      if (this.#room !== room) return;
      this.#setConnection('disconnected');
      this.#fail(new Error(`Could not connect to the audio server: ${(err as Error).message ?? err}`));
      return;
    }
    if (this.#closed) {
      await room.disconnect();
      return;
    }
    this.#setConnection('connected');
    this.emit('audioBlocked', this.audioBlocked);
    if (this.#e2ee) {
      this.#e2ee.connected();
      this.#levelTimer = setInterval(() => this.#levelTick(), LEVEL_INTERVAL_MS);
    }
    this.#syncPublishing();
  }

  /**
   * Hardened rooms, every LEVEL_INTERVAL_MS: with a published microphone, send our level (always,
   * speaking or not: a fixed rate and size); then speaking = members whose latest level says so.
   */
  #levelTick(): void {
    const room = this.#room;
    const e2ee = this.#e2ee;
    if (!room || !e2ee || !this.#state?.hardened) return;
    const now = Date.now();
    const pub = micPublication(room.localParticipant);
    const track = pub?.track?.mediaStreamTrack;
    if (this.#meter && this.#meter.track !== track) {
      this.#meter.close();
      this.#meter = null;
    }
    if (pub && track) {
      this.#meter ??= new MicLevelMeter(track);
      const { blocks, blockMs, endAt } = this.#meter.readWindow(now);
      const reading = this.#detector.feedWindow(blocks, blockMs, now, pub.isMuted, endAt);
      void e2ee.sendLevel(reading);
      this.#levels.set(this.handle, { speaking: reading.speaking, at: now });
    }
    const speaking: string[] = [];
    for (const [handle, l] of this.#levels) {
      if (now - l.at > LEVEL_STALE_MS) this.#levels.delete(handle);
      else if (l.speaking) speaking.push(handle);
    }
    this.#speakingHandles = speaking;
    this.#recomputeUsers();
  }

  /** A data packet to `to` (empty: everyone), e.g. key messages and speaker signatures. */
  #publishData(payload: Uint8Array, to: string[], topic: string, lossy = false): void {
    const room = this.#room;
    if (!room || room.state !== ConnectionState.Connected) return;
    room.localParticipant
      .publishData(Uint8Array.from(payload), {
        reliable: !lossy,
        topic,
        ...(to.length ? { destinationIdentities: to } : {}),
      })
      .catch((err: unknown) => console.warn('e2ee: data packet not sent', err));
  }

  /** Publishes the microphone; with E2EE its sender is piped through the encrypting worker. */
  async #publishMic(lp: LocalParticipant): Promise<void> {
    const pub = await lp.setMicrophoneEnabled(true);
    const sender = pub?.track?.sender;
    if (this.#e2ee) {
      if (!sender) throw new Error('the microphone has no RTCRtpSender');
      this.#e2ee.protectSender(sender);
    }
  }

  #attachAudio(track: RemoteTrack): void {
    if (track.kind !== Track.Kind.Audio || this.#closed) return;
    const el = track.attach();
    el.dataset['sottoTrack'] = track.sid ?? '';
    (this.#audioContainer ?? document.body).append(el);
    const key = track.sid ?? track.mediaStreamTrack.id;
    this.#audioElements.set(key, [...(this.#audioElements.get(key) ?? []), el]);
  }

  #detachAudio(track: RemoteTrack): void {
    const key = track.sid ?? track.mediaStreamTrack.id;
    for (const el of track.detach()) el.remove();
    for (const el of this.#audioElements.get(key) ?? []) el.remove();
    this.#audioElements.delete(key);
  }

  #onTrackChange(p: Participant): void {
    if (this.#room && p === this.#room.localParticipant) this.#updateMic();
    this.#recomputeAudible();
  }

  #recomputeAudible(): void {
    const room = this.#room;
    if (!room) return;
    const handles: string[] = [];
    for (const p of [room.localParticipant, ...room.remoteParticipants.values()]) {
      const pub = p.getTrackPublication(Track.Source.Microphone);
      if (pub && !pub.isMuted) handles.push(p.identity);
    }
    this.#audibleHandles = handles;
    this.#recomputeUsers();
  }

  /** Publishes the microphone when the media node grants canPublish; unpublishes when it is revoked. */
  #syncPublishing(): void {
    void this.#serialMic(async () => {
      const room = this.#room;
      if (!room || this.#closed) return;
      const lp = room.localParticipant;
      const canPublish = lp.permissions?.canPublish === true;
      const published = micPublication(lp) !== undefined;
      if (canPublish && !published) {
        try {
          await this.#publishMic(lp);
        } catch (err) {
          this.#fail(new Error(`Could not start your microphone: ${(err as Error).message ?? String(err)}`));
        }
      } else if (!canPublish && published) {
        for (const pub of lp.audioTrackPublications.values()) {
          if (pub.track) await lp.unpublishTrack(pub.track, true);
        }
      }
      this.#updateMic();
    });
  }

  #serialMic(fn: () => Promise<void>): Promise<void> {
    const next = this.#micBusy.then(fn, fn);
    this.#micBusy = next.catch(() => {});
    return next;
  }

  #updateMic(): void {
    const room = this.#room;
    if (!room) return;
    const lp = room.localParticipant;
    const pub = micPublication(lp);
    const mic: MicState = {
      canPublish: lp.permissions?.canPublish === true,
      published: pub !== undefined,
      muted: pub ? pub.isMuted : false,
    };
    const m = this.#mic;
    if (m.canPublish === mic.canPublish && m.published === mic.published && m.muted === mic.muted) return;
    this.#mic = mic;
    this.emit('micChanged', mic);
  }

  /** Maps the media node's handles to users (via the latest RoomState) for `speaking` and `audible`. */
  #recomputeUsers(): void {
    if (!this.#state) return;
    const speaking = usersForHandles(this.#state, this.#speakingHandles);
    if (!sameSet(speaking, this.#speaking)) {
      this.#speaking = speaking;
      this.emit('speaking', speaking);
    }
    const audible = usersForHandles(this.#state, this.#audibleHandles);
    if (!sameSet(audible, this.#audible)) {
      this.#audible = audible;
      this.emit('audible', audible);
    }
  }

  #setConnection(s: ConnectionStatus): void {
    if (this.#connection === s) return;
    this.#connection = s;
    this.emit('connection', s);
  }
}

function micPublication(lp: LocalParticipant): TrackPublication | undefined {
  return lp.getTrackPublication(Track.Source.Microphone);
}
