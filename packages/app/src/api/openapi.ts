/** Small builders for route definitions, so every route documents its body and its problems. */
import { z } from '@hono/zod-openapi';
import { Problem } from './schemas.ts';

const problems = {
  default: {
    content: { 'application/problem+json': { schema: Problem } },
    description: 'A problem document',
  },
} as const;

export const jsonBody = <T extends z.ZodType>(schema: T, required = true) => ({
  body: { content: { 'application/json': { schema } }, required },
});

export const ok = <T extends z.ZodType>(schema: T, description = 'OK') => ({
  200: { content: { 'application/json': { schema } }, description },
  ...problems,
});

export const created = <T extends z.ZodType>(schema: T, description = 'Created') => ({
  201: { content: { 'application/json': { schema } }, description },
  ...problems,
});

export const noContent = { 204: { description: 'No Content' }, ...problems };

export const eventStream = (description: string) => ({
  200: { content: { 'text/event-stream': { schema: z.string() } }, description },
  ...problems,
});

export const IdParam = z.object({ id: z.string().min(1).max(64) });
export const UsernameParam = z.object({ username: z.string().min(1).max(64) });
export const MemberParams = z.object({ id: z.string().min(1).max(64), userId: z.string().min(1).max(64) });
