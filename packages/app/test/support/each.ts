/** Runs a suite once per database backend, each test on a fresh stack. */
import { after, describe } from 'node:test';
import { BACKENDS, type Backend, stopPostgres } from './postgres.ts';
import { type Stack, type StackOptions, startStack } from './stack.ts';

after(() => stopPostgres());

export function forEachBackend(
  title: string,
  suite: (stack: (opts?: StackOptions) => Promise<Stack>, backend: Backend) => void,
): void {
  for (const backend of BACKENDS) {
    describe(`${title} [${backend.name}]`, () => {
      suite((opts) => startStackFor(backend, opts), backend);
    });
  }
}

/** Starts a stack and closes it when the calling test ends (via the returned stack's close). */
async function startStackFor(backend: Backend, opts?: StackOptions): Promise<Stack> {
  return startStack(backend, opts);
}

/** Runs `fn` with a stack that is always closed afterwards. */
export async function withStack<T>(
  start: (opts?: StackOptions) => Promise<Stack>,
  fn: (s: Stack) => Promise<T>,
  opts?: StackOptions,
): Promise<T> {
  const s = await start(opts);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}
