/// <reference lib="dom" />
// The test page's script, bundled with livekit-client into one IIFE by page-server.ts.
// It drives one livekit-client Room and exposes it to the harness as `window.sotto`.
import * as LivekitClient from 'livekit-client';
import { DisconnectReason, Room, RoomEvent, Track } from 'livekit-client';
import { listenForLoudest, listenForTone } from './tone.js';
import type { RecordedEvent, RemoteParticipantInfo, RtcpStats, SottoPageApi } from './types.js';

declare global {
  interface Window {
    LivekitClient: typeof LivekitClient;
    sotto: SottoPageApi;
  }
}

const DEFAULT_LISTEN_MS = 10_000;

// Voice processing (noise suppression above all) treats a steady test tone as noise and removes it.
const rawCapture = {
  echoCancellation: false,
  noiseSuppression: false,
  autoGainControl: false,
  voiceIsolation: false,
};

let room: Room | undefined;
const recorded: RecordedEvent[] = [];
/** `peers` is held only so the loopback connections stay referenced while the track is used. */
let loopback: Promise<{ peers: RTCPeerConnection[]; track: MediaStreamTrack }> | undefined;

function connected(): Room {
  if (!room) throw new Error('not connected: call connect() first');
  return room;
}

function record(kind: RoomEvent, fields: Omit<RecordedEvent, 'kind' | 'atMs'> = {}): void {
  recorded.push({ kind, atMs: performance.now(), ...fields });
}

const reasonName = (reason: DisconnectReason | undefined): string | undefined =>
  reason === undefined ? undefined : DisconnectReason[reason];

function recordEvents(r: Room): void {
  r.on(RoomEvent.ParticipantConnected, (p) => {
    record(RoomEvent.ParticipantConnected, { identity: p.identity });
  });
  r.on(RoomEvent.ParticipantDisconnected, (p, reason) => {
    record(RoomEvent.ParticipantDisconnected, { identity: p.identity, reason: reasonName(reason) });
  });
  r.on(RoomEvent.TrackSubscribed, (track, pub, p) => {
    record(RoomEvent.TrackSubscribed, {
      identity: p.identity,
      trackSid: pub.trackSid,
      trackKind: track.kind,
    });
  });
  r.on(RoomEvent.TrackUnsubscribed, (track, pub, p) => {
    record(RoomEvent.TrackUnsubscribed, {
      identity: p.identity,
      trackSid: pub.trackSid,
      trackKind: track.kind,
    });
  });
  r.on(RoomEvent.TrackUnpublished, (pub, p) => {
    record(RoomEvent.TrackUnpublished, { identity: p.identity, trackSid: pub.trackSid });
  });
  r.on(RoomEvent.LocalTrackUnpublished, (pub) => {
    record(RoomEvent.LocalTrackUnpublished, { trackSid: pub.trackSid });
  });
  r.on(RoomEvent.TrackMuted, (pub, p) => {
    record(RoomEvent.TrackMuted, { identity: p.identity, trackSid: pub.trackSid });
  });
  r.on(RoomEvent.TrackUnmuted, (pub, p) => {
    record(RoomEvent.TrackUnmuted, { identity: p.identity, trackSid: pub.trackSid });
  });
  r.on(RoomEvent.DataReceived, (payload, p, _kind, topic, _encryption, identity) => {
    const text = new TextDecoder().decode(payload);
    record(RoomEvent.DataReceived, { payload: text, topic, identity: p?.identity ?? identity });
  });
  r.on(RoomEvent.Disconnected, (reason) => {
    record(RoomEvent.Disconnected, { reason: reasonName(reason) });
  });
  r.on(RoomEvent.SignalReconnecting, () => record(RoomEvent.SignalReconnecting));
  r.on(RoomEvent.Reconnecting, () => record(RoomEvent.Reconnecting));
  r.on(RoomEvent.Reconnected, () => record(RoomEvent.Reconnected));
  r.on(RoomEvent.ActiveSpeakersChanged, (speakers) => {
    record(RoomEvent.ActiveSpeakersChanged, { speakers: speakers.map((s) => s.identity) });
  });
  r.on(RoomEvent.ParticipantPermissionsChanged, (_previous, p) => {
    const { permissions } = p;
    record(RoomEvent.ParticipantPermissionsChanged, {
      identity: p.identity,
      permissions: permissions && {
        canPublish: permissions.canPublish,
        canSubscribe: permissions.canSubscribe,
        canPublishData: permissions.canPublishData,
        hidden: permissions.hidden,
      },
    });
  });
}

/** Subscribed remote audio tracks, optionally of one participant. */
function remoteAudio(fromIdentity: string | undefined): MediaStreamTrack[] {
  if (!room) return [];
  const tracks: MediaStreamTrack[] = [];
  for (const p of room.remoteParticipants.values()) {
    if (fromIdentity !== undefined && p.identity !== fromIdentity) continue;
    for (const pub of p.audioTrackPublications.values()) {
      if (pub.track) tracks.push(pub.track.mediaStreamTrack);
    }
  }
  return tracks;
}

/** The fake microphone, sent from one in-page RTCPeerConnection to another; resolves with the received track. */
async function openLoopback(): Promise<{ peers: RTCPeerConnection[]; track: MediaStreamTrack }> {
  const mic = await navigator.mediaDevices.getUserMedia({ audio: rawCapture });
  const sender = new RTCPeerConnection();
  const receiver = new RTCPeerConnection();
  // only loopback candidates: test traffic stays on 127.0.0.0/8
  const loopbackOnly = (c: RTCIceCandidate | null) => !!c && / 127\.\d+\.\d+\.\d+ /.test(c.candidate);
  sender.onicecandidate = (e) => void (loopbackOnly(e.candidate) && receiver.addIceCandidate(e.candidate!));
  receiver.onicecandidate = (e) => void (loopbackOnly(e.candidate) && sender.addIceCandidate(e.candidate!));
  const received = new Promise<MediaStreamTrack>((resolve) => {
    receiver.ontrack = (e) => resolve(e.track);
  });
  for (const track of mic.getAudioTracks()) sender.addTrack(track, mic);
  const offer = await sender.createOffer();
  await sender.setLocalDescription(offer);
  await receiver.setRemoteDescription(offer);
  const answer = await receiver.createAnswer();
  await receiver.setLocalDescription(answer);
  await sender.setRemoteDescription(answer);
  return { peers: [sender, receiver], track: await received };
}

const api: SottoPageApi = {
  async connect(url, token, opts) {
    if (room) throw new Error('already connected');
    const r = new Room({
      singlePeerConnection: opts.singlePeerConnection ?? true,
      audioCaptureDefaults: rawCapture,
    });
    recordEvents(r);
    await r.connect(url, token, { autoSubscribe: true });
    room = r;
  },

  events: () => recorded,

  async publishMic() {
    const pub = await connected().localParticipant.setMicrophoneEnabled(true);
    if (!pub?.trackSid) throw new Error('microphone publication has no track sid');
    return pub.trackSid;
  },

  async setMicMuted(muted) {
    const pub = connected().localParticipant.getTrackPublication(Track.Source.Microphone);
    if (!pub) throw new Error('microphone is not published');
    await (muted ? pub.mute() : pub.unmute());
  },

  detectTone: (hz, opts) =>
    listenForTone(() => remoteAudio(opts.fromIdentity), hz, opts.timeoutMs ?? DEFAULT_LISTEN_MS),

  detectSilence: (ms, opts) => listenForLoudest(() => remoteAudio(opts.fromIdentity), ms),

  async detectLoopbackTone(hz, opts) {
    loopback ??= openLoopback();
    const { track } = await loopback;
    return listenForTone(() => [track], hz, opts.timeoutMs ?? DEFAULT_LISTEN_MS);
  },

  async sendData(text, opts) {
    await connected().localParticipant.publishData(new TextEncoder().encode(text), opts);
  },

  remoteParticipants: (): RemoteParticipantInfo[] =>
    [...connected().remoteParticipants.values()].map((p) => ({
      identity: p.identity,
      sid: p.sid,
      tracks: [...p.trackPublications.values()].map((pub) => ({
        sid: pub.trackSid,
        kind: pub.kind,
        muted: pub.isMuted,
        subscribed: pub.isSubscribed,
      })),
    })),

  async disconnect() {
    await connected().disconnect();
    room = undefined;
  },

  simulateSignalDrop: () => connected().simulateScenario('signal-reconnect'),

  async rtcpStats() {
    const r = connected();
    const out: RtcpStats = { senderReportsReceived: {}, receiverReportsReceived: false, nacksSent: {} };
    for (const p of r.remoteParticipants.values()) {
      for (const pub of p.audioTrackPublications.values()) {
        const report = await pub.track?.getRTCStatsReport();
        report?.forEach((s: { type: string; reportsSent?: number; nackCount?: number }) => {
          if (s.type === 'remote-outbound-rtp') out.senderReportsReceived[p.identity] = s.reportsSent ?? 0;
          if (s.type === 'inbound-rtp') out.nacksSent[p.identity] = s.nackCount ?? 0;
        });
      }
    }
    const mic = r.localParticipant.getTrackPublication(Track.Source.Microphone)?.track;
    const micReport = await mic?.getRTCStatsReport();
    micReport?.forEach((s: { type: string }) => {
      if (s.type === 'remote-inbound-rtp') out.receiverReportsReceived = true;
    });
    return out;
  },
};

window.LivekitClient = LivekitClient;
window.sotto = api;
