// Who is signed in. In production the portal gets an ID token from its OpenID Connect provider;
// on a trial stack from Cognito's hosted sign-in (the authorization code with PKCE, config.json's
// signIn); in the sandbox GET /dev/token stands in for that sign-in. The token lives in
// sessionStorage: it survives the trips to the sign-in and to Invoice Cloud and back in the same
// tab, and ends with the tab.

import { config } from "./config.js";

const STORAGE_KEY = "avocette.portal.session";
const RETURN_TO_KEY = "avocette.portal.returnTo";
const PENDING_SIGN_IN_KEY = "avocette.portal.pendingSignIn"; // the PKCE verifier and state, until the code returns
const listeners = new Set();
let signInProblem = null;

function storedSession() {
  const session = readJson(sessionStorage.getItem(STORAGE_KEY));
  return session && typeof session.token === "string" ? { ...session, name: session.name ?? session.sub } : null;
}

function readJson(text) {
  try {
    return JSON.parse(text ?? "null");
  } catch {
    return null;
  }
}

/** {token, sub, name (what the header shows), email, expiresAt} of the signed-in user, or null. */
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
  const claims = claimsOf(body.token);
  return keep(body.token, body.sub ?? sub, body.sub ?? sub, claims.email, body.expiresIn);
}

/** Go to the hosted sign-in (Cognito's), which comes back to config.json's redirectUri with a code. */
export async function startHostedSignIn() {
  const { signIn } = config();
  const verifier = randomText(32); // 43 characters (RFC 7636)
  const state = randomText(16);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  sessionStorage.setItem(PENDING_SIGN_IN_KEY, JSON.stringify({ verifier, state }));
  const url = new URL(`${signIn.authority}/oauth2/authorize`);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: signIn.clientId,
    redirect_uri: signIn.redirectUri,
    scope: signIn.scopes.join(" "),
    state,
    code_challenge: base64url(new Uint8Array(digest)),
    code_challenge_method: "S256",
  }).toString();
  window.location.assign(url.href);
}

/**
 * On every page load of a portal with a hosted sign-in: when the address carries the sign-in's answer
 * (?code=…&state=…, or ?error=…), take it out of the address (and the history), trade the code and
 * this tab's PKCE verifier for the tokens, and keep the ID token. Resolves to true when a sign-in
 * finished, false when there was nothing to finish; a failed one is kept for the sign-in page to say
 * (takeSignInProblem).
 */
export async function finishHostedSignIn() {
  const answer = new URLSearchParams(window.location.search);
  if (!answer.has("code") && !answer.has("error")) return false;
  window.history.replaceState(null, "", window.location.pathname + window.location.hash);
  const pending = readJson(sessionStorage.getItem(PENDING_SIGN_IN_KEY));
  sessionStorage.removeItem(PENDING_SIGN_IN_KEY);
  try {
    if (answer.has("error")) {
      const why = answer.get("error_description") || answer.get("error");
      throw new Error(`The sign-in did not finish (${why}). Please sign in again.`);
    }
    if (!pending || typeof pending.verifier !== "string" || answer.get("state") !== pending.state) {
      throw new Error("That sign-in was not started from this tab. Please sign in again.");
    }
    const { signIn } = config();
    let response;
    try {
      response = await fetch(`${signIn.authority}/oauth2/token`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          client_id: signIn.clientId,
          code: answer.get("code"),
          redirect_uri: signIn.redirectUri,
          code_verifier: pending.verifier,
        }).toString(),
      });
    } catch {
      throw new Error("We could not reach the sign-in service. Check your connection and sign in again.");
    }
    const tokens = await response.json().catch(() => ({}));
    if (!response.ok || typeof tokens.id_token !== "string") {
      throw new Error("The sign-in service did not accept this sign-in. Please sign in again.");
    }
    const claims = claimsOf(tokens.id_token);
    if (typeof claims.sub !== "string" || !claims.sub) {
      throw new Error("The sign-in service answered without saying who you are. Please sign in again.");
    }
    keep(tokens.id_token, claims.sub, claims.email || claims["cognito:username"] || claims.sub, claims.email, tokens.expires_in);
    return true;
  } catch (error) {
    signInProblem = error.message;
    return false;
  }
}

/** Why the last hosted sign-in failed, once; null when it did not. */
export function takeSignInProblem() {
  const problem = signInProblem;
  signInProblem = null;
  return problem;
}

/** Forget the sign-in; answers where to go next: the hosted sign-in's sign-out, or null (the sandbox). */
export function signOut() {
  sessionStorage.removeItem(STORAGE_KEY);
  notify();
  const { signIn } = config();
  if (signIn.kind !== "cognito") return null;
  const url = new URL(`${signIn.authority}/logout`);
  url.search = new URLSearchParams({ client_id: signIn.clientId, logout_uri: signIn.redirectUri }).toString();
  return url.href;
}

function keep(token, sub, name, email, expiresIn) {
  const lifetimeSeconds = Number.isFinite(expiresIn) ? expiresIn : 3600;
  const session = {
    token,
    sub,
    name,
    email: email ?? "",
    expiresAt: Date.now() + (lifetimeSeconds - 30) * 1000,
  };
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  notify();
  return session;
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

function randomText(length) {
  return base64url(crypto.getRandomValues(new Uint8Array(length)));
}

function base64url(bytes) {
  const text = Array.from(bytes, (byte) => String.fromCharCode(byte)).join("");
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The claims of a JWT, read only to show who is signed in; the API checks the signature. */
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
