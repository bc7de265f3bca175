// The return page (#/return/<paymentId>): where Invoice Cloud's receipt sends the payer back.
// It follows the payment until its result is final or its session has ended, says what happened in
// plain words, offers another try after a decline, and shows the printable receipt of a payment
// that moved money. Every value from the API is inserted as text (dom.js).

import { api, goToInvoiceCloud, startPayment } from "../api.js";
import { facts, h, heading, link, mount, notice } from "../dom.js";
import { errorNotice, PAYMENT_ERRORS } from "../errors.js";
import { dollars, formatCents, formatMoment, sessionDeadlines, toCents } from "../format.js";

// Polling: soon at first (the result usually arrives within seconds of the payer's return), then
// less and less often; never while the tab is hidden, never after the page is left, and never past
// the payment session's end (nothing new can be paid after it) or POLL_FOR_MS.
const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30_000;
const BACKOFF = 1.6;
const POLL_FOR_MS = 35 * 60_000; // a payment session lasts 30 minutes
const SESSION_END_MARGIN_MS = 1000;

/** Statuses in which the payer may still pay on Invoice Cloud's page, until the session ends. */
const HOLDING_SESSION = new Set(["CREATED", "PENDING", "DECLINED"]);

export const STATUS_LABELS = {
  CREATED: "Starting",
  PENDING: "Waiting for confirmation",
  DECLINED: "Declined",
  APPROVED: "Approved",
  NEEDS_REVIEW: "Being checked",
  FAILED: "Failed",
  EXPIRED: "Expired",
  REVERSED: "Reversed",
  CLOSED: "Closed",
};

/** A status in words; an unknown one as it is. */
export function statusLabel(status) {
  return STATUS_LABELS[status] ?? String(status ?? "Unknown");
}

const REVERSAL_KINDS = {
  VOID: "Payment voided",
  REFUND: "Payment refunded",
  ACH_RETURN: "Bank payment returned",
  CHARGEBACK: "Chargeback",
  CHARGEBACK_REVERSAL: "Chargeback reversed",
};

// The one kind that gives money back (the biller won the dispute): it counts against what was reversed.
const RESTORING = "CHARGEBACK_REVERSAL";

export async function render({ view, params: [paymentId], signal }) {
  const title = heading("Your payment");
  title.classList.add("no-print");
  const slots = {
    status: h("div", { class: "payment-status no-print" }),
    progress: h("div", { class: "no-print", "aria-live": "polite" }),
    details: h("div", { class: "payment-details" }),
  };
  mount(view, title, slots.status, slots.progress, slots.details);
  await follow({ paymentId, slots, signal, shown: "" });
}

function fetchPayment(paymentId) {
  return api("GET", `/payments/${encodeURIComponent(paymentId)}`).then(({ body }) => body);
}

/**
 * Where the page stands with `payment`: "final" (the server says so), "ended" (still open at the
 * server, but its payment session has passed: nothing new can be paid, so the page stops waiting)
 * or "open" (worth checking again soon).
 */
function stateOf(payment) {
  if (payment.final) return "final";
  if (HOLDING_SESSION.has(payment.status) && untilSessionEnds(payment) <= 0) return "ended";
  return "open";
}

/** Milliseconds until the payment session ends, by this device's clock (Infinity if unknown). */
function untilSessionEnds(payment) {
  const end = Date.parse(payment.sessionExpiresAt);
  return Number.isNaN(end) ? Infinity : end - Date.now();
}

/**
 * Poll GET /payments/{id} until the payment is final, its session has ended, the page is left, or
 * POLL_FOR_MS has passed. `first`: a payment just fetched, shown before the first pause.
 */
async function follow(page, first = null) {
  const { paymentId, slots, signal } = page;
  const started = Date.now();
  let delay = FIRST_DELAY_MS;
  let payment = first;
  if (!payment) mount(slots.progress, waiting("Checking your payment…"));
  for (;;) {
    if (!payment) {
      try {
        payment = await fetchPayment(paymentId);
      } catch (error) {
        if (signal.aborted) return;
        const transient = error.status === 0 || error.status >= 500;
        if (!transient || Date.now() - started >= POLL_FOR_MS) {
          mount(slots.progress);
          mount(slots.status, errorNotice(error, { payment_not_found: notFound() }));
          return;
        }
        await pause(delay, signal);
        if (signal.aborted) return;
        delay = Math.min(MAX_DELAY_MS, delay * BACKOFF);
        continue;
      }
      if (signal.aborted) return;
    }
    const state = stateOf(payment);
    const fingerprint = `${state} ${JSON.stringify(payment)}`;
    if (fingerprint !== page.shown) {
      if (page.shown) delay = FIRST_DELAY_MS; // something moved: look again soon
      show(page, payment, state);
    }
    if (state !== "open") return;
    if (Date.now() - started >= POLL_FOR_MS) {
      mount(slots.progress, stoppedChecking(page, payment));
      return;
    }
    // Wake up when the session ends, too, to stop waiting then rather than up to MAX_DELAY_MS later.
    await pause(Math.min(delay, Math.max(0, untilSessionEnds(payment) + SESSION_END_MARGIN_MS)), signal);
    if (signal.aborted) return;
    delay = Math.min(MAX_DELAY_MS, delay * BACKOFF);
    payment = null;
  }
}

/** Draw the payment in its state; `checkedAt`: when the payer last asked to check again. */
function show(page, payment, state, checkedAt = null) {
  page.shown = `${state} ${JSON.stringify(payment)}`;
  mount(page.slots.status, statusPanel(page, payment, state, checkedAt));
  mount(page.slots.details, hasReceipt(payment) ? receipt(payment) : summary(payment));
  mount(page.slots.progress, state === "open" ? waiting(WAITING_TEXT[payment.status] ?? WAITING_TEXT.PENDING) : null);
}

/** Wait `milliseconds`, and then for the tab to be visible again; cut short when the page is left. */
function pause(milliseconds, signal) {
  return new Promise((resolve) => {
    let timer = null;
    const done = () => {
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", whenVisible);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const whenVisible = () => {
      if (!document.hidden) done();
    };
    signal.addEventListener("abort", done, { once: true });
    timer = setTimeout(() => {
      if (document.hidden) {
        document.addEventListener("visibilitychange", whenVisible);
      } else {
        done();
      }
    }, milliseconds);
  });
}

const WAITING_TEXT = {
  CREATED: "Checking for the result…",
  PENDING: "Checking for the result…",
  DECLINED: "This page keeps checking, in case another try goes through…",
};

function waiting(text) {
  return h("p", { class: "waiting" }, h("span", { class: "spinner", "aria-hidden": "true" }), text);
}

/** The page polled for POLL_FOR_MS without a final result (the session still open). */
function stoppedChecking(page, payment) {
  const text =
    payment.status === "DECLINED"
      ? "This page has stopped checking for another try. If you paid again at Invoice Cloud, check again."
      : "We have not heard the final result from Invoice Cloud yet. It can take a few minutes. " +
        "Please do not pay again.";
  return notice(payment.status === "DECLINED" ? "info" : "warning", h("p", {}, text), checkAgain(page, null));
}

/** "Check again": one request, then the page as it stands (following it again if still open). */
function checkAgain(page, checkedAt) {
  const problem = h("div", { class: "status-slot" });
  const button = h("button", { type: "button", class: "button-secondary check-again" }, "Check again");
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = "Checking…";
    mount(problem);
    let payment;
    try {
      payment = await fetchPayment(page.paymentId);
    } catch (error) {
      if (page.signal.aborted) return;
      mount(problem, errorNotice(error, { payment_not_found: notFound() }));
      button.disabled = false;
      button.textContent = "Check again";
      return;
    }
    if (page.signal.aborted) return;
    const state = stateOf(payment);
    show(page, payment, state, new Date());
    const slots = page.slots;
    (slots.status.querySelector(".check-again") ?? slots.status.querySelector(".notice-title"))?.focus();
    if (state === "open") await follow(page, payment);
  });
  const checked = checkedAt ? `Last checked ${formatMoment(checkedAt.toISOString())}.` : null;
  return [h("div", { class: "actions" }, button), checked ? h("p", { class: "hint" }, checked) : null, problem];
}

function notFound() {
  return ["We could not find this payment. ", link("#/history", "See your payment history")];
}

// ---- the result, in the payer's words ----------------------------------------------------------

function statusPanel(page, payment, state, checkedAt) {
  const message = payment.statusMessage;
  if (state === "ended") {
    return payment.status === "DECLINED"
      ? panel(
          "error",
          "Payment declined",
          "Your payment was declined and the payment session has ended. No money was taken.",
          newPaymentLink(),
          checkAgain(page, checkedAt),
        )
      : sessionEndedPanel(page, payment, checkedAt);
  }
  switch (payment.status) {
    case "APPROVED":
      return panel(
        "success",
        "Payment approved",
        message,
        // The server's message says how much was reversed; the receipt lists each reversal.
        hasReversals(payment) ? "What happened is listed on the receipt below." : null,
        "Your receipt is below. You can print it or save it as a PDF.",
      );
    case "DECLINED":
      return payment.final ? panel("error", "Payment declined", message, newPaymentLink()) : declinedPanel(payment);
    case "NEEDS_REVIEW":
      return panel(
        "warning",
        "We are checking this payment",
        message,
        "Your invoices stay reserved for this payment while we check.",
        "The result will show here and in your payment history when we have finished. " +
          "If you contact us about it, quote the reference below.",
        checkAgain(page, checkedAt),
      );
    case "FAILED":
      return panel("error", "The payment could not be started", message, newPaymentLink());
    case "EXPIRED":
      return panel("info", "Payment session ended", message, "Your invoices can be paid again.", newPaymentLink());
    case "CLOSED":
      return panel(
        "info",
        "Payment closed",
        message,
        "Any invoice of this payment that is still due can be paid again.",
        payBillsLink(),
      );
    case "REVERSED":
      return panel(
        "error",
        "Payment reversed",
        // The server's message already says the invoices are due again (and so do the reversals).
        message,
        hasReversals(payment) ? "What happened is listed below." : null,
        payBillsLink(),
      );
    case "CREATED":
      return panel("info", "Setting up your payment", message);
    case "PENDING":
      return panel(
        "info",
        "Waiting for confirmation",
        message,
        "If you paid on Invoice Cloud's page, this usually takes a few seconds. Please do not pay again.",
        continueOffer(payment),
      );
    default:
      return panel("info", payment.final ? "Your payment" : "Waiting for confirmation", message);
  }
}

/** Still CREATED or PENDING at the server, but the session is over: the page stops waiting. */
function sessionEndedPanel(page, payment, checkedAt) {
  return panel(
    "info",
    "Your payment session has ended",
    `The payment session ended on ${formatMoment(payment.sessionExpiresAt, payment.billerTimeZone)}, and Invoice Cloud has not ` +
      "reported a payment for it yet.",
    "If you paid on Invoice Cloud's page, the result will show here once Invoice Cloud reports it: " +
      "please do not pay again in the meantime. If you did not pay, no money was taken.",
    "This page has stopped checking.",
    checkAgain(page, checkedAt),
  );
}

function panel(kind, title, ...paragraphs) {
  return notice(
    kind,
    h("h2", { class: "notice-title", tabindex: "-1" }, title),
    paragraphs.filter(Boolean).map((paragraph) => (typeof paragraph === "string" ? h("p", {}, paragraph) : paragraph)),
  );
}

function newPaymentLink() {
  return h("p", {}, link("#/pay", "Start a new payment"));
}

function payBillsLink() {
  return h("p", {}, link("#/pay", "Pay bills"));
}

/** A payer who left Invoice Cloud's page before paying may go back to it while the session is open. */
function continueOffer(payment) {
  if (!present(payment.paymentUrl)) return null;
  return [
    h(
      "p",
      {},
      "If you left Invoice Cloud's page before paying, you can continue there until " +
        `${formatMoment(payment.sessionExpiresAt, payment.billerTimeZone)}.`,
    ),
    h(
      "button",
      { type: "button", class: "button-secondary", onClick: () => goToInvoiceCloud(payment.paymentUrl) },
      "Continue on Invoice Cloud",
    ),
  ];
}

function declinedPanel(payment) {
  const status = h("div", { class: "status-slot" });
  const button = h("button", { type: "button", class: "button-primary" }, "Try again");
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = "Opening Invoice Cloud…";
    mount(status);
    if (present(payment.paymentUrl)) {
      goToInvoiceCloud(payment.paymentUrl); // the same open session, straight back to it
      return;
    }
    try {
      const invoices = payment.invoices.map(({ accountNumber, invoiceNumber }) => ({ accountNumber, invoiceNumber }));
      const { payment: session } = await startPayment(invoices);
      goToInvoiceCloud(session.paymentUrl);
    } catch (error) {
      mount(status, errorNotice(error, PAYMENT_ERRORS));
      button.disabled = false;
      button.textContent = "Try again";
    }
  });
  return panel(
    "error",
    "Payment declined",
    payment.statusMessage,
    sessionDeadlines(payment),
    button,
    status,
  );
}

// ---- what the payment is for, while it has no receipt -------------------------------------------

const ENDED_LABELS = { EXPIRED: "Ended", FAILED: "Ended", DECLINED: "Ended", CLOSED: "Closed" };

function summary(payment) {
  const holding = HOLDING_SESSION.has(payment.status) && !payment.final;
  const sessionLabel = untilSessionEnds(payment) > 0 ? "Session open until" : "Session ended";
  const endedLabel = payment.status === "NEEDS_REVIEW" ? null : (ENDED_LABELS[payment.status] ?? "Completed");
  return h(
    "section",
    { class: "panel no-print", "aria-labelledby": "summary-title" },
    h("h2", { id: "summary-title" }, "Payment details"),
    referenceLine(payment),
    facts([
      ["Status", statusLabel(payment.status)],
      ["Started", formatMoment(payment.createdAt, payment.billerTimeZone)],
      [sessionLabel, holding ? moment(payment.sessionExpiresAt, payment.billerTimeZone) : null],
      [endedLabel, endedLabel ? moment(payment.completedAt, payment.billerTimeZone) : null],
      ["Amount", amountText(payment.amountDue)],
      ["Amount paid", amountText(payment.amountPaid)],
      ["Payment method", methodText(payment)],
      ["Authorization", present(payment.authorization)],
    ]),
    invoiceTable(payment, false),
    reversalsSection(payment),
    technicalReferences(payment),
  );
}

// ---- the printable receipt ---------------------------------------------------------------------

/** A receipt for a payment that moved money: approved, or reversed since. */
function hasReceipt(payment) {
  return payment.status === "APPROVED" || (payment.status === "REVERSED" && present(payment.amountPaid) !== null);
}

function receipt(payment) {
  // Absent amounts are zero here (no fee charged, nothing paid yet); one that is not an amount is
  // shown as it is, without a total.
  // amountPaid is what stands after reversals: what was charged is that and what was reversed.
  const paidCents = present(payment.amountPaid) === null ? 0 : centsOf(payment.amountPaid);
  const feeCents = present(payment.convenienceFee) === null ? 0 : centsOf(payment.convenienceFee);
  const reversed = reversedCents(payment);
  const totals =
    paidCents === null || feeCents === null || reversed === null
      ? [
          ["Amount paid", amountText(payment.amountPaid)],
          ["Convenience fee", amountText(payment.convenienceFee)],
        ]
      : [
          ["Amount paid", formatCents(paidCents + reversed)],
          ["Convenience fee", formatCents(feeCents)],
          ["Total charged", formatCents(paidCents + reversed + feeCents)],
          ...(reversed
            ? [
                ["Reversed", formatCents(-reversed)],
                ["Paid after reversals", formatCents(paidCents)],
              ]
            : []),
        ];
  return h(
    "section",
    { class: "panel receipt", "aria-labelledby": "receipt-title" },
    h(
      "header",
      { class: "receipt-header" },
      h("p", { class: "receipt-biller" }, payment.billerName),
      h("h2", { id: "receipt-title" }, "Payment receipt"),
    ),
    referenceLine(payment),
    facts([
      ["Paid to", payment.billerName],
      ["Date", formatMoment(payment.completedAt ?? payment.createdAt, payment.billerTimeZone)],
      ["Payment method", methodText(payment)],
      ["Authorization", present(payment.authorization)],
      ["Status", statusLabel(payment.status)],
    ]),
    invoiceTable(payment, true),
    facts(totals, "facts totals"),
    reversalsSection(payment),
    technicalReferences(payment),
    h(
      "p",
      { class: "receipt-note" },
      "The convenience fee is charged by Invoice Cloud, our payment provider. Keep this receipt for your records.",
    ),
    h(
      "div",
      { class: "actions no-print" },
      h("button", { type: "button", class: "button-primary", onClick: () => window.print() }, "Print receipt"),
      link("#/history", "Payment history"),
    ),
  );
}

/** The short reference a payer reads and quotes, first on the receipt and the summary. */
function referenceLine(payment) {
  const reference = present(payment.receiptReference);
  if (reference === null) return null;
  return h(
    "p",
    { class: "receipt-reference" },
    h("span", { class: "receipt-reference-label" }, "Reference"),
    h("strong", { id: "receipt-reference" }, reference),
  );
}

/** The full identifiers, below: what support and Invoice Cloud look payments up by. */
function technicalReferences(payment) {
  return h(
    "section",
    { class: "technical-references", "aria-labelledby": "technical-references-title" },
    h("h3", { id: "technical-references-title" }, "Technical references"),
    facts([["Payment ID", payment.paymentId], icPaymentIds(payment)], "facts facts-technical"),
  );
}

function icPaymentIds(payment) {
  const ids = Array.isArray(payment.invoiceCloudPaymentIds) ? payment.invoiceCloudPaymentIds : [];
  const label = ids.length > 1 ? "Invoice Cloud payment IDs" : "Invoice Cloud payment ID";
  return [label, ids.length ? ids.join(", ") : null];
}

function methodText(payment) {
  const cardType = present(payment.cardType);
  if (payment.paymentMethod === "ACH") return "Bank account (ACH)";
  if (payment.paymentMethod === "CARD") return cardType ? `Card (${cardType})` : "Card";
  return cardType;
}

function invoiceTable(payment, withPaid) {
  const invoices = Array.isArray(payment.invoices) ? payment.invoices : [];
  return h(
    "table",
    { class: "lines" },
    h("caption", {}, "Invoices"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Invoice"),
        h("th", { scope: "col", class: "num" }, "Amount due"),
        withPaid ? h("th", { scope: "col", class: "num" }, "Amount paid") : null,
      ),
    ),
    h(
      "tbody",
      {},
      invoices.map((invoice) =>
        h(
          "tr",
          {},
          h(
            "th",
            { scope: "row" },
            h("span", { class: "invoice-number" }, invoice.invoiceNumber),
            h("span", { class: "cell-note" }, "Account ", h("span", { class: "account-number" }, invoice.accountNumber)),
          ),
          h("td", { class: "num" }, amountText(invoice.amountDue)),
          withPaid ? paidCell(invoice) : null,
        ),
      ),
    ),
  );
}

function paidCell(invoice) {
  const cents = present(invoice.amountPaid) === null ? 0 : centsOf(invoice.amountPaid);
  if (cents === null) return h("td", { class: "num" }, amountText(invoice.amountPaid));
  const note = cents === 0 ? h("span", { class: "cell-note" }, "Not paid") : null;
  return h("td", { class: "num" }, formatCents(cents), note);
}

// ---- reversals (void, bank return, chargeback) -------------------------------------------------

/** The payment's reversals that are objects; anything else in the list is left out. */
export function reversalsOf(payment) {
  const reversals = Array.isArray(payment?.reversals) ? payment.reversals : [];
  return reversals.filter((reversal) => reversal !== null && typeof reversal === "object");
}

function hasReversals(payment) {
  return reversalsOf(payment).length > 0;
}

/** "Payment voided", "Bank payment returned", "Chargeback reversed", …; an unknown kind as a plain reversal. */
export function reversalKind(kind) {
  return REVERSAL_KINDS[kind] ?? "Payment reversed";
}

/** What the reversals took back and did not give back, in cents (a chargeback reversal gives back);
 * null when one of them is not an amount. */
export function reversedCents(payment) {
  let total = 0;
  for (const reversal of reversalsOf(payment)) {
    const cents = centsOf(reversal.amount);
    if (cents === null) return null;
    total += reversal.kind === RESTORING ? -Math.abs(cents) : Math.abs(cents);
  }
  return total;
}

function reversalsSection(payment) {
  const reversals = reversalsOf(payment);
  if (!reversals.length) return null;
  const total = reversedCents(payment);
  const dueAgain =
    payment.status === "REVERSED"
      ? "The invoices of this payment are due again."
      : total === 0
        ? "What was taken back was given back: nothing of this payment is due again."
        : "The amount reversed is due again on the invoices of this payment.";
  return h(
    "section",
    { class: "reversals", "aria-labelledby": "reversals-title" },
    h("h3", { id: "reversals-title" }, "Reversals"),
    h(
      "table",
      { class: "lines" },
      h("caption", { class: "visually-hidden" }, "Reversals of this payment"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "What happened"),
          h("th", { scope: "col" }, "Date"),
          h("th", { scope: "col", class: "num" }, "Amount"),
        ),
      ),
      h(
        "tbody",
        {},
        reversals.map((reversal) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, reversalKind(reversal.kind)),
            h("td", { class: "wrap" }, moment(reversal.at, payment.billerTimeZone)),
            // Not an amount: shown as it is, and allowed to wrap rather than widen the page.
            h("td", { class: centsOf(reversal.amount) === null ? "wrap" : "num" }, reversedAmountText(reversal.amount, reversal.kind)),
          ),
        ),
      ),
      reversals.length > 1 && total !== null
        ? h(
            "tfoot",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "row", colspan: "2" }, "Total reversed (net of what was given back)"),
              h("td", { class: "num" }, formatCents(total)),
            ),
          )
        : null,
    ),
    // Nothing due again (a dispute won) is news, not a warning.
    total === 0
      ? h("p", { class: "receipt-note" }, dueAgain)
      : h("p", { class: "reversal-note" }, h("strong", {}, dueAgain)),
  );
}

/** What one reversal moved: taken back as it is, given back (a chargeback reversal) with a plus. */
function reversedAmountText(text, kind) {
  const cents = centsOf(text);
  if (cents === null) return amountText(text);
  return kind === RESTORING ? `+${formatCents(Math.abs(cents))}` : formatCents(Math.abs(cents));
}

// ---- values that may be absent -----------------------------------------------------------------

/** A value worth showing, or null (absent, null, or empty). */
function present(value) {
  return value === undefined || value === null || value === "" ? null : value;
}

/** "84.20" -> 8420; null when absent or not an amount. */
function centsOf(text) {
  if (present(text) === null) return null;
  try {
    return toCents(text);
  } catch {
    return null;
  }
}

/** "84.20" -> "$84.20"; null when absent; anything else as it is (shown as text). */
function amountText(text) {
  if (present(text) === null) return null;
  try {
    return dollars(text);
  } catch {
    return String(text);
  }
}

/** A date and time in the payer's words, in the biller's zone (`timeZone`); null when absent. */
function moment(text, timeZone) {
  return present(text) === null ? null : formatMoment(String(text), timeZone);
}
