// Self-test of the browser harness, no server needed: the fake microphone (a 440 Hz tone) goes
// through two RTCPeerConnections inside one page and the harness's tone detector listens to the far end.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Harness, launchBrowser, type Participant } from './harness.js';

describe('browser harness tone detection over an in-page loopback', { timeout: 60_000 }, () => {
  let harness: Harness | undefined;
  let listener: Participant;

  before(async () => {
    harness = await launchBrowser();
    listener = await harness.newParticipant({ toneHz: 440, name: 'loopback' });
  });

  after(async () => {
    await harness?.close();
  });

  it('hears the 440 Hz tone', async () => {
    const result = await listener.detectLoopbackTone(440, { timeoutMs: 15_000 });
    assert.ok(result.found, `440 Hz not found: ${JSON.stringify(result)}\n${listener.logs.join('\n')}`);
    assert.ok(Math.abs(result.peakHz - 440) < 6, `peak at ${result.peakHz} Hz`);
  });

  it('does not hear 880 Hz', async () => {
    const result = await listener.detectLoopbackTone(880, { timeoutMs: 2_000 });
    assert.equal(result.found, false, `880 Hz reported: ${JSON.stringify(result)}`);
  });
});
