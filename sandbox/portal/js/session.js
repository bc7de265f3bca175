// Who is signed in. In production the portal gets an ID token from its OpenID Connect provider;
// in the sandbox GET /dev/token stands in for that sign-in. The token lives in sessionStorage:
// it survives the trip to Invoice Cloud and back in the same tab, and ends with the tab.

const STORAGE_KEY = "avocette.portal.session";
const RETURN_TO_KEY = "avocette.portal.returnTo";
const listeners = new Set();

function storedSession() {
  let session;
  try {
    session = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "null");
  } catch {
    session = null;
  }
  return session && typeof session.token === "string" ? session : null;
}

/** {token, sub, email, expiresAt} of the signed-in user, or null. */
export function currentSession() {
  const session = storedSession();
  return session && Date.now() < session.expiresAt ? session : null;
}

/** The session that ended without the user signing out (its token expired or was refused), or null. */
export function expiredSession() {
  const session = storedSession();
  return session && Date.now() >= session.expiresAt ? session : null;
}

/** The API refused the token: keep who it was (to say that the sign-in expired), but not as signed in. */
export function expireSession() {
  const session = storedSession();
  if (!session) return;
  if (Date.now() < session.expiresAt) {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ ...session, expiresAt: 0 }));
  }
  notify();
}

// When the token runs out while a page is open, everyone listening hears of it then, not at the next click.
let expiryTimer = null;
function watchExpiry() {
  clearTimeout(expiryTimer);
  const session = currentSession();
  if (session) {
    expiryTimer = setTimeout(notify, Math.min(2 ** 31 - 1, session.expiresAt - Date.now() + 50));
  }
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
  watchExpiry();
  for (const listener of listeners) listener(session);
}

watchExpiry();

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
