import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Emitter } from './emitter.ts';

interface Events {
  n: [number];
  done: [];
}
class E extends Emitter<Events> {
  fire<K extends keyof Events>(k: K, ...args: Events[K]) {
    this.emit(k, ...args);
  }
}

test('typed emitter: on, off, and a throwing listener does not stop the others', () => {
  const e = new E();
  const got: number[] = [];
  const off = e.on('n', (x) => got.push(x));
  const origError = console.error;
  console.error = () => {};
  e.on('n', () => {
    throw new Error('boom');
  });
  e.on('n', (x) => got.push(x * 10));
  e.fire('n', 1);
  off();
  e.fire('n', 2);
  console.error = origError;
  assert.deepEqual(got, [1, 10, 20]);
});
