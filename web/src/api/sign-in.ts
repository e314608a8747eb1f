// Signing in to a private server (AUTH_READS on the api): a read answered 401 `sign_in_required`
// waits here until the viewer has the key and a session cookie (components/SignInGate.vue), then is
// sent again. On a LAN install no read is ever refused, so nothing here runs.
import { ref } from 'vue';

/** A read is waiting for the key: SignInGate shows its form. */
export const signInNeeded = ref(false);

let waiting: (() => void)[] = [];
const listeners = new Set<() => void>();

/** Called after every sign-in (the event stream reconnects); returns the unsubscribe. */
export function onSignedIn(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Resolves once the viewer is signed in (the caller then repeats its request). */
export function waitForSignIn(): Promise<void> {
  signInNeeded.value = true;
  return new Promise((resolve) => waiting.push(resolve));
}

/** The key is stored and the session cookie set: every waiting read goes again. */
export function signedIn(): void {
  signInNeeded.value = false;
  const done = waiting;
  waiting = [];
  for (const resume of done) resume();
  for (const l of listeners) l();
}

const SESSION_FLAG = 'podbrain.session';

/** This browser signed in to a server whose reads are private (its cookie is renewed on each load). */
export const privateServer = {
  get: () => localStorage.getItem(SESSION_FLAG) === 'private',
  set: (isPrivate: boolean) => (isPrivate ? localStorage.setItem(SESSION_FLAG, 'private') : localStorage.removeItem(SESSION_FLAG)),
};
