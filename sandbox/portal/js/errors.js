// API errors as the payer should read them, with the way forward where there is one.

import { h, link, notice } from "./dom.js";

/** An error notice for `error` (an ApiError or any Error). `explain` may override by error code. */
export function errorNotice(error, explain = {}) {
  const special = explain[error?.code];
  if (special) {
    return notice("error", ...[special].flat());
  }
  if (error?.status === 401) {
    return notice("error", error.message, " ", link("#/signin", "Sign in again"));
  }
  if (error?.code === "registration_required") {
    return registrationRequired();
  }
  return notice("error", error?.message || "Something went wrong. Please try again.");
}

function registrationRequired() {
  return notice(
    "warning",
    h("strong", {}, "Link a utility account first. "),
    "To see and pay your bills here, link the accounts printed on your bill to your profile. ",
    link("#/register", "Link your accounts"),
  );
}

/** What starting a payment may answer, in the payer's words (see POST /payments). */
export const PAYMENT_ERRORS = {
  payment_in_progress: [
    h("strong", {}, "One of these invoices is already in another open payment session. "),
    "That session holds the invoice until it is paid or it expires (payment sessions stay open for 30 minutes). " +
      "Finish that payment, or try again after it expires. ",
    link("#/history", "See your payments"),
  ],
  request_in_progress: "We are still starting your payment from a moment ago. Wait a few seconds, then try again.",
};
