// Key files on disk (key-file.ts): created with mode 0600 and never overwritten; a file others can
// read is refused; load-or-create makes one device and then keeps loading it.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createDeviceFile, DeviceFileError } from './device.ts';
import { KEY_FILE_MODE, loadDeviceFile, loadOrCreateDeviceFile, saveDeviceFile } from './key-file.ts';

const posix = process.platform !== 'win32';

function isFileError(code: string) {
  return (e: unknown) => e instanceof DeviceFileError && e.code === code;
}

describe('bot key file on disk', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sotto-keyfile-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('saved with mode 0600, loaded back, never overwritten', { skip: !posix }, async () => {
    const path = join(dir, 'bot.key.json');
    const file = await createDeviceFile();
    await saveDeviceFile(path, file);
    assert.equal((await stat(path)).mode & 0o777, KEY_FILE_MODE);
    assert.deepEqual(await loadDeviceFile(path), file);
    await assert.rejects(saveDeviceFile(path, await createDeviceFile()), isFileError('io'));
    assert.deepEqual(await loadDeviceFile(path), file, 'the first file is kept');
    assert.deepEqual(await readdir(dir), ['bot.key.json'], 'no temporary file left behind');
  });

  test('a key file others can read (or write) is refused', { skip: !posix }, async () => {
    const path = join(dir, 'loose.key.json');
    await saveDeviceFile(path, await createDeviceFile());
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      await chmod(path, mode);
      await assert.rejects(loadDeviceFile(path), isFileError('unprotected'), mode.toString(8));
    }
    await chmod(path, 0o400);
    await loadDeviceFile(path); // read-only for the owner is fine
  });

  test('load-or-create: one device, then the same one; bad files are typed errors', async () => {
    const path = join(dir, 'auto.key.json');
    const first = await loadOrCreateDeviceFile(path);
    assert.equal(first.created, true);
    if (posix) assert.equal((await stat(path)).mode & 0o777, KEY_FILE_MODE);
    const second = await loadOrCreateDeviceFile(path);
    assert.equal(second.created, false);
    assert.equal(second.file.deviceId, first.file.deviceId);
    await assert.rejects(loadDeviceFile(join(dir, 'missing.json')), isFileError('io'));
    const junk = join(dir, 'junk.json');
    await writeFile(junk, 'not json', { mode: 0o600 });
    await assert.rejects(loadDeviceFile(junk), isFileError('bad_file'));
    await assert.rejects(loadOrCreateDeviceFile(junk), isFileError('bad_file'));
    await assert.rejects(loadDeviceFile(dir), (e: unknown) => e instanceof DeviceFileError);
  });
});
