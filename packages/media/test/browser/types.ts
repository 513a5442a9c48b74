// Plain data shared by the Node-side harness and the in-page app (page-app.ts).
// Everything here crosses page.evaluate, so it must stay JSON-like and free of DOM types.

/** One livekit-client room event as recorded in the page. */
export interface RecordedEvent {
  /** The RoomEvent name, e.g. "trackSubscribed", "dataReceived", "signalReconnecting". */
  kind: string;
  /** performance.now() in the page when the event fired. */
  atMs: number;
  identity?: string | undefined;
  trackSid?: string | undefined;
  trackKind?: string | undefined;
  /** dataReceived: the payload decoded as UTF-8 text. */
  payload?: string | undefined;
  topic?: string | undefined;
  /** disconnected / participantDisconnected: the DisconnectReason name. */
  reason?: string | undefined;
  /** activeSpeakersChanged: identities, loudest first. */
  speakers?: string[] | undefined;
  /** participantPermissionsChanged: the participant's new permissions. */
  permissions?: PermissionsInfo | undefined;
}

export interface PermissionsInfo {
  canPublish: boolean;
  canSubscribe: boolean;
  canPublishData: boolean;
  hidden: boolean;
}

export interface ToneResult {
  /** The bin nearest the wanted frequency is the loudest bin and ≥ 20 dB above the median bin. */
  found: boolean;
  peakHz: number;
  peakDb: number;
  /** Loudest bin minus the median bin, in dB. */
  snrDb: number;
}

export interface RemoteTrackInfo {
  sid: string;
  kind: string;
  muted: boolean;
  subscribed: boolean;
}

export interface RemoteParticipantInfo {
  identity: string;
  sid: string;
  tracks: RemoteTrackInfo[];
}

export interface ConnectOptions {
  /** livekit-client's RoomOptions.singlePeerConnection (its default is true). */
  singlePeerConnection?: boolean;
}

export interface DataOptions {
  reliable?: boolean;
  destinationIdentities?: string[];
  topic?: string;
}

export interface ListenOptions {
  /** Only listen to audio from this remote participant (default: every subscribed audio track). */
  fromIdentity?: string;
  timeoutMs?: number;
}

/** What page-app.ts puts on `window.sotto`. */
export interface SottoPageApi {
  connect(url: string, token: string, opts: ConnectOptions): Promise<void>;
  events(): RecordedEvent[];
  publishMic(): Promise<string>;
  setMicMuted(muted: boolean): Promise<void>;
  detectTone(hz: number, opts: ListenOptions): Promise<ToneResult>;
  /** Loudest sample seen in `ms`, in dBFS (−200 for digital silence or no track at all). */
  detectSilence(ms: number, opts: ListenOptions): Promise<number>;
  /** Sends the fake microphone through two in-page RTCPeerConnections and listens to the far end. */
  detectLoopbackTone(hz: number, opts: { timeoutMs?: number }): Promise<ToneResult>;
  sendData(text: string, opts: DataOptions): Promise<void>;
  remoteParticipants(): RemoteParticipantInfo[];
  disconnect(): Promise<void>;
  simulateSignalDrop(): Promise<void>;
  /** RTCP seen by the browser: SRs from the server on received audio, RRs on the microphone. */
  rtcpStats(): Promise<RtcpStats>;
}

export interface RtcpStats {
  /** Per remote identity: sender reports received for its audio (remote-outbound-rtp.reportsSent). */
  senderReportsReceived: Record<string, number>;
  /** Receiver reports received for our microphone (remote-inbound-rtp present with packetsLost). */
  receiverReportsReceived: boolean;
  /** NACKs we sent for received audio (inbound-rtp.nackCount), per remote identity. */
  nacksSent: Record<string, number>;
}
