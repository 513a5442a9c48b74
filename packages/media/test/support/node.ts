/** Starts a real media node on loopback with free ports, and mints tokens for it. */
import { createSocket } from 'node:dgram';
import {
  type MediaNode,
  type MediaNodeConfig,
  signToken,
  startMediaNode,
  type VideoGrant,
} from '@sotto/media';

export const API_KEY = 'devkey';
export const API_SECRET = 'secret';

/** A UDP port that was free a moment ago (bound to 0, read back, released). */
export async function freeUdpPort(): Promise<number> {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  const { port } = sock.address();
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  return port;
}

export interface TestNode {
  node: MediaNode;
  url: string;
  httpUrl: string;
  token(
    identity: string,
    room: string,
    grant?: Partial<VideoGrant>,
    extra?: { name?: string; metadata?: string },
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
