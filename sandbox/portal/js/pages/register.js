// Link accounts (POST /registrations): prove accounts are yours with the account number and the
// registration value printed on your bill, then see what happened to each, in plain words.

import { api } from "../api.js";
import { h, heading, hiddenText, mount, notice } from "../dom.js";
import { errorNotice } from "../errors.js";
import { formatMoment } from "../format.js";
import { currentSession } from "../session.js";

const MAX_ROWS = 20;
let nextRowId = 1; // ids stay unique when rows come and go

export async function render({ view }) {
  const results = h("div", { class: "results" });
  const linked = h("section", { class: "panel", "aria-labelledby": "linked-title" });
  mount(
    view,
    heading("Link your accounts"),
    h(
      "p",
      { class: "lead" },
      "Enter the account number and the registration value printed on your bill. You can link up to " +
        `${MAX_ROWS} accounts at once.`,
    ),
    registrationForm(results, () => loadLinked(linked)),
    results,
    linked,
  );
  await loadLinked(linked);
}

// ---- the form ----------------------------------------------------------------------------------

function registrationForm(results, afterSubmit) {
  const rows = []; // {item, fields: {accountNumber, registrationValue}, number(n, count)}
  const list = h("ol", { class: "reg-rows" });
  const addButton = h("button", { type: "button", class: "button-secondary" }, "Add another account");
  const limitNote = h("p", { class: "hint" });
  const submitButton = h("button", { type: "submit", class: "button-primary" }, "Link accounts");
  const formStatus = h("div", { class: "status-slot" });

  const renumber = () => {
    rows.forEach((row, index) => row.number(index + 1, rows.length));
    addButton.disabled = rows.length >= MAX_ROWS;
    limitNote.textContent = rows.length >= MAX_ROWS ? `You can link at most ${MAX_ROWS} accounts at once.` : "";
  };
  const removeRow = (row) => {
    const index = rows.indexOf(row);
    rows.splice(index, 1);
    row.item.remove();
    renumber();
    rows[Math.min(index, rows.length - 1)]?.fields.accountNumber.focus();
  };
  const addRow = (accountNumber = "") => {
    const row = registrationRow(accountNumber, () => removeRow(row));
    rows.push(row);
    list.append(row.item);
    renumber();
    return row;
  };
  const resetRows = (accountNumbers) => {
    rows.splice(0).forEach((row) => row.item.remove());
    (accountNumbers.length ? accountNumbers : [""]).forEach((number) => addRow(number));
  };
  addButton.addEventListener("click", () => addRow().fields.accountNumber.focus());

  const submit = async (event) => {
    event.preventDefault();
    mount(formStatus);
    const accounts = readRows(rows);
    if (!accounts) {
      mount(formStatus, notice("error", "Fill in both the account number and the registration value of each account."));
      list.querySelector("[aria-invalid='true']")?.focus();
      return;
    }
    submitButton.disabled = true;
    submitButton.textContent = "Linking…";
    try {
      const { body } = await api("POST", "/registrations", { body: { accounts } });
      mount(results, outcomes(body));
      // Rejected accounts stay in the form, to correct; the rest is done.
      const rejected = body.accounts.filter((account) => account.outcome === "REJECTED");
      resetRows(rejected.map((account) => account.accountNumber));
      results.querySelector("h2")?.focus();
      afterSubmit();
    } catch (error) {
      markInvalid(rows, error.details);
      mount(formStatus, errorNotice(error, { too_many_attempts: tooManyAttempts(error) }));
    }
    submitButton.disabled = false;
    submitButton.textContent = "Link accounts";
  };

  addRow();
  return h(
    "form",
    { class: "panel reg-form", novalidate: true, onSubmit: submit },
    list,
    h("div", { class: "actions" }, addButton, limitNote),
    formStatus,
    h("div", { class: "actions" }, submitButton),
  );
}

function registrationRow(accountNumber, onRemove) {
  const id = nextRowId++;
  const legend = h("legend", {});
  const fields = {
    accountNumber: input(`reg-account-${id}`, accountNumber),
    registrationValue: input(`reg-value-${id}`, ""),
  };
  const removeLabel = hiddenText("");
  const removeButton = h("button", { type: "button", class: "button-quiet", onClick: onRemove }, "Remove", removeLabel);
  const item = h(
    "li",
    { class: "reg-row" },
    h(
      "fieldset",
      {},
      legend,
      labelled(fields.accountNumber, "Account number"),
      labelled(fields.registrationValue, "Registration value"),
      removeButton,
    ),
  );
  const number = (position, count) => {
    legend.textContent = `Account ${position}`;
    removeLabel.textContent = ` account ${position}`;
    removeButton.hidden = count <= 1;
  };
  return { item, fields, number };
}

function labelled(field, label) {
  return h("div", { class: "field" }, h("label", { for: field.id }, label), field);
}

function input(id, value) {
  return h("input", {
    id,
    type: "text",
    value,
    autocomplete: "off",
    autocapitalize: "characters",
    spellcheck: "false",
    maxlength: "64",
    required: true,
  });
}

/** The rows as the API wants them, or null (and the empty fields marked) when one is incomplete. */
function readRows(rows) {
  let complete = true;
  const accounts = rows.map(({ fields }) => {
    const entry = {};
    for (const [name, field] of Object.entries(fields)) {
      entry[name] = field.value.trim();
      setInvalid(field, !entry[name]);
      complete &&= Boolean(entry[name]);
    }
    return entry;
  });
  return complete ? accounts : null;
}

/** Mark the fields a 422 answer names in its details: [{loc: ["accounts", i, "accountNumber"], msg}]. */
function markInvalid(rows, details) {
  if (!Array.isArray(details)) return;
  let first = null;
  for (const detail of details) {
    const [, index, name] = Array.isArray(detail?.loc) ? detail.loc : [];
    const field = rows[index]?.fields[name];
    if (field) {
      setInvalid(field, true);
      first ??= field;
    }
  }
  first?.focus();
}

function setInvalid(field, invalid) {
  if (invalid) field.setAttribute("aria-invalid", "true");
  else field.removeAttribute("aria-invalid");
}

// ---- what happened -----------------------------------------------------------------------------

function outcomes(answer) {
  const anyLinked = answer.accounts.some((account) => account.outcome !== "REJECTED");
  return h(
    "section",
    { class: `notice notice-${anyLinked ? "success" : "warning"}`, role: "status", "aria-labelledby": "outcome-title" },
    h("h2", { id: "outcome-title", class: "notice-title", tabindex: "-1" }, "What happened"),
    h("ul", { class: "outcomes" }, answer.accounts.map(outcomeItem)),
    h("p", {}, emailText(answer.emailSent)),
    answer.status === "REGISTERED" ? h("p", {}, h("a", { href: "#/accounts" }, "See your accounts and bills")) : null,
  );
}

function outcomeItem(account) {
  return h(
    "li",
    { class: `outcome outcome-${account.outcome.toLowerCase()}` },
    h("strong", {}, account.accountNumber),
    h("span", { class: "badge" }, OUTCOME_LABELS[account.outcome] ?? account.outcome),
    h("p", {}, outcomeText(account)),
    account.outcome === "REJECTED" ? null : invoiceCloudText(account.invoiceCloudRegistered),
  );
}

const OUTCOME_LABELS = { LINKED: "Linked", ALREADY_LINKED: "Already linked", REJECTED: "Not linked" };

/**
 * The 429: the server's message says when to try again, in the biller's zone (details.retryAt has
 * the same time in UTC); then what to check meanwhile.
 */
function tooManyAttempts(error) {
  return [
    h("strong", { id: "rate-limited" }, "Linking is paused for your security. "),
    `${error.message} `,
    "Meanwhile, check the account number and the registration value printed on your bill.",
  ];
}

function outcomeText(account) {
  if (account.outcome === "LINKED") return "Linked to your profile. You can now see and pay its bills here.";
  if (account.outcome === "ALREADY_LINKED") return "This account was already linked to your profile. Nothing to do.";
  if (account.reason === "rate_limited") {
    return "Not checked: too many unsuccessful attempts for this account or your profile. Try it again later.";
  }
  return "We could not match this account number and registration value. Check both on your bill.";
}

function invoiceCloudText(registered) {
  if (registered === true) {
    return h("p", { class: "hint" }, "You are already registered with Invoice Cloud, our payment provider.");
  }
  if (registered === false) {
    return h(
      "p",
      { class: "hint" },
      "You are not yet registered with Invoice Cloud, our payment provider. We are sending you an email with a " +
        "link to finish registering with them (for example, to manage paperless billing). You can pay here " +
        "either way.",
    );
  }
  return h(
    "p",
    { class: "hint" },
    "We could not check your registration with Invoice Cloud, our payment provider, just now. If you still need " +
      "to register with them, the email we send you has the link. You can pay here either way.",
  );
}

function emailText(sent) {
  const email = currentSession()?.email;
  if (sent) return `We sent a confirmation email${email ? ` to ${email}` : ""}.`;
  return "No email was sent, because no account was newly linked.";
}

// ---- what is linked now ------------------------------------------------------------------------

async function loadLinked(section) {
  const title = () => h("h2", { id: "linked-title" }, "Accounts linked to your profile");
  mount(section, title(), h("p", { role: "status" }, "Loading…"));
  let answer;
  try {
    answer = (await api("GET", "/registrations")).body;
  } catch (error) {
    mount(section, title(), errorNotice(error));
    return;
  }
  mount(
    section,
    title(),
    answer.accounts.length
      ? h(
          "ul",
          { class: "linked-list" },
          answer.accounts.map((account) =>
            h(
              "li",
              {},
              h("strong", {}, account.accountNumber),
              h("span", { class: "hint" }, ` linked ${formatMoment(account.linkedAt)}`),
              h("span", { class: "hint" }, ` · Invoice Cloud: ${registrationLabel(account.invoiceCloudRegistered)}`),
            ),
          ),
        )
      : h("p", {}, "No accounts yet. Link one with the form above."),
  );
}

function registrationLabel(registered) {
  if (registered === true) return "registered";
  if (registered === false) return "not registered yet";
  return "unknown right now (Invoice Cloud did not answer; reload the page later)";
}
