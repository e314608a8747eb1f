import { api, apiKey } from '../api/client';
import { privateServer, signedIn } from '../api/sign-in';

/**
 * Signs in with the key just stored (SignInGate): the session cookie opens `<audio>` and the event
 * stream, which cannot send the key; the waiting reads go again. Throws when the key is refused.
 */
export async function signInWithStoredKey(): Promise<void> {
  const session = await api.startSession();
  privateServer.set(session.reads_private);
  signedIn();
}

/**
 * On a private server with a stored key: a fresh cookie (on each load, and before the event stream
 * reconnects), so it never expires under a viewer that is used. Elsewhere nothing is sent.
 */
export async function renewSession(): Promise<void> {
  if (!apiKey.get() || !privateServer.get()) return;
  try {
    await api.startSession();
  } catch {
    // A rotated or revoked key: the next read is refused and asks for the key again.
  }
}
