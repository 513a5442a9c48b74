import assert from 'node:assert/strict';
import { test } from 'node:test';
import ndc from 'node-datachannel';
import { freeUdpPort } from '../../test/support/ports.ts';
import { SdpError } from './sdp.ts';
import { PeerTransport } from './transport.ts';

const plan = () => ({ role: 'idle' as const });

/** A node-datachannel client's offer (a data channel). */
async function clientOffer(name: string): Promise<{ sdp: string; close(): void }> {
  const pc = new ndc.PeerConnection(name, { iceServers: [] });
  const sdp = await new Promise<string>((resolve) => {
    pc.onLocalDescription((d, type) => {
      if (type === 'offer') resolve(d);
    });
    pc.createDataChannel('_reliable');
  });
  return { sdp, close: () => pc.close() };
}

test('descriptions for a closed connection are refused with an SdpError (never reach libdatachannel)', async () => {
  const udpPort = await freeUdpPort();
  const c = await clientOffer('client');
  try {
    const open = new PeerTransport('open', { udpPort, bindAddress: '127.0.0.1' });
    assert.match(open.answer(c.sdp, plan), /^v=0\r\n/, 'the control: an open connection answers');
    open.close();
    const closed = new PeerTransport('closed', { udpPort, bindAddress: '127.0.0.1' });
    closed.close();
    assert.throws(() => closed.answer(c.sdp, plan), SdpError);
    assert.throws(() => closed.offer(plan), SdpError);
    assert.throws(() => closed.applyAnswer(c.sdp), SdpError);
  } finally {
    c.close();
  }
});
