// The payments API, as any portal frontend calls it: JSON, the ID token as a bearer token, and
// errors answered as {"error": "<code>", "message": "<text a payer can read>"}.

import { config } from "./config.js";
import { currentSession, expireSession } from "./session.js";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const SIGN_IN_AGAIN = "Your sign-in has expired or is no longer valid. Please sign in again.";
const UNREACHABLE = "We could not reach the payments service. Check your connection and try again.";
const INVOICE_CLOUD_UNAVAILABLE =
  "Invoice Cloud, our payment provider, is not answering. No money was taken. Please try again in a few minutes.";

/**
 * Call the API; resolves to {status, body} for a 2xx answer and rejects with an ApiError otherwise.
 * options: {body (sent as JSON), headers}.
 */
export async function api(method, path, { body, headers = {} } = {}) {
  const session = currentSession();
  if (!session) {
    expireSession(); // a session that ran out while the page was open: the header says so now
    throw new ApiError(401, "unauthorized", SIGN_IN_AGAIN);
  }
  const request = {
    method,
    headers: { Accept: "application/json", Authorization: `Bearer ${session.token}`, ...headers },
  };
  if (body !== undefined) {
    request.headers["Content-Type"] = "application/json";
    request.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`${config().apiBaseUrl}${path}`, request);
  } catch {
    throw new ApiError(0, "network_error", UNREACHABLE);
  }
  const answer = await response.json().catch(() => null);
  if (response.ok) {
    return { status: response.status, body: answer };
  }
  throw errorFrom(response.status, answer);
}

function errorFrom(status, answer) {
  const code = typeof answer?.error === "string" ? answer.error : `http_${status}`;
  if (status === 401) {
    expireSession();
    return new ApiError(401, "unauthorized", SIGN_IN_AGAIN);
  }
  if (code === "invoice_cloud_unavailable") {
    return new ApiError(status, code, INVOICE_CLOUD_UNAVAILABLE);
  }
  const message =
    typeof answer?.message === "string" && answer.message
      ? answer.message
      : `Something went wrong on our side (HTTP ${status}). Please try again.`;
  return new ApiError(status, code, message, answer?.details);
}

/** A fresh Idempotency-Key for one press of a button that starts a payment. */
function newIdempotencyKey() {
  if (typeof crypto.randomUUID === "function") {
    return crypto.randomUUID();
  }
  // crypto.randomUUID needs a secure context; getRandomValues works everywhere (RFC 9562, version 4).
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Start (or get back) a payment session for `invoices` ([{accountNumber, invoiceNumber}]).
 * Resolves to {reused, payment}: reused is true when the API handed back a session that was
 * already open for exactly these invoices (200) rather than a new one (201).
 */
export async function startPayment(invoices) {
  const { status, body } = await api("POST", "/payments", {
    body: { invoices },
    headers: { "Idempotency-Key": newIdempotencyKey() },
  });
  return { reused: status === 200, payment: body };
}

/** Send the browser to Invoice Cloud's hosted payment page (only ever an http(s) URL). */
export function goToInvoiceCloud(paymentUrl) {
  const url = new URL(paymentUrl);
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ApiError(0, "bad_payment_url", "The payment page address we received is not valid.");
  }
  window.location.assign(url.href);
}
