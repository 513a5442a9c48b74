/** A minimal SSE client over fetch, collecting events so tests can wait for them. */
import { eventually } from '../../../media/test/api/signal-client.ts';

export interface SseEvent {
  event: string;
  data: string;
}

export interface SseClient {
  status: number;
  contentType: string;
  events: SseEvent[];
  comments: string[];
  /** Resolves when the server ended the stream. */
  ended: Promise<void>;
  next(event: string, filter?: (data: unknown) => boolean, timeoutMs?: number): Promise<unknown>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string>): Promise<SseClient> {
  const ac = new AbortController();
  const res = await fetch(url, { headers: { ...headers, accept: 'text/event-stream' }, signal: ac.signal });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let consumed = 0;
  const ended = (async () => {
    if (!res.body || !res.headers.get('content-type')?.startsWith('text/event-stream')) return;
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let i = buf.indexOf('\n\n');
        while (i >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
          }
          if (data.length) events.push({ event, data: data.join('\n') });
          i = buf.indexOf('\n\n');
        }
      }
    } catch {
      // aborted
    }
  })();
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    events,
    comments,
    ended,
    next: (event, filter = () => true, timeoutMs = 5000) =>
      eventually(
        () => {
          for (let k = consumed; k < events.length; k++) {
            if (events[k].event !== event) continue;
            const parsed = JSON.parse(events[k].data) as unknown;
            if (filter(parsed)) {
              consumed = k + 1;
              return parsed;
            }
          }
          return undefined;
        },
        timeoutMs,
        `SSE event ${event}`,
      ),
    close: () => ac.abort(),
  };
}
