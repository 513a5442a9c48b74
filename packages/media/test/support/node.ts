/** Starts a real media node on loopback with free ports, and mints tokens for it. */
import {
  type MediaNode,
  type MediaNodeConfig,
  signToken,
  startMediaNode,
  type VideoGrant,
} from '@sotto/media';
import { freeUdpPort } from './ports.ts';

export const API_KEY = 'devkey';
export const API_SECRET = 'secret';

export interface TestNode {
  node: MediaNode;
  url: string;
  httpUrl: string;
  token(
    identity: string,
    room: string,
    grant?: Partial<VideoGrant>,
    extra?: { name?: string; metadata?: string; attributes?: Record<string, string> },
  ): Promise<string>;
  adminToken(room?: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startTestNode(cfg: Partial<MediaNodeConfig> = {}): Promise<TestNode> {
  const node = await startMediaNode({
    host: '127.0.0.1',
    httpPort: 0,
    udpPort: await freeUdpPort(),
    keys: new Map([[API_KEY, API_SECRET]]),
    ...cfg,
  });
  return {
    node,
    url: node.url,
    httpUrl: node.url.replace(/^ws/, 'http'),
    token: (identity, room, grant = {}, extra = {}) =>
      signToken(API_KEY, API_SECRET, {
        identity,
        ...extra,
        video: { roomJoin: true, room, canPublish: true, canSubscribe: true, canPublishData: true, ...grant },
      }),
    adminToken: (room) =>
      signToken(API_KEY, API_SECRET, { video: { roomAdmin: true, roomCreate: true, roomList: true, room } }),
    stop: () => node.stop(),
  };
}
