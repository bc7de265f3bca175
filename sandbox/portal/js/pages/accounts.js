// Accounts: each linked account, its invoices and what is payable now, with the totals. An account's
// credit balance (a credit invoice) is already applied by the API to its oldest bills (creditApplied):
// the page says so, and what it shows as payable is what a payment charges. "View bill" opens an
// invoice's PDF (GET .../statement answers a presigned URL valid 5 minutes) in a new tab.

import { api } from "../api.js";
import { facts, h, heading, hiddenText, link, loadingRegion, mount, settle } from "../dom.js";
import { errorNotice } from "../errors.js";
import { dollars, formatCents, formatDate, plural, toCents } from "../format.js";

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
      ? h(
          "ul",
          { class: "invoice-list" },
          account.invoices.map((invoice) => invoiceItem(invoice, titleId, account.accountNumber)),
        )
      : h("p", {}, "No open invoices on this account."),
    account.creditApplied
      ? h(
          "p",
          { class: "account-credit" },
          h("span", {}, "Account credit applied to your oldest bills"),
          h("strong", {}, formatCents(-toCents(account.creditApplied))),
        )
      : null,
    account.creditRemaining
      ? h(
          "p",
          { class: "account-credit" },
          h("span", {}, "Credit left over for your next bill"),
          h("strong", {}, dollars(account.creditRemaining)),
        )
      : null,
    h("p", { class: "account-total" }, h("span", {}, "Account total due"), h("strong", {}, dollars(account.totalDue))),
  );
}

// What the badge beside an invoice says: a credit invoice, a bill the account's credit alone covers, a
// bill paid (by payments, with or without the credit).
function invoiceBadge(invoice) {
  const balance = toCents(invoice.balanceDue);
  if (balance < 0) return h("span", { class: "badge badge-credit" }, "Credit");
  if (toCents(invoice.payable) !== 0) return null;
  if (invoice.creditApplied && toCents(invoice.creditApplied) >= balance) {
    return h("span", { class: "badge badge-credit" }, "Covered by credit");
  }
  return h("span", { class: "badge badge-ok" }, "Paid");
}

function invoiceItem(invoice, accountTitleId, accountNumber) {
  const titleId = `${accountTitleId}-${invoice.invoiceNumber.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const credit = toCents(invoice.balanceDue) < 0;
  return h(
    "li",
    { class: "invoice", "aria-labelledby": titleId },
    h(
      "h3",
      { id: titleId },
      "Invoice ",
      h("span", { class: "invoice-number" }, invoice.invoiceNumber),
      invoiceBadge(invoice),
    ),
    facts([
      ["Invoice date", formatDate(invoice.invoiceDate)],
      ["Due date", formatDate(invoice.dueDate)],
      ["Balance on bill", dollars(invoice.balanceDue)],
      ["Minimum due", invoice.minimumAmountDue ? dollars(invoice.minimumAmountDue) : null],
      ["Account credit applied", invoice.creditApplied ? formatCents(-toCents(invoice.creditApplied)) : null],
      ["Payable now", credit ? null : dollars(invoice.payable)],
    ]),
    credit ? h("p", { class: "invoice-note" }, "A credit on your account: it lowers what your oldest bills ask.") : null,
    invoice.hasStatement ? billControl(accountNumber, invoice.invoiceNumber) : null,
  );
}

/** "View bill": asks the API for the bill's URL when pressed (it works for 5 minutes), then opens it. */
function billControl(accountNumber, invoiceNumber) {
  const status = h("p", { class: "bill-status", role: "status" });
  const button = h(
    "button",
    { type: "button", class: "button button-secondary" },
    "View bill",
    hiddenText(` of invoice ${invoiceNumber} (PDF, opens in a new tab)`),
  );
  button.addEventListener("click", () => openBill(accountNumber, invoiceNumber, button, status));
  return h("div", { class: "bill" }, button, status);
}

async function openBill(accountNumber, invoiceNumber, button, status) {
  button.disabled = true;
  mount(status, "Opening your bill…");
  const path = `/accounts/${encodeURIComponent(accountNumber)}/invoices/${encodeURIComponent(invoiceNumber)}/statement`;
  try {
    const { body } = await api("GET", path);
    const url = new URL(body.url);
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new Error("not a web address");
    }
    // Still within the press of the button, so browsers let it open; the link below is for those that do not.
    window.open(url.href, "_blank", "noopener");
    mount(
      status,
      "Your bill opens in a new tab. If it did not, ",
      h("a", { href: url.href, target: "_blank", rel: "noopener noreferrer" }, "open your bill here"),
      " (this link works for 5 minutes).",
    );
  } catch (error) {
    mount(status, error?.message && error.code ? error.message : "We could not open your bill. Please try again.");
  } finally {
    button.disabled = false;
  }
}
