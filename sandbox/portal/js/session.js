// Who is signed in. In production the portal gets an ID token from its OpenID Connect provider;
// in the sandbox GET /dev/token stands in for that sign-in. The token lives in sessionStorage:
// it survives the trip to Invoice Cloud and back in the same tab, and ends with the tab.

const STORAGE_KEY = "avocette.portal.session";
const RETURN_TO_KEY = "avocette.portal.returnTo";
const listeners = new Set();

/** {token, sub, email, expiresAt} of the signed-in user, or null. */
export function currentSession() {
  let session;
  try {
    session = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "null");
  } catch {
    session = null;
  }
  if (!session || typeof session.token !== "string" || Date.now() >= session.expiresAt) {
    return null;
  }
  return session;
}

/** Sign in as `sub` with the sandbox's token issuer; resolves to the new session. */
export async function signIn(sub) {
  const response = await fetch(`/dev/token?sub=${encodeURIComponent(sub)}`, {
    headers: { Accept: "application/json" },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || typeof body.token !== "string") {
    throw new Error(body.message || `The sandbox did not issue a token (HTTP ${response.status}).`);
  }
  const lifetimeSeconds = Number.isFinite(body.expiresIn) ? body.expiresIn : 3600;
  const session = {
    token: body.token,
    sub: body.sub ?? sub,
    email: claimsOf(body.token).email ?? "",
    expiresAt: Date.now() + (lifetimeSeconds - 30) * 1000,
  };
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  notify();
  return session;
}

export function signOut() {
  sessionStorage.removeItem(STORAGE_KEY);
  notify();
}

/** Call `listener(session)` whenever someone signs in or out. */
export function onSessionChange(listener) {
  listeners.add(listener);
}

/** Remember where to go after signing in (e.g. the return page a payer came back to). */
export function rememberReturnTo(hash) {
  sessionStorage.setItem(RETURN_TO_KEY, hash);
}

/** Where to go after signing in; forgotten once read. */
export function takeReturnTo() {
  const hash = sessionStorage.getItem(RETURN_TO_KEY);
  sessionStorage.removeItem(RETURN_TO_KEY);
  return hash;
}

function notify() {
  const session = currentSession();
  for (const listener of listeners) listener(session);
}

/** The claims of a JWT, read only to show the user's email; the API checks the signature. */
function claimsOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, "=")), (c) =>
      c.charCodeAt(0),
    );
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}
