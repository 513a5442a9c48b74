/** Passkey sign-up and sign-in over the app's options/verify routes (and the dev shortcut). */

import {
  browserSupportsWebAuthn,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  startAuthentication,
  startRegistration,
} from '@simplewebauthn/browser';
import type { Me } from '@sotto/app/api';
import { SottoApi } from './api.ts';

export { browserSupportsWebAuthn };

export interface SignUpInput {
  inviteCode: string;
  username: string;
  displayName: string;
}

/** Creates an account: checks the invite and username, creates a passkey, verifies it. Sets the session cookie. */
export async function signUp(input: SignUpInput, api: SottoApi = new SottoApi()): Promise<Me> {
  const { flowId, options } = await api.registerOptions(input);
  const response = await startRegistration({
    optionsJSON: options as unknown as PublicKeyCredentialCreationOptionsJSON,
  });
  return api.registerVerify({ flowId, response: response as unknown as Record<string, unknown> });
}

/** Signs in with a discoverable passkey (no username needed). Sets the session cookie. */
export async function signIn(api: SottoApi = new SottoApi()): Promise<Me> {
  const { flowId, options } = await api.loginOptions();
  const response = await startAuthentication({
    optionsJSON: options as unknown as PublicKeyCredentialRequestOptionsJSON,
  });
  return api.loginVerify({ flowId, response: response as unknown as Record<string, unknown> });
}

/** Dev servers only (404 `not_found` elsewhere): signs in as `username`, creating the account if new. */
export function devSignIn(
  username: string,
  displayName?: string,
  api: SottoApi = new SottoApi(),
): Promise<Me> {
  return api.devSignIn(displayName ? { username, displayName } : { username });
}
