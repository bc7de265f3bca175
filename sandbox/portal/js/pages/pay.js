// Pay: choose invoices across accounts, see the running total, and go to Invoice Cloud to pay.

import { api, goToInvoiceCloud, startPayment } from "../api.js";
import { h, heading, loadingRegion, mount, notice, settle } from "../dom.js";
import { errorNotice, PAYMENT_ERRORS } from "../errors.js";
import { dollars, formatCents, formatDate, formatMoment, plural, toCents } from "../format.js";

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
  let answer;
  try {
    answer = (await api("GET", "/accounts")).body;
  } catch (error) {
    settle(content, errorNotice(error));
    return;
  }
  settle(content, payForm(answer.accounts, () => render({ view })));
}

function payForm(accounts, reload) {
  const choices = []; // {checkbox, accountNumber, invoiceNumber, cents}
  const count = h("span", { id: "selected-count" });
  const total = h("strong", { id: "selected-total" });
  const payButton = h("button", { type: "submit", class: "button-primary button-large" });
  const status = h("div", { class: "status-slot" });

  const update = () => {
    const chosen = choices.filter((choice) => choice.checkbox.checked);
    const cents = chosen.reduce((sum, choice) => sum + choice.cents, 0);
    count.textContent = `${plural(chosen.length, "invoice")} selected`;
    total.textContent = formatCents(cents);
    payButton.disabled = chosen.length === 0;
    payButton.textContent = chosen.length ? `Pay ${formatCents(cents)} with Invoice Cloud` : "Choose invoices to pay";
  };

  const submit = async (event) => {
    event.preventDefault();
    const chosen = choices.filter((choice) => choice.checkbox.checked);
    if (!chosen.length) return;
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
      mount(status, openSessionNotice(payment));
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
              const choice = invoiceChoice(account, invoice, `pay-${accountIndex}-${invoiceIndex}`, update);
              if (choice.cents > 0) choices.push(choice);
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

function invoiceChoice(account, invoice, id, onChange) {
  const cents = toCents(invoice.payable);
  const checkbox = h("input", { type: "checkbox", id, name: "invoice", disabled: cents <= 0, onChange });
  const item = h(
    "li",
    { class: cents > 0 ? "pay-item" : "pay-item is-paid" },
    checkbox,
    h(
      "label",
      { for: id },
      h("span", { class: "pay-item-title" }, "Invoice ", invoice.invoiceNumber),
      h("span", { class: "pay-item-meta" }, `Due ${formatDate(invoice.dueDate)}`),
      invoice.minimumAmountDue && cents > 0
        ? h("span", { class: "pay-item-meta" }, `Minimum due ${dollars(invoice.minimumAmountDue)}`)
        : null,
      h("span", { class: "pay-item-amount" }, cents > 0 ? dollars(invoice.payable) : "Paid"),
    ),
  );
  return { item, checkbox, cents, accountNumber: account.accountNumber, invoiceNumber: invoice.invoiceNumber };
}

function openSessionNotice(payment) {
  return notice(
    "info",
    h("p", {}, h("strong", {}, "You already have a payment session open for these invoices — continue it.")),
    payment.status === "DECLINED"
      ? h("p", {}, "Your last attempt was declined. You can try again with another card or bank account.")
      : null,
    h("p", {}, `It stays open until ${formatMoment(payment.sessionExpiresAt)}.`),
    h(
      "button",
      { type: "button", class: "button-primary", onClick: () => goToInvoiceCloud(payment.paymentUrl) },
      `Continue paying ${dollars(payment.amountDue)} with Invoice Cloud`,
    ),
  );
}

/** When the list the payer chose from is out of date, offer to load it again. */
function refreshAfter(error, reload) {
  if (error.code !== "invoice_not_payable" && error.code !== "invoice_not_found") return null;
  return h("button", { type: "button", class: "button-secondary", onClick: reload }, "Refresh the list of invoices");
}
