import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalBus } from './bus.ts';

test('LocalBus delivers per topic, survives a throwing listener, and unsubscribes', () => {
  const bus = new LocalBus();
  const got: string[] = [];
  const offA = bus.subscribe('room:a', (e) => got.push(`a:${e.kind}`));
  bus.subscribe('room:a', () => {
    throw new Error('broken stream');
  });
  const offB = bus.subscribe('room:b', (e) => got.push(`b:${e.kind}`));
  bus.publish('room:a', { kind: 'ended' });
  bus.publish('room:b', { kind: 'changed', version: 2 });
  assert.deepEqual(got, ['a:ended', 'b:changed']);
  assert.equal(bus.subscriptionCount, 3);
  offA();
  offB();
  bus.publish('room:a', { kind: 'ended' });
  assert.deepEqual(got, ['a:ended', 'b:changed']);
  assert.equal(bus.subscriptionCount, 1);
});
