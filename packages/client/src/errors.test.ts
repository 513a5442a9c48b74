import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError, errorMessage, parseApiError } from './errors.ts';

test('parses a problem document', () => {
  const err = parseApiError(
    409,
    JSON.stringify({
      type: 'https://sotto.dev/problems/room_full',
      title: 'Room is full',
      status: 409,
      detail: 'This room has reached its capacity of 2.',
      code: 'room_full',
    }),
  );
  assert.ok(err instanceof ApiError);
  assert.equal(err.status, 409);
  assert.equal(err.code, 'room_full');
  assert.equal(err.title, 'Room is full');
  assert.equal(err.detail, 'This room has reached its capacity of 2.');
  assert.equal(err.readable, 'This room has reached its capacity of 2.');
  assert.deepEqual(err.errors, []);
});

test('keeps field errors of a validation problem', () => {
  const err = parseApiError(
    400,
    JSON.stringify({
      type: 'x',
      title: 'Invalid request',
      status: 400,
      code: 'validation',
      errors: [{ path: 'username', message: 'lowercase letters, digits and _ only' }],
    }),
  );
  assert.equal(err.errors.length, 1);
  assert.equal(err.readable, 'Invalid request (username: lowercase letters, digits and _ only)');
});

test('ignores malformed field errors', () => {
  const err = parseApiError(400, JSON.stringify({ title: 'Bad', code: 'x', errors: [{ nope: 1 }] }));
  assert.deepEqual(err.errors, []);
});

test('falls back for plain text and HTML bodies', () => {
  const text = parseApiError(502, 'upstream timed out', 'Bad Gateway');
  assert.equal(text.code, 'http_502');
  assert.equal(text.title, 'Bad Gateway');
  assert.equal(text.detail, 'upstream timed out');

  const html = parseApiError(500, '<html><body>oops</body></html>');
  assert.equal(html.title, 'Server error');
  assert.equal(html.detail, undefined);

  const empty = parseApiError(404, '');
  assert.equal(empty.title, 'Not found');
  assert.equal(empty.code, 'http_404');
});

test('accepts JSON that is not a problem document', () => {
  const err = parseApiError(404, JSON.stringify({ error: 'Not Found' }));
  assert.equal(err.title, 'Not Found');
  assert.equal(err.code, 'http_404');
  assert.equal(err.status, 404);
  const arr = parseApiError(500, '[1,2]');
  assert.equal(arr.title, 'Server error');
});

test('errorMessage is readable for any thrown value', () => {
  assert.equal(errorMessage(new ApiError({ status: 403, code: 'banned', title: 'Banned' })), 'Banned');
  const denied = new Error('The operation either timed out or was not allowed.');
  denied.name = 'NotAllowedError';
  assert.match(errorMessage(denied), /passkey/);
  assert.equal(errorMessage('boom'), 'boom');
});
