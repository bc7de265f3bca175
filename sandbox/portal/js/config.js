// Where this portal runs, from config.json beside index.html: which API it calls and how people
// sign in. The sandbox's own config.json (sandbox/portal/config.json) calls the API on the same
// origin and signs in with the sandbox's GET /dev/token; on a trial stack, `python -m tools portal`
// writes one from the stack's outputs: the API's address and Cognito's hosted sign-in (the
// authorization code with PKCE).

let loaded = null;

/** Read config.json once, before anything else runs; rejects with an Error a person can read. */
export async function loadConfig() {
  let response;
  try {
    response = await fetch("config.json", { cache: "no-store", headers: { Accept: "application/json" } });
  } catch {
    throw new Error("The portal could not load its settings. Check your connection and reload the page.");
  }
  const body = response.ok ? await response.json().catch(() => null) : null;
  const config = body && checked(body);
  if (!config) {
    throw new Error(`The portal's settings (config.json) are missing or not valid (HTTP ${response.status}).`);
  }
  loaded = config;
  return config;
}

/** {apiBaseUrl, billerTimeZone, signIn: {kind: "sandbox"} | {kind: "cognito", authority, clientId, redirectUri, scopes}} */
export function config() {
  if (!loaded) throw new Error("config.json was not loaded yet");
  return loaded;
}

/** The sandbox: its own sign-in (/dev/token) and mailbox (/dev/mailbox) exist. */
export function inSandbox() {
  return config().signIn.kind === "sandbox";
}

function checked(body) {
  const apiBaseUrl = typeof body.apiBaseUrl === "string" ? body.apiBaseUrl.replace(/\/+$/, "") : null;
  if (apiBaseUrl === null || (apiBaseUrl && !isHttpUrl(apiBaseUrl))) return null;
  // The biller's IANA zone (BILLER_TIME_ZONE): every time the portal shows is in it.
  const billerTimeZone = typeof body.billerTimeZone === "string" && body.billerTimeZone ? body.billerTimeZone : null;
  const signIn = body.signIn ?? {};
  if (signIn.kind === "sandbox") {
    return Object.freeze({ apiBaseUrl, billerTimeZone, signIn: Object.freeze({ kind: "sandbox" }) });
  }
  const scopes = Array.isArray(signIn.scopes) ? signIn.scopes.filter((scope) => typeof scope === "string") : [];
  if (
    signIn.kind !== "cognito" ||
    !isHttpUrl(signIn.authority) ||
    !isHttpUrl(signIn.redirectUri) ||
    typeof signIn.clientId !== "string" ||
    !signIn.clientId ||
    !scopes.includes("openid")
  ) {
    return null;
  }
  return Object.freeze({
    apiBaseUrl,
    billerTimeZone,
    signIn: Object.freeze({
      kind: "cognito",
      authority: signIn.authority.replace(/\/+$/, ""),
      clientId: signIn.clientId,
      redirectUri: signIn.redirectUri,
      scopes: Object.freeze(scopes),
    }),
  });
}

function isHttpUrl(value) {
  if (typeof value !== "string") return false;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}
