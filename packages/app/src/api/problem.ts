/**
 * Errors as RFC 9457 problem documents. Everything the app refuses is an `AppError` with a stable
 * machine-readable `code`; the API layer turns it into application/problem+json.
 */
import type { Problem } from './schemas.ts';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
};

export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 410 | 413 | 415 | 429 | 500 | 502;

export class AppError extends Error {
  constructor(
    readonly status: ErrorStatus,
    readonly code: string,
    detail?: string,
    readonly errors?: { path: string; message: string }[],
  ) {
    super(detail ?? code);
  }
}

export const badRequest = (code: string, detail?: string) => new AppError(400, code, detail);
export const unauthenticated = (detail = 'sign in first') => new AppError(401, 'unauthenticated', detail);
export const forbidden = (code: string, detail?: string) => new AppError(403, code, detail);
export const notFound = (code: string, detail?: string) => new AppError(404, code, detail);
export const conflict = (code: string, detail?: string) => new AppError(409, code, detail);
export const gone = (code: string, detail?: string) => new AppError(410, code, detail);

export function problemBody(
  status: number,
  code: string,
  detail?: string,
  errors?: { path: string; message: string }[],
): Problem {
  return {
    type: `https://sotto.dev/problems/${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    code,
    ...(detail ? { detail } : {}),
    ...(errors ? { errors } : {}),
  };
}

export function problemResponse(
  status: number,
  code: string,
  detail?: string,
  errors?: { path: string; message: string }[],
): Response {
  return new Response(JSON.stringify(problemBody(status, code, detail, errors)), {
    status,
    headers: { 'content-type': 'application/problem+json' },
  });
}
