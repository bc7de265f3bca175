// The return page (#/return/<paymentId>): where Invoice Cloud's receipt sends the payer back.
// It follows the payment until its result is final, says what happened in plain words, offers
// another try after a decline, and shows the printable receipt of an approved payment.

import { api, goToInvoiceCloud, startPayment } from "../api.js";
import { facts, h, heading, link, mount, notice } from "../dom.js";
import { errorNotice, PAYMENT_ERRORS } from "../errors.js";
import { dollars, formatCents, formatMoment, toCents } from "../format.js";

const POLL_EVERY_MS = 1000;
const POLL_FOR_MS = 60_000;

export const STATUS_LABELS = {
  CREATED: "Starting",
  PENDING: "Waiting for confirmation",
  DECLINED: "Declined",
  APPROVED: "Approved",
  NEEDS_REVIEW: "Being checked",
  FAILED: "Failed",
  EXPIRED: "Expired",
};

export async function render({ view, params: [paymentId], signal }) {
  const title = heading("Your payment");
  title.classList.add("no-print");
  const slots = {
    status: h("div", { class: "payment-status no-print" }),
    progress: h("div", { class: "no-print", "aria-live": "polite" }),
    details: h("div", { class: "payment-details" }),
  };
  mount(view, title, slots.status, slots.progress, slots.details);
  await follow(paymentId, slots, signal);
}

/** Poll GET /payments/{id} until the result is final, the page is left, or a minute has passed. */
async function follow(paymentId, slots, signal) {
  const deadline = Date.now() + POLL_FOR_MS;
  let shown = "";
  mount(slots.progress, waiting("Checking your payment…"));
  for (;;) {
    let payment;
    try {
      payment = (await api("GET", `/payments/${encodeURIComponent(paymentId)}`)).body;
    } catch (error) {
      if (signal.aborted) return;
      const transient = error.status === 0 || error.status >= 500;
      if (!transient || Date.now() >= deadline) {
        mount(slots.progress);
        mount(slots.status, errorNotice(error, { payment_not_found: notFound() }));
        return;
      }
      await pause(POLL_EVERY_MS, signal);
      continue;
    }
    if (signal.aborted) return;
    const fingerprint = JSON.stringify(payment);
    if (fingerprint !== shown) {
      shown = fingerprint;
      mount(slots.status, statusPanel(payment));
      mount(slots.details, payment.status === "APPROVED" ? receipt(payment) : summary(payment));
      mount(slots.progress, payment.final ? null : waiting(WAITING_TEXT[payment.status] ?? WAITING_TEXT.PENDING));
    }
    if (payment.final) return;
    if (Date.now() >= deadline) {
      mount(slots.progress, stoppedChecking(payment, () => follow(paymentId, slots, signal)));
      return;
    }
    await pause(POLL_EVERY_MS, signal);
    if (signal.aborted) return;
  }
}

function pause(milliseconds, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, milliseconds);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

const WAITING_TEXT = {
  PENDING: "Checking for the result…",
  DECLINED: "This page keeps checking, in case another try goes through…",
};

function waiting(text) {
  return h("p", { class: "waiting" }, h("span", { class: "spinner", "aria-hidden": "true" }), text);
}

function stoppedChecking(payment, checkAgain) {
  const text =
    payment.status === "DECLINED"
      ? "This page has stopped checking for another try. If you paid again at Invoice Cloud, check again."
      : "We have not heard the final result from Invoice Cloud yet. It can take a few minutes. " +
        "Please do not pay again.";
  return notice(
    payment.status === "DECLINED" ? "info" : "warning",
    h("p", {}, text),
    h("button", { type: "button", class: "button-secondary", onClick: checkAgain }, "Check again"),
  );
}

function notFound() {
  return ["We could not find this payment. ", link("#/history", "See your payment history")];
}

// ---- the result, in the payer's words ----------------------------------------------------------

function statusPanel(payment) {
  switch (payment.status) {
    case "APPROVED":
      return panel(
        "success",
        "Payment approved",
        payment.statusMessage,
        "Your receipt is below. You can print it or save it as a PDF.",
      );
    case "DECLINED":
      return payment.final
        ? panel("error", "Payment declined", payment.statusMessage, newPaymentLink())
        : declinedPanel(payment);
    case "NEEDS_REVIEW":
      return panel("warning", "We are checking your payment: please do not pay again", payment.statusMessage);
    case "FAILED":
      return panel("error", "The payment could not be started", payment.statusMessage, newPaymentLink());
    case "EXPIRED":
      return panel("warning", "The payment session expired", payment.statusMessage, newPaymentLink());
    default:
      return panel(
        "info",
        "Waiting for confirmation",
        "Invoice Cloud has not confirmed this payment yet. This usually takes a few seconds. Please do not pay again.",
      );
  }
}

function panel(kind, title, ...paragraphs) {
  return notice(
    kind,
    h("h2", { class: "notice-title" }, title),
    paragraphs.filter(Boolean).map((paragraph) => (typeof paragraph === "string" ? h("p", {}, paragraph) : paragraph)),
  );
}

function newPaymentLink() {
  return h("p", {}, link("#/pay", "Start a new payment"));
}

function declinedPanel(payment) {
  const status = h("div", { class: "status-slot" });
  const button = h("button", { type: "button", class: "button-primary" }, "Try again");
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = "Opening Invoice Cloud…";
    mount(status);
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
    `This payment session stays open until ${formatMoment(payment.sessionExpiresAt)}.`,
    button,
    status,
  );
}

/** What the payment is for, while it has no receipt. */
function summary(payment) {
  return h(
    "section",
    { class: "panel no-print", "aria-labelledby": "summary-title" },
    h("h2", { id: "summary-title" }, "Payment details"),
    facts([
      ["Payment ID", payment.paymentId],
      ["Status", STATUS_LABELS[payment.status] ?? payment.status],
      ["Started", formatMoment(payment.createdAt)],
      ["Amount", dollars(payment.amountDue)],
    ]),
    invoiceTable(payment, false),
  );
}

// ---- the printable receipt ---------------------------------------------------------------------

function receipt(payment) {
  const paidCents = toCents(payment.amountPaid ?? "0.00");
  const feeCents = toCents(payment.convenienceFee ?? "0.00");
  const ids = payment.invoiceCloudPaymentIds ?? [];
  return h(
    "section",
    { class: "panel receipt", "aria-labelledby": "receipt-title" },
    h(
      "header",
      { class: "receipt-header" },
      h("p", { class: "receipt-biller" }, payment.billerName),
      h("h2", { id: "receipt-title" }, "Payment receipt"),
    ),
    facts([
      ["Paid to", payment.billerName],
      ["Payment ID", payment.paymentId],
      [ids.length > 1 ? "Invoice Cloud payment IDs" : "Invoice Cloud payment ID", ids.length ? ids.join(", ") : null],
      ["Date", formatMoment(payment.completedAt ?? payment.createdAt)],
      ["Payment method", methodText(payment)],
      ["Status", STATUS_LABELS[payment.status] ?? payment.status],
    ]),
    invoiceTable(payment, true),
    facts(
      [
        ["Amount paid", formatCents(paidCents)],
        ["Convenience fee", formatCents(feeCents)],
        ["Total charged", formatCents(paidCents + feeCents)],
      ],
      "facts totals",
    ),
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

function methodText(payment) {
  if (payment.paymentMethod === "ACH") return "Bank account (ACH)";
  if (payment.paymentMethod === "CARD") return payment.cardType ? `Card (${payment.cardType})` : "Card";
  return payment.cardType ?? null;
}

function invoiceTable(payment, withPaid) {
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
      payment.invoices.map((invoice) =>
        h(
          "tr",
          {},
          h(
            "th",
            { scope: "row" },
            invoice.invoiceNumber,
            h("span", { class: "cell-note" }, "Account ", invoice.accountNumber),
          ),
          h("td", { class: "num" }, dollars(invoice.amountDue)),
          withPaid ? paidCell(invoice) : null,
        ),
      ),
    ),
  );
}

function paidCell(invoice) {
  const cents = toCents(invoice.amountPaid ?? "0.00");
  const note = cents === 0 ? h("span", { class: "cell-note" }, "Not paid") : null;
  return h("td", { class: "num" }, formatCents(cents), note);
}
