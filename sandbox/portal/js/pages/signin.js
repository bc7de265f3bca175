// "Sign in as": a demo chooser standing in for the portal's real (OpenID Connect) sign-in.

import { h, heading, mount, notice } from "../dom.js";
import { currentSession, expiredSession, signIn, takeReturnTo } from "../session.js";

const DEMO_USERS = [
  { sub: "alice", about: "two linked accounts, three open invoices" },
  { sub: "bob", about: "one linked account" },
  { sub: "carol", about: "no linked accounts yet: her bills show registration values 3001-REG and 3002-REG" },
  { sub: "dana", about: "one account with a credit: it lowers her oldest bill" },
];

export async function render({ view }) {
  const status = h("div", { class: "status-slot" });
  const session = currentSession();
  const expired = session ? null : expiredSession();
  mount(
    view,
    heading("Sign in"),
    expired
      ? notice(
          "warning",
          h("strong", { id: "expired-notice" }, "Your sign-in has expired. "),
          `You were signed in as ${expired.sub}; for your security, a sign-in lasts a limited time. ` +
            "Sign in again to continue where you were.",
        )
      : null,
    notice(
      "info",
      h("strong", {}, "Sandbox sign-in. "),
      "This page stands in for the portal's real sign-in. The real portal signs you in with its identity " +
        "provider (OpenID Connect); here the sandbox issues a test token for any user id you choose.",
    ),
    session
      ? h("p", {}, "You are signed in as ", h("strong", {}, session.sub), ". Choose another user to switch.")
      : null,
    status,
    h(
      "section",
      { class: "panel", "aria-labelledby": "demo-users-title" },
      h("h2", { id: "demo-users-title" }, "Demo users"),
      h(
        "ul",
        { class: "choices" },
        DEMO_USERS.map((user) =>
          h(
            "li",
            {},
            h(
              "button",
              { type: "button", class: "button-primary", onClick: () => choose(user.sub, status) },
              `Sign in as ${user.sub}`,
            ),
            h("span", { class: "choice-note" }, user.about),
          ),
        ),
      ),
    ),
    otherUserForm(status),
  );
}

function otherUserForm(status) {
  const input = h("input", {
    id: "other-user",
    name: "sub",
    type: "text",
    autocomplete: "username",
    required: true,
    maxlength: "128",
    spellcheck: "false",
  });
  return h(
    "section",
    { class: "panel", "aria-labelledby": "other-user-title" },
    h("h2", { id: "other-user-title" }, "Any other user"),
    h(
      "form",
      {
        class: "inline-form",
        novalidate: true,
        onSubmit: (event) => {
          event.preventDefault();
          const sub = input.value.trim();
          if (!sub) {
            mount(status, notice("error", "Type a user id to sign in with."));
            input.focus();
            return;
          }
          choose(sub, status);
        },
      },
      h("div", { class: "field" }, h("label", { for: "other-user" }, "User id"), input),
      h("button", { type: "submit", class: "button-secondary" }, "Sign in"),
    ),
  );
}

async function choose(sub, status) {
  mount(status, notice("info", `Signing in as ${sub}…`));
  try {
    await signIn(sub);
  } catch (error) {
    mount(status, notice("error", error.message));
    return;
  }
  window.location.assign(takeReturnTo() || "#/accounts");
}
