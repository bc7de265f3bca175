// Payment history: newest first, a page at a time ("Load more" follows nextCursor).

import { api } from "../api.js";
import { h, heading, link, loadingRegion, mount, settle } from "../dom.js";
import { errorNotice } from "../errors.js";
import { dollars, formatCents, formatMoment, toCents } from "../format.js";
import { reversedCents, statusLabel } from "./payment.js";

const PAGE_SIZE = 10;

export async function render({ view }) {
  const list = h("ol", { class: "history-list", "aria-labelledby": "history-title" });
  const more = h("div", { class: "history-more" });
  const content = loadingRegion("Loading your payments…");
  mount(view, heading("Payment history"), content);
  let page;
  try {
    page = await fetchPage(null);
  } catch (error) {
    settle(content, errorNotice(error));
    return;
  }
  if (!page.payments.length) {
    settle(content, h("p", {}, "You have not made any payments yet. ", link("#/pay", "Pay a bill")));
    return;
  }
  const title = h("h2", { id: "history-title", class: "visually-hidden" }, "Your payments, newest first");
  settle(content, title, list, more);
  show(page, list, more);
}

function fetchPage(cursor) {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) query.set("cursor", cursor);
  return api("GET", `/payments?${query}`).then(({ body }) => body);
}

/** Append a page of payments; offer the next one when there is one. Answers the new rows. */
function show(page, list, more) {
  const rows = page.payments.map(paymentRow);
  list.append(...rows);
  if (!page.nextCursor) {
    mount(more);
    return rows;
  }
  const button = h("button", { type: "button", class: "button-secondary" }, "Load more payments");
  const status = h("div", { class: "status-slot" });
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = "Loading…";
    try {
      const added = show(await fetchPage(page.nextCursor), list, more);
      added[0]?.querySelector("a")?.focus(); // keyboard users continue where the new rows start
    } catch (error) {
      mount(status, errorNotice(error));
      button.disabled = false;
      button.textContent = "Load more payments";
    }
  });
  mount(more, button, status);
  return rows;
}

function paymentRow(payment) {
  const amount = amountText(payment.amountPaid ?? payment.amountDue);
  const status = String(payment.status ?? "");
  const outcome = outcomeText(payment);
  return h(
    "li",
    { class: "history-item" },
    h(
      "p",
      { class: "history-head" },
      link(`#/return/${encodeURIComponent(payment.paymentId)}`, `Payment of ${amount}`),
      h("span", { class: `badge badge-${status.toLowerCase()}` }, statusLabel(payment.status)),
    ),
    outcome ? h("p", { class: "history-outcome" }, outcome) : null,
    h(
      "p",
      { class: "history-meta" },
      formatMoment(payment.createdAt, payment.billerTimeZone),
      payment.receiptReference ? ` · Reference ${payment.receiptReference}` : null,
    ),
    h(
      "p",
      { class: "history-meta" },
      invoicesOf(payment).map((invoice) => invoiceText(payment, invoice)).join(", "),
    ),
  );
}

/** In a line, what became of a payment that did not simply go through (the amount reversed, if any). */
function outcomeText(payment) {
  const reversed = reversedCents(payment);
  const reversedText = reversed ? `${formatCents(reversed)} reversed` : null;
  switch (payment.status) {
    case "REVERSED":
      return `${reversedText ?? "Reversed"}: the invoices are due again.`;
    case "APPROVED":
      if (reversedText) return `${reversedText}: that amount is due again.`;
      // Reversals that came to nothing: a chargeback the biller won.
      return reversed === 0 && payment.reversals?.length ? "Chargeback reversed: nothing is due again." : null;
    case "CLOSED":
      return "Closed without being applied to your bills.";
    case "EXPIRED":
      // The result may have been lost on the way: never say that no money was taken.
      return "The payment session ended without a result from Invoice Cloud. Please check before paying again.";
    case "NEEDS_REVIEW":
      return "We are checking this payment by hand. Please do not pay again.";
    default:
      return null;
  }
}

function invoicesOf(payment) {
  return Array.isArray(payment.invoices) ? payment.invoices : [];
}

function invoiceText(payment, invoice) {
  const unpaid = payment.status === "APPROVED" && centsOr0(invoice.amountPaid) === 0;
  return `${invoice.invoiceNumber} (${invoice.accountNumber}${unpaid ? ", not paid" : ""})`;
}

/** "84.20" -> "$84.20"; anything that is not an amount as it is. */
function amountText(text) {
  try {
    return dollars(text);
  } catch {
    return String(text ?? "");
  }
}

function centsOr0(text) {
  try {
    return text === undefined || text === null ? 0 : toCents(text);
  } catch {
    return 0;
  }
}
