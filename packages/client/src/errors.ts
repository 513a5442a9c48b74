import type { Problem } from '@sotto/app/api';

export type FieldError = { path: string; message: string };

/** A non-2xx answer from the app API, parsed from its application/problem+json body. */
export class ApiError extends Error {
  readonly status: number;
  /** Machine-readable reason (e.g. `room_full`); `http_<status>` when the body was not a problem document. */
  readonly code: string;
  readonly title: string;
  readonly detail: string | undefined;
  readonly errors: FieldError[];

  constructor(init: { status: number; code: string; title: string; detail?: string; errors?: FieldError[] }) {
    super(init.detail ? `${init.title}: ${init.detail}` : init.title);
    this.name = 'ApiError';
    this.status = init.status;
    this.code = init.code;
    this.title = init.title;
    this.detail = init.detail;
    this.errors = init.errors ?? [];
  }

  /** A sentence for people: the detail if there is one, else the title. */
  get readable(): string {
    if (this.errors.length > 0) {
      const fields = this.errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ');
      return this.detail ? `${this.detail} (${fields})` : `${this.title} (${fields})`;
    }
    return this.detail ?? this.title;
  }
}

const STATUS_TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'You need to sign in',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict',
  410: 'Gone',
  413: 'Too large',
  429: 'Too many requests',
  500: 'Server error',
  502: 'The server is unreachable',
  503: 'The server is unavailable',
  504: 'The server took too long to answer',
};

function isFieldErrors(v: unknown): v is FieldError[] {
  return (
    Array.isArray(v) &&
    v.every(
      (e) =>
        typeof e === 'object' &&
        e !== null &&
        typeof (e as FieldError).path === 'string' &&
        typeof (e as FieldError).message === 'string',
    )
  );
}

/**
 * Builds an ApiError from a response's status and raw body text. Accepts problem documents, falls
 * back gracefully for JSON that is not one (e.g. `{ "error": "…" }`) and for plain text or HTML.
 */
export function parseApiError(status: number, body: string, statusText = ''): ApiError {
  const fallbackTitle = statusText || STATUS_TITLES[status] || `Request failed (${status})`;
  let parsed: unknown;
  try {
    parsed = body ? JSON.parse(body) : undefined;
  } catch {
    parsed = undefined;
  }
  if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
    const p = parsed as Partial<Problem> & { error?: unknown; message?: unknown };
    const title =
      typeof p.title === 'string' && p.title
        ? p.title
        : typeof p.message === 'string' && p.message
          ? p.message
          : typeof p.error === 'string' && p.error
            ? p.error
            : fallbackTitle;
    return new ApiError({
      status: typeof p.status === 'number' ? p.status : status,
      code: typeof p.code === 'string' && p.code ? p.code : `http_${status}`,
      title,
      detail: typeof p.detail === 'string' && p.detail ? p.detail : undefined,
      errors: isFieldErrors(p.errors) ? p.errors : undefined,
    });
  }
  const text = body.trim();
  // A short plain-text body is worth showing; an HTML error page is not.
  const detail = text && text.length <= 300 && !text.startsWith('<') ? text : undefined;
  return new ApiError({ status, code: `http_${status}`, title: fallbackTitle, detail });
}

/** Any thrown value as a sentence for people. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.readable;
  if (err instanceof Error) {
    if (err.name === 'NotAllowedError') return 'The passkey request was cancelled or timed out.';
    if (err.name === 'AbortError') return 'The request was cancelled.';
    if (err instanceof TypeError && /fetch|network/i.test(err.message)) {
      return 'Could not reach the server. Check your connection and try again.';
    }
    return err.message || String(err);
  }
  return String(err);
}
