// Accounts: each linked account, its invoices and what is payable now, with the totals.

import { api } from "../api.js";
import { facts, h, heading, link, loadingRegion, mount, settle } from "../dom.js";
import { errorNotice } from "../errors.js";
import { dollars, formatDate, plural, toCents } from "../format.js";

export async function render({ view }) {
  const content = loadingRegion("Loading your accounts…");
  mount(view, heading("Your accounts"), content);
  let answer;
  try {
    answer = (await api("GET", "/accounts")).body;
  } catch (error) {
    settle(content, errorNotice(error));
    return;
  }
  settle(content, ...accountsView(answer));
}

function accountsView({ accounts, totalDue }) {
  const owing = toCents(totalDue) > 0;
  return [
    h(
      "section",
      { class: "panel summary", "aria-labelledby": "grand-total-title" },
      h("h2", { id: "grand-total-title", class: "visually-hidden" }, "Total due"),
      h(
        "p",
        { class: "grand-total" },
        h("span", {}, `Total due on your ${plural(accounts.length, "account")}`),
        h("strong", { id: "grand-total" }, dollars(totalDue)),
      ),
      owing
        ? h("a", { class: "button button-primary", href: "#/pay" }, "Pay bills")
        : h("p", {}, "Nothing is due right now. Thank you!"),
    ),
    accounts.map(accountSection),
    h("p", {}, link("#/register", "Link another account")),
  ];
}

function accountSection(account, index) {
  const titleId = `account-${index}-title`;
  return h(
    "section",
    { class: "panel account", "aria-labelledby": titleId },
    h(
      "header",
      { class: "account-header" },
      h("h2", { id: titleId }, "Account ", account.accountNumber),
      h("p", { class: "account-name" }, account.name),
    ),
    account.invoices.length
      ? h("ul", { class: "invoice-list" }, account.invoices.map((invoice) => invoiceItem(invoice, titleId)))
      : h("p", {}, "No open invoices on this account."),
    h("p", { class: "account-total" }, h("span", {}, "Account total due"), h("strong", {}, dollars(account.totalDue))),
  );
}

function invoiceItem(invoice, accountTitleId) {
  const titleId = `${accountTitleId}-${invoice.invoiceNumber.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const paid = toCents(invoice.payable) === 0;
  return h(
    "li",
    { class: "invoice", "aria-labelledby": titleId },
    h(
      "h3",
      { id: titleId },
      "Invoice ",
      h("span", { class: "invoice-number" }, invoice.invoiceNumber),
      paid ? h("span", { class: "badge badge-ok" }, "Paid") : null,
    ),
    facts([
      ["Invoice date", formatDate(invoice.invoiceDate)],
      ["Due date", formatDate(invoice.dueDate)],
      ["Balance on bill", dollars(invoice.balanceDue)],
      ["Minimum due", invoice.minimumAmountDue ? dollars(invoice.minimumAmountDue) : null],
      ["Payable now", dollars(invoice.payable)],
    ]),
  );
}
