/**
 * Passkey ceremonies (WebAuthn, via @simplewebauthn/server). Challenges live server-side per
 * flowId for 5 minutes and are single use. Registration needs an unused invite code; sign-in uses
 * discoverable credentials, so no username is asked for.
 */
import { randomBytes } from 'node:crypto';
import {
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { AppError, badRequest, conflict } from '../api/problem.ts';
import type { CeremonyOptions, RegisterOptionsRequest } from '../api/schemas.ts';
import type { UserRow } from '../social/users.ts';
import { type Db, isUniqueViolation } from '../store/db.ts';
import { newId } from '../util/ids.ts';

const FLOW_TTL_MS = 5 * 60 * 1000;

/** Where the ceremony happens: the relying party id and the origins allowed to run it. */
export interface Party {
  rpName: string;
  rpId: string;
  origins: string[];
}

interface PendingUser {
  inviteCode: string;
  username: string;
  displayName: string;
  webauthnId: string;
}

export async function checkInvite(db: Db, code: string): Promise<void> {
  const invite = await db
    .selectFrom('invites')
    .select(['used_by'])
    .where('code', '=', code)
    .executeTakeFirst();
  if (!invite || invite.used_by !== null) throw badRequest('invalid_invite', 'unknown or used invite code');
}

export async function checkUsername(db: Db, username: string): Promise<void> {
  const taken = await db.selectFrom('users').select('id').where('username', '=', username).executeTakeFirst();
  if (taken) throw conflict('username_taken', 'that username is taken');
}

export async function registrationOptions(
  db: Db,
  party: Party,
  req: RegisterOptionsRequest,
): Promise<CeremonyOptions> {
  await checkInvite(db, req.inviteCode);
  await checkUsername(db, req.username);
  const webauthnId = randomBytes(16);
  const options = await generateRegistrationOptions({
    rpName: party.rpName,
    rpID: party.rpId,
    userName: req.username,
    userID: webauthnId,
    userDisplayName: req.displayName,
    attestationType: 'none',
    authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
  });
  const pending: PendingUser = { ...req, webauthnId: webauthnId.toString('base64url') };
  const flowId = await saveFlow(db, 'register', options.challenge, JSON.stringify(pending));
  return { flowId, options: options as unknown as Record<string, unknown> };
}

export async function verifyRegistration(
  db: Db,
  party: Party,
  flowId: string,
  response: Record<string, unknown>,
): Promise<UserRow> {
  const flow = await takeFlow(db, flowId, 'register');
  const pending = JSON.parse(flow.data) as PendingUser;
  let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verification = await verifyRegistrationResponse({
      response: response as unknown as RegistrationResponseJSON,
      expectedChallenge: flow.challenge,
      expectedOrigin: party.origins,
      expectedRPID: party.rpId,
      requireUserVerification: false,
    });
  } catch (err) {
    throw badRequest(
      'passkey_rejected',
      err instanceof Error ? err.message : 'invalid registration response',
    );
  }
  if (!verification.verified) throw badRequest('passkey_rejected', 'registration could not be verified');
  const { credential } = verification.registrationInfo;
  const now = Date.now();
  const user: UserRow = {
    id: newId('u'),
    username: pending.username,
    display_name: pending.displayName,
    bio: '',
    webauthn_id: pending.webauthnId,
    created_at: now,
  };
  await db
    .transaction()
    .execute(async (tx) => {
      // re-check both inside the transaction: the invite may have been spent meanwhile
      const spent = await tx
        .updateTable('invites')
        .set({ used_at: now })
        .where('code', '=', pending.inviteCode)
        .where('used_by', 'is', null)
        .where('used_at', 'is', null)
        .executeTakeFirst();
      if (Number(spent.numUpdatedRows) !== 1)
        throw badRequest('invalid_invite', 'the invite code was used meanwhile');
      await checkUsername(tx, pending.username);
      await tx.insertInto('users').values(user).execute();
      await tx
        .updateTable('invites')
        .set({ used_by: user.id })
        .where('code', '=', pending.inviteCode)
        .execute();
      await tx
        .insertInto('credentials')
        .values({
          id: credential.id,
          user_id: user.id,
          public_key: Buffer.from(credential.publicKey).toString('base64url'),
          counter: credential.counter,
          transports: JSON.stringify(credential.transports ?? []),
          created_at: now,
        })
        .execute();
    })
    .catch((err: unknown) => {
      // two sign-ups for one username at the same instant: the loser gets the same 409 as above
      if (isUniqueViolation(err)) throw conflict('username_taken', 'that username is taken');
      throw err;
    });
  return user;
}

export async function loginOptions(db: Db, party: Party): Promise<CeremonyOptions> {
  const options = await generateAuthenticationOptions({ rpID: party.rpId, userVerification: 'preferred' });
  const flowId = await saveFlow(db, 'login', options.challenge, '{}');
  return { flowId, options: options as unknown as Record<string, unknown> };
}

export async function verifyLogin(
  db: Db,
  party: Party,
  flowId: string,
  response: Record<string, unknown>,
): Promise<UserRow> {
  const flow = await takeFlow(db, flowId, 'login');
  const credentialId = typeof response.id === 'string' ? response.id : '';
  const cred = await db
    .selectFrom('credentials')
    .selectAll()
    .where('id', '=', credentialId)
    .executeTakeFirst();
  if (!cred) throw badRequest('passkey_rejected', 'unknown passkey');
  let verification: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
  try {
    verification = await verifyAuthenticationResponse({
      response: response as unknown as AuthenticationResponseJSON,
      expectedChallenge: flow.challenge,
      expectedOrigin: party.origins,
      expectedRPID: party.rpId,
      credential: {
        id: cred.id,
        publicKey: new Uint8Array(Buffer.from(cred.public_key, 'base64url')),
        counter: cred.counter,
        transports: JSON.parse(cred.transports) as AuthenticatorTransport[],
      },
      requireUserVerification: false,
    });
  } catch (err) {
    throw badRequest(
      'passkey_rejected',
      err instanceof Error ? err.message : 'invalid authentication response',
    );
  }
  if (!verification.verified) throw badRequest('passkey_rejected', 'sign-in could not be verified');
  await db
    .updateTable('credentials')
    .set({ counter: verification.authenticationInfo.newCounter })
    .where('id', '=', cred.id)
    .execute();
  const user = await db.selectFrom('users').selectAll().where('id', '=', cred.user_id).executeTakeFirst();
  if (!user) throw badRequest('passkey_rejected', 'unknown passkey');
  return user;
}

async function saveFlow(
  db: Db,
  kind: 'register' | 'login',
  challenge: string,
  data: string,
): Promise<string> {
  const now = Date.now();
  await db.deleteFrom('auth_flows').where('expires_at', '<', now).execute();
  const id = newId('flow', 18);
  await db
    .insertInto('auth_flows')
    .values({ id, kind, challenge, data, expires_at: now + FLOW_TTL_MS })
    .execute();
  return id;
}

/** Takes a flow out of the store (single use); unknown, expired or wrong-kind flows are refused. */
async function takeFlow(db: Db, id: string, kind: 'register' | 'login') {
  const flow = await db.selectFrom('auth_flows').selectAll().where('id', '=', id).executeTakeFirst();
  if (flow) await db.deleteFrom('auth_flows').where('id', '=', id).execute();
  if (!flow || flow.kind !== kind || flow.expires_at < Date.now())
    throw new AppError(400, 'unknown_flow', 'unknown or expired ceremony; start again');
  return flow;
}
