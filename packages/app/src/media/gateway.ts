/**
 * The app server's only channel to the media node: LiveKit RoomService (Twirp) calls and media
 * tokens. Everything that crosses here is pseudonymous — rooms are named by their random media id,
 * participants by their random per-join handle. No name, metadata or attribute is ever sent.
 */
import { HARDENED_ATTRIBUTE, logger } from '@sotto/media';
import {
  AccessToken,
  RoomServiceClient,
  ServerError,
  TrackSource,
  TrackType,
  type WebhookEvent,
  WebhookReceiver,
} from 'livekit-server-sdk';

const log = logger('app.media');

export interface MediaConfig {
  apiUrl: string;
  apiKey: string;
  apiSecret: string;
  publicUrl?: string;
}

const TOKEN_TTL = '6h';

export class MediaGateway {
  private readonly rooms: RoomServiceClient;
  private readonly receiver: WebhookReceiver;

  constructor(readonly cfg: MediaConfig) {
    this.rooms = new RoomServiceClient(cfg.apiUrl, cfg.apiKey, cfg.apiSecret);
    this.receiver = new WebhookReceiver(cfg.apiKey, cfg.apiSecret);
  }

  /**
   * A join token: identity = handle, room = media id; no name or metadata. Its one attribute
   * marks a hardened room's participant (no audio level, Opus CBR without DTX).
   */
  async token(mediaId: string, handle: string, canPublish: boolean, hardened = false): Promise<string> {
    const at = new AccessToken(this.cfg.apiKey, this.cfg.apiSecret, {
      identity: handle,
      ttl: TOKEN_TTL,
      ...(hardened ? { attributes: { [HARDENED_ATTRIBUTE]: '1' } } : {}),
    });
    at.addGrant({
      roomJoin: true,
      room: mediaId,
      canSubscribe: true,
      canPublishData: true,
      canPublish,
      canPublishSources: [TrackSource.MICROPHONE],
    });
    return at.toJwt();
  }

  /** Grants or revokes publishing; revoking makes the media node unpublish the member's tracks. */
  async setCanPublish(mediaId: string, handle: string, canPublish: boolean): Promise<void> {
    await this.tolerant('updateParticipant', mediaId, () =>
      this.rooms.updateParticipant(mediaId, handle, undefined, {
        canPublish,
        canSubscribe: true,
        canPublishData: true,
      }),
    );
  }

  /** Mutes every audio track the participant publishes. */
  async muteAudio(mediaId: string, handle: string): Promise<void> {
    await this.tolerant('mute', mediaId, async () => {
      const p = await this.rooms.getParticipant(mediaId, handle);
      for (const t of p.tracks) {
        if (t.type === TrackType.AUDIO && !t.muted)
          await this.rooms.mutePublishedTrack(mediaId, handle, t.sid, true);
      }
    });
  }

  async remove(mediaId: string, handle: string): Promise<void> {
    await this.tolerant('removeParticipant', mediaId, () => this.rooms.removeParticipant(mediaId, handle));
  }

  async deleteRoom(mediaId: string): Promise<void> {
    await this.tolerant('deleteRoom', mediaId, () => this.rooms.deleteRoom(mediaId));
  }

  /** Verifies a webhook delivery (JWT signed with the API secret over the body's sha256). */
  async verifyWebhook(body: string, authorization: string | undefined): Promise<WebhookEvent> {
    return this.receiver.receive(body, authorization);
  }

  /**
   * Runs a RoomService call. `not_found` means the member has not connected to media yet (or has
   * gone): the participant_joined webhook reconciles later. Other failures are logged, not thrown:
   * the stage state in the database is the truth and the media node catches up on reconnect.
   */
  private async tolerant(op: string, mediaId: string, call: () => Promise<unknown>): Promise<void> {
    try {
      await call();
    } catch (err) {
      if (err instanceof ServerError && err.code === 'not_found') {
        log.debug('media: not connected yet', { op, room: mediaId });
        return;
      }
      log.warn('media call failed', {
        op,
        room: mediaId,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
}
