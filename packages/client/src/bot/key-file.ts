/**
 * A bot's device key file on disk (Node): JSON (`DeviceFile`, device.ts) holding the device's
 * private keys, so it is created with mode 0600 (owner read/write only; a umask can only narrow
 * it) and never overwritten, and a file that its group or others can read or write is refused on
 * load (like ssh's private keys). Errors are DeviceFileError; messages never include the path.
 */
import { randomBytes } from 'node:crypto';
import { link, open, unlink } from 'node:fs/promises';
import { createDeviceFile, type DeviceFile, DeviceFileError, parseDeviceFile } from './device.ts';

export const KEY_FILE_MODE = 0o600;

function errno(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e
    ? String((e as { code: unknown }).code)
    : undefined;
}

/**
 * Writes `file` to `path` with mode 0600. The file must not exist yet: it is written to a
 * temporary file (0600) and then hard-linked into place, so `path` never holds a partial file
 * and an existing key file is never replaced (DeviceFileError('io') with cause EEXIST).
 */
export async function saveDeviceFile(path: string, file: DeviceFile): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(tmp, 'wx', KEY_FILE_MODE);
    try {
      await handle.writeFile(`${JSON.stringify(file, null, 2)}\n`, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(tmp, path);
  } catch (e) {
    throw new DeviceFileError(
      'io',
      errno(e) === 'EEXIST' ? 'a key file already exists there' : 'cannot write the key file',
      { cause: e },
    );
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/**
 * Reads a key file, refusing (DeviceFileError('unprotected')) one whose mode gives its group or
 * others any access; on Windows, where modes mean nothing, the check is skipped.
 */
export async function loadDeviceFile(path: string): Promise<DeviceFile> {
  let text: string;
  try {
    const handle = await open(path, 'r');
    try {
      const st = await handle.stat(); // of the opened file: no check-then-open race
      if (!st.isFile()) throw new DeviceFileError('bad_file', 'not a regular file');
      if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
        throw new DeviceFileError(
          'unprotected',
          `mode ${(st.mode & 0o777).toString(8)} lets others read it; chmod 600 it (or make a new device)`,
        );
      }
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (e) {
    if (e instanceof DeviceFileError) throw e;
    throw new DeviceFileError(
      'io',
      errno(e) === 'ENOENT' ? 'no key file there' : 'cannot read the key file',
      {
        cause: e,
      },
    );
  }
  return parseDeviceFile(text);
}

/** The key file at `path`, created (a new device, mode 0600) if there is none. */
export async function loadOrCreateDeviceFile(path: string): Promise<{ file: DeviceFile; created: boolean }> {
  try {
    return { file: await loadDeviceFile(path), created: false };
  } catch (e) {
    if (!(e instanceof DeviceFileError) || e.code !== 'io' || errno(e.cause) !== 'ENOENT') throw e;
  }
  const file = await createDeviceFile();
  try {
    await saveDeviceFile(path, file);
    return { file, created: true };
  } catch (e) {
    // another process created it meanwhile: use theirs
    if (e instanceof DeviceFileError && errno(e.cause) === 'EEXIST') {
      return { file: await loadDeviceFile(path), created: false };
    }
    throw e;
  }
}
