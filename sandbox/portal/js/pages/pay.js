// Pay: choose invoices across accounts, see the running total, and go to Invoice Cloud to pay.
// Above the list, every payment of this user still in progress (its invoices are held until it ends),
// each with the way to continue it; when nothing is left to pay, the page says so.
// An invoice whose last payment session ended without a result from Invoice Cloud in the past 24 hours
// (lastSessionEndedWithoutResultAt) says so; paying it again first asks the payer to check whether that
// payment went through (the API does not refuse: the check is the payer's).

import { api, goToInvoiceCloud, startPayment } from "../api.js";
import { h, heading, link, loadingRegion, mount, notice, settle } from "../dom.js";
import { errorNotice, PAYMENT_ERRORS } from "../errors.js";
import { dollars, formatCents, formatDate, formatMoment, plural, sessionDeadlines, toCents } from "../format.js";

// Payments in progress are recent (a session and its grace last under an hour): the newest page of
// the history holds them.
const RECENT_PAYMENTS = 50;

export async function render({ view }) {
  const content = loadingRegion("Loading your invoices…");
  mount(
    view,
    heading("Pay bills"),
    h(
      "p",
      { class: "lead" },
      "Choose the invoices to pay. You will pay on Invoice Cloud's secure page: Invoice Cloud is our payment " +
        "provider, and your card or bank details are entered only there.",
    ),
    content,
  );
  let accounts;
  let payments;
  try {
    const [accountsAnswer, paymentsAnswer] = await Promise.all([
      api("GET", "/accounts"),
      api("GET", `/payments?limit=${RECENT_PAYMENTS}`),
    ]);
    accounts = accountsAnswer.body.accounts;
    payments = paymentsAnswer.body.payments;
  } catch (error) {
    settle(content, errorNotice(error));
    return;
  }
  const open = inProgress(payments);
  settle(content, ...payPage(accounts, open, billerTimeZone(payments), () => render({ view })));
}

/** The biller's zone, named in each payment; null (the one remembered, else the device's) without one. */
function billerTimeZone(payments) {
  return (Array.isArray(payments) ? payments : []).find((payment) => payment.billerTimeZone)?.billerTimeZone ?? null;
}

/** The user's payments that still hold their invoices, oldest first. */
function inProgress(payments) {
  const now = Date.now();
  return (Array.isArray(payments) ? payments : [])
    .filter((payment) => !payment.final && Date.parse(payment.invoicesHeldUntil) > now)
    .reverse();
}

function payPage(accounts, open, zone, reload) {
  const held = new Set();
  for (const payment of open) {
    for (const invoice of payment.invoices ?? []) held.add(key(invoice.accountNumber, invoice.invoiceNumber));
  }
  const payable = accounts.some((account) =>
    account.invoices.some(
      (invoice) => toCents(invoice.payable) > 0 && !held.has(key(account.accountNumber, invoice.invoiceNumber)),
    ),
  );
  // One primary action: continuing the first open session, when there is one; paying otherwise.
  const primary = open.findIndex((payment) => payment.paymentUrl);
  const sessions = open.map((payment, index) => openSessionNotice(payment, index === primary));
  if (!payable && !open.length) {
    return [nothingDue()];
  }
  if (!payable) {
    return [...sessions, h("p", { class: "hint" }, "Every other invoice is paid. ", link("#/history", "See your payments"))];
  }
  return [...sessions, payForm(accounts, held, primary < 0, zone, reload)];
}

function key(accountNumber, invoiceNumber) {
  return `${accountNumber}\u0000${invoiceNumber}`;
}

function nothingDue() {
  return notice(
    "success",
    h("h2", { class: "notice-title", id: "nothing-due" }, "Nothing is due"),
    h("p", {}, "All the bills on your linked accounts are paid. There is nothing to pay right now."),
    h("p", {}, link("#/history", "See your payments"), " · ", link("#/accounts", "Your accounts")),
  );
}

/** A payment in progress: continue it on Invoice Cloud, or wait until its invoices are free again. */
function openSessionNotice(payment, primary) {
  const zone = payment.billerTimeZone;
  const until = formatMoment(payment.invoicesHeldUntil, zone);
  const invoices = (payment.invoices ?? []).map((invoice) => invoice.invoiceNumber);
  return notice(
    "info",
    h("h2", { class: "notice-title" }, "Payment in progress"),
    h(
      "p",
      { class: "open-session-text" },
      payment.paymentUrl
        ? sessionDeadlines(payment)
        : "Invoice Cloud has not reported the result of this payment yet: please do not pay again. " +
            `Its invoices are held until ${until}.`,
    ),
    h(
      "p",
      {},
      `${dollars(payment.amountDue)} for ${plural(invoices.length, "invoice")}: `,
      invoices.map((number, index) => [index ? ", " : "", h("span", { class: "invoice-number" }, number)]),
      payment.receiptReference ? ` (reference ${payment.receiptReference})` : null,
    ),
    payment.status === "DECLINED"
      ? h("p", {}, "Your last attempt was declined. You can try again with another card or bank account.")
      : null,
    payment.paymentUrl
      ? h(
          "button",
          {
            type: "button",
            class: primary ? "button-primary continue-session" : "button-secondary continue-session",
            onClick: () => goToInvoiceCloud(payment.paymentUrl),
          },
          `Continue paying ${dollars(payment.amountDue)} on Invoice Cloud`,
        )
      : null,
  );
}

function payForm(accounts, held, primary, zone, reload) {
  const choices = []; // {checkbox, accountNumber, invoiceNumber, cents, endedWithoutResultAt}
  const count = h("span", { id: "selected-count" });
  const total = h("strong", { id: "selected-total" });
  const payButton = h("button", {
    type: "submit",
    class: primary ? "button-primary button-large" : "button-secondary button-large",
  });
  const status = h("div", { class: "status-slot" });

  const update = () => {
    if (status.querySelector(".check-first")) mount(status); // it named the invoices chosen before
    const chosen = choices.filter((choice) => choice.checkbox.checked);
    const cents = chosen.reduce((sum, choice) => sum + choice.cents, 0);
    count.textContent = `${plural(chosen.length, "invoice")} selected`;
    total.textContent = formatCents(cents);
    payButton.disabled = chosen.length === 0;
    payButton.textContent = chosen.length ? `Pay ${formatCents(cents)} with Invoice Cloud` : "Choose invoices to pay";
  };

  const submit = (event) => {
    event.preventDefault();
    const chosen = choices.filter((choice) => choice.checkbox.checked);
    if (!chosen.length) return;
    const unresolved = chosen.filter((choice) => choice.endedWithoutResultAt);
    if (!unresolved.length) {
      pay(chosen);
      return;
    }
    const backToForm = () => {
      mount(status);
      payButton.focus();
    };
    mount(
      status,
      checkFirstNotice(unresolved, {
        onPay: () => {
          backToForm();
          pay(chosen);
        },
        onCancel: backToForm,
      }),
    );
    status.querySelector(".notice-title")?.focus();
  };

  const pay = async (chosen) => {
    const label = payButton.textContent;
    payButton.disabled = true;
    payButton.textContent = "Opening Invoice Cloud…";
    mount(status);
    try {
      const { reused, payment } = await startPayment(
        chosen.map(({ accountNumber, invoiceNumber }) => ({ accountNumber, invoiceNumber })),
      );
      if (!reused) {
        goToInvoiceCloud(payment.paymentUrl);
        return;
      }
      mount(status, reusedSessionNotice(payment));
    } catch (error) {
      mount(status, errorNotice(error, PAYMENT_ERRORS), refreshAfter(error, reload));
    }
    payButton.disabled = false;
    payButton.textContent = label;
  };

  const groups = accounts.map((account, accountIndex) =>
    h(
      "fieldset",
      { class: "panel pay-account" },
      h("legend", {}, "Account ", account.accountNumber, h("span", { class: "legend-name" }, account.name)),
      account.invoices.length
        ? h(
            "ul",
            { class: "pay-list" },
            account.invoices.map((invoice, invoiceIndex) => {
              const inPayment = held.has(key(account.accountNumber, invoice.invoiceNumber));
              const id = `pay-${accountIndex}-${invoiceIndex}`;
              const choice = invoiceChoice(account, invoice, id, update, inPayment, zone);
              if (choice.cents > 0 && !inPayment) choices.push(choice);
              return choice.item;
            }),
          )
        : h("p", {}, "No open invoices on this account."),
    ),
  );

  update();
  return h(
    "form",
    { class: "pay-form", novalidate: true, onSubmit: submit },
    groups,
    h(
      "div",
      { class: "pay-bar" },
      h(
        "p",
        { class: "running-total", "aria-live": "polite" },
        count,
        h("span", { "aria-hidden": "true" }, " · "),
        " Total ",
        total,
      ),
      h("p", { class: "hint" }, "Invoice Cloud shows its convenience fee, if any, before you confirm."),
      payButton,
      status,
    ),
  );
}

function invoiceChoice(account, invoice, id, onChange, inPayment, zone) {
  const cents = toCents(invoice.payable);
  const open = cents > 0 && !inPayment;
  const endedWithoutResultAt = open ? (invoice.lastSessionEndedWithoutResultAt ?? null) : null;
  const checkbox = h("input", { type: "checkbox", id, name: "invoice", disabled: !open, onChange });
  const state = cents <= 0 ? "Paid" : inPayment ? "In a payment in progress" : null;
  const item = h(
    "li",
    { class: open ? "pay-item" : "pay-item is-paid" },
    checkbox,
    h(
      "label",
      { for: id },
      h("span", { class: "pay-item-title" }, "Invoice ", h("span", { class: "invoice-number" }, invoice.invoiceNumber)),
      h("span", { class: "pay-item-meta" }, `Due ${formatDate(invoice.dueDate)}`),
      invoice.minimumAmountDue && open
        ? h("span", { class: "pay-item-meta" }, `Minimum due ${dollars(invoice.minimumAmountDue)}`)
        : null,
      state && cents > 0 ? h("span", { class: "pay-item-meta" }, state) : null,
      endedWithoutResultAt
        ? h(
            "span",
            { class: "pay-item-meta pay-item-warning" },
            `A payment session ended on ${formatMoment(endedWithoutResultAt, zone)} without a result from ` +
              "Invoice Cloud.",
          )
        : null,
      h("span", { class: "pay-item-amount" }, cents > 0 ? dollars(invoice.payable) : "Paid"),
    ),
  );
  return {
    item,
    checkbox,
    cents,
    accountNumber: account.accountNumber,
    invoiceNumber: invoice.invoiceNumber,
    endedWithoutResultAt,
  };
}

/**
 * Before paying again invoices whose last session ended without a result: that payment may have gone
 * through, so the payer checks first. Nothing is started until they say they have.
 */
function checkFirstNotice(unresolved, { onPay, onCancel }) {
  const numbers = unresolved.map((choice) => choice.invoiceNumber);
  const several = numbers.length > 1;
  const box = notice(
    "warning",
    h("h2", { class: "notice-title", tabindex: "-1" }, "Check before paying again"),
    h(
      "p",
      {},
      `A payment for ${several ? "invoices" : "invoice"} `,
      numbers.map((number, index) => [
        index ? (index === numbers.length - 1 ? " and " : ", ") : "",
        h("span", { class: "invoice-number" }, number),
      ]),
      " may already have gone through. ",
      several
        ? "Invoice Cloud did not send us the result of their last payment sessions."
        : "Invoice Cloud did not send us the result of its last payment session.",
    ),
    h("p", {}, "Please check your Invoice Cloud receipt email or your card or bank statement before paying again."),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", class: "button-secondary", onClick: onPay }, "I have checked — pay anyway"),
      h("button", { type: "button", class: "button-secondary", onClick: onCancel }, "Cancel"),
    ),
  );
  box.classList.add("check-first");
  return box;
}

/** The API handed back a session already open for exactly these invoices (200). */
function reusedSessionNotice(payment) {
  return notice(
    "info",
    h("p", {}, h("strong", {}, "You already have a payment session open for these invoices — continue it.")),
    payment.status === "DECLINED"
      ? h("p", {}, "Your last attempt was declined. You can try again with another card or bank account.")
      : null,
    h("p", {}, sessionDeadlines(payment)),
    h(
      "button",
      { type: "button", class: "button-secondary", onClick: () => goToInvoiceCloud(payment.paymentUrl) },
      `Continue paying ${dollars(payment.amountDue)} with Invoice Cloud`,
    ),
  );
}

/** When the list the payer chose from is out of date, offer to load it again. */
function refreshAfter(error, reload) {
  if (error.code !== "invoice_not_payable" && error.code !== "invoice_not_found") return null;
  return h("button", { type: "button", class: "button-secondary", onClick: reload }, "Refresh the list of invoices");
}
