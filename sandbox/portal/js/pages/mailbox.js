// The sandbox's mailbox (GET /dev/mailbox): the emails the functions asked SES to send.
// Sandbox only: a deployed portal has no such page.

import { inSandbox } from "../config.js";
import { h, heading, mount, notice } from "../dom.js";
import { currentSession } from "../session.js";

export async function render({ view }) {
  if (!inSandbox()) {
    mount(
      view,
      heading("Mailbox"),
      notice("info", "The mailbox is the sandbox's: here, the payments service sends its emails through Amazon SES."),
    );
    return;
  }
  const session = currentSession();
  const list = h("div", { class: "mail-list", "aria-live": "polite" });
  const mineOnly = h("input", { type: "checkbox", id: "mine-only", checked: Boolean(session?.email) });
  const refresh = () => load(list, mineOnly.checked ? session?.email : "");
  mineOnly.addEventListener("change", refresh);
  mount(
    view,
    heading("Mailbox"),
    notice(
      "info",
      "Sandbox only: the emails the payments service sent through Amazon SES, newest first. " +
        "Nothing leaves your computer.",
    ),
    h(
      "div",
      { class: "toolbar" },
      session?.email
        ? h(
            "div",
            { class: "checkbox-field" },
            mineOnly,
            h("label", { for: "mine-only" }, `Only emails to ${session.email}`),
          )
        : null,
      h("button", { type: "button", class: "button-secondary", onClick: refresh }, "Refresh"),
    ),
    list,
  );
  await refresh();
}

async function load(list, to) {
  list.setAttribute("aria-busy", "true");
  const query = to ? `?to=${encodeURIComponent(to)}` : "";
  let messages;
  try {
    const response = await fetch(`/dev/mailbox${query}`, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    messages = (await response.json()).messages;
  } catch {
    mount(list, notice("error", "We could not read the sandbox mailbox. Is the sandbox still running?"));
    list.removeAttribute("aria-busy");
    return;
  }
  mount(
    list,
    messages.length ? messages.map(message) : h("p", {}, to ? `No emails to ${to} yet.` : "No emails yet."),
  );
  list.removeAttribute("aria-busy");
}

function message(email) {
  const titleId = `mail-${email.number}`;
  return h(
    "article",
    { class: "panel mail", "aria-labelledby": titleId },
    h("h2", { id: titleId }, email.subject || "(no subject)"),
    h(
      "dl",
      { class: "facts mail-facts" },
      h("dt", {}, "To"),
      h("dd", {}, email.to.join(", ")),
      h("dt", {}, "From"),
      h("dd", {}, email.from),
    ),
    h("pre", { class: "mail-body" }, ...linked(email.body ?? "")),
  );
}

// An http(s) address in a mail's text, up to a space or a character no address ends with here.
const ADDRESS = /https?:\/\/[^\s<>"']+/g;
const TRAILING = /[.,;:!?)\]]+$/;

/**
 * A mail's text with each http(s) address made a link, as a mail program would show it: the text
 * stays text (nodes, never markup), and only http: and https: addresses become links.
 */
export function linked(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(ADDRESS)) {
    const address = match[0].replace(TRAILING, "");
    const url = safeUrl(address);
    if (!url) continue;
    parts.push(text.slice(last, match.index), h("a", { href: url, rel: "noopener noreferrer" }, address));
    last = match.index + address.length;
  }
  parts.push(text.slice(last));
  return parts.filter((part) => part !== "");
}

function safeUrl(address) {
  try {
    const url = new URL(address);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}
