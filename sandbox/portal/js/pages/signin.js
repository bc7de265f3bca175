// Signing in. In the sandbox, "Sign in as": a demo chooser standing in for the portal's real
// (OpenID Connect) sign-in. On a trial stack, a button to the stack's hosted sign-in (Cognito's).

import { inSandbox } from "../config.js";
import { h, heading, mount, notice } from "../dom.js";
import {
  currentSession,
  expiredSession,
  signIn,
  startHostedSignIn,
  takeReturnTo,
  takeSignInProblem,
} from "../session.js";

const DEMO_USERS = [
  { sub: "alice", about: "two linked accounts, three open invoices" },
  { sub: "bob", about: "one linked account" },
  { sub: "carol", about: "no linked accounts yet: her bills show registration values 3001-REG and 3002-REG" },
  { sub: "dana", about: "one account with a credit: it lowers her oldest bill" },
];

function expiredNotice(expired) {
  return expired
    ? notice(
        "warning",
        h("strong", { id: "expired-notice" }, "Your sign-in has expired. "),
        `You were signed in as ${expired.name}; for your security, a sign-in lasts a limited time. ` +
          "Sign in again to continue where you were.",
      )
    : null;
}

export async function render({ view }) {
  if (!inSandbox()) {
    renderHostedSignIn(view);
    return;
  }
  const status = h("div", { class: "status-slot" });
  const session = currentSession();
  const expired = session ? null : expiredSession();
  mount(
    view,
    heading("Sign in"),
    expiredNotice(expired),
    notice(
      "info",
      h("strong", {}, "Sandbox sign-in. "),
      "This page stands in for the portal's real sign-in. The real portal signs you in with its identity " +
        "provider (OpenID Connect); here the sandbox issues a test token for any user id you choose.",
    ),
    session
      ? h("p", {}, "You are signed in as ", h("strong", {}, session.name), ". Choose another user to switch.")
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

/** A trial stack's sign-in: its Cognito user pool's hosted pages, and back here with a code. */
function renderHostedSignIn(view) {
  const session = currentSession();
  const problem = takeSignInProblem();
  const status = h("div", { class: "status-slot" }, problem ? notice("error", problem) : null);
  const button = h(
    "button",
    {
      type: "button",
      class: "button-primary",
      onClick: async () => {
        button.disabled = true;
        mount(status, notice("info", "Opening the sign-in page…"));
        try {
          await startHostedSignIn();
        } catch {
          button.disabled = false;
          mount(status, notice("error", "The sign-in page could not be opened. Please try again."));
        }
      },
    },
    session ? "Sign in as someone else" : "Sign in",
  );
  mount(
    view,
    heading("Sign in"),
    session ? null : expiredNotice(expiredSession()),
    notice(
      "info",
      h("strong", {}, "Trial sign-in. "),
      "You sign in on the trial stack's own sign-in page (Amazon Cognito), with a user its operator created. " +
        "The real portal signs you in with its identity provider.",
    ),
    session ? h("p", {}, "You are signed in as ", h("strong", {}, session.name), ".") : null,
    status,
    h("p", {}, button),
  );
}
