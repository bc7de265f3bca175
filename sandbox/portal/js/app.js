// The portal's shell: its settings (config.json), hash routes, the header (who is signed in), the
// navigation, and focus. The gateway (or, on a trial stack, CloudFront) serves only files, so every
// page lives behind a hash: #/accounts, #/pay, #/return/<paymentId> (Invoice Cloud's receipt links
// back there), #/history, #/register, #/mailbox (the sandbox's), #/signin.

import { ApiError } from "./api.js";
import { inSandbox, loadConfig } from "./config.js";
import { h, heading, mount, notice, link } from "./dom.js";
import { setBillerTimeZone } from "./format.js";
import {
  currentSession,
  expiredSession,
  finishHostedSignIn,
  onSessionChange,
  rememberReturnTo,
  signOut,
  takeReturnTo,
} from "./session.js";
import * as accounts from "./pages/accounts.js";
import * as history from "./pages/history.js";
import * as mailbox from "./pages/mailbox.js";
import * as pay from "./pages/pay.js";
import * as payment from "./pages/payment.js";
import * as register from "./pages/register.js";
import * as signin from "./pages/signin.js";

const SITE = "Avocette member portal";

// pattern: matched against the part after "#"; nav: which navigation link is current;
// open: reachable without signing in.
const ROUTES = [
  { pattern: /^\/signin$/, page: signin, title: "Sign in", nav: null, open: true },
  { pattern: /^\/accounts$/, page: accounts, title: "Your accounts", nav: "accounts" },
  { pattern: /^\/pay$/, page: pay, title: "Pay bills", nav: "pay" },
  { pattern: /^\/return\/([^/]+)$/, page: payment, title: "Your payment", nav: "history" },
  { pattern: /^\/history$/, page: history, title: "Payment history", nav: "history" },
  { pattern: /^\/register$/, page: register, title: "Link accounts", nav: "register" },
  { pattern: /^\/mailbox$/, page: mailbox, title: "Mailbox", nav: "mailbox", open: true },
];

let activeRoute = null; // AbortController of the page on screen: aborted when it is left
let firstRender = true;

function resolve(path) {
  for (const route of ROUTES) {
    const match = route.pattern.exec(path);
    if (match) {
      return { route, params: match.slice(1).map(decodeURIComponent) };
    }
  }
  return null;
}

async function render() {
  const hash = window.location.hash;
  if (hash && !hash.startsWith("#/")) {
    return; // an in-page anchor, such as the skip link's #main
  }
  const path = hash.slice(1);
  if (!path || path === "/") {
    window.location.replace(currentSession() ? "#/accounts" : "#/signin");
    return;
  }
  activeRoute?.abort();
  activeRoute = new AbortController();
  renderWho(currentSession()); // a sign-in may have run out since the last page
  const view = h("div", { class: "view" });
  mount(document.getElementById("main"), view);

  const found = resolve(path);
  if (!found) {
    showPage("Page not found", null);
    mount(
      view,
      heading("Page not found"),
      h("p", {}, "There is no such page. ", link("#/accounts", "Go to your accounts")),
    );
    focusHeading(view);
    return;
  }
  const { route, params } = found;
  if (!route.open && !currentSession()) {
    rememberReturnTo(hash);
    window.location.replace("#/signin");
    return;
  }
  showPage(route.title, route.nav);
  const rendering = route.page.render({ view, params, signal: activeRoute.signal });
  focusHeading(view);
  try {
    await rendering;
  } catch (error) {
    if (!(error instanceof ApiError)) console.error(error);
    view.append(notice("error", error?.message || "Something went wrong. Please reload the page."));
  }
}

function showPage(title, nav) {
  document.title = `${title} · ${SITE}`;
  for (const anchor of document.querySelectorAll(".site-nav a")) {
    if (anchor.dataset.route === nav) {
      anchor.setAttribute("aria-current", "page");
    } else {
      anchor.removeAttribute("aria-current");
    }
  }
}

/** After a navigation, move focus to the new page's heading (not on the first load). */
function focusHeading(view) {
  if (firstRender) {
    firstRender = false;
    return;
  }
  view.querySelector("h1")?.focus();
}

function renderWho(session) {
  const who = document.getElementById("who");
  if (!session) {
    const expired = expiredSession();
    if (expired) {
      mount(
        who,
        h("span", { class: "who-text", id: "sign-in-expired" }, "Your sign-in has expired"),
        link("#/signin", "Sign in again"),
      );
      return;
    }
    mount(who, link("#/signin", "Sign in"));
    return;
  }
  mount(
    who,
    h("span", { class: "who-text" }, "Signed in as ", h("strong", {}, session.name)),
    h(
      "button",
      {
        type: "button",
        class: "button-quiet",
        onClick: () => {
          const next = signOut();
          window.location.assign(next ?? "#/signin");
        },
      },
      "Sign out",
    ),
  );
}

function skipToMain(event) {
  event.preventDefault();
  document.getElementById("main").focus();
}

/** What differs where the portal runs: the sandbox's mailbox, and the footer's words. */
function showWhereItRuns() {
  const sandbox = inSandbox();
  document.getElementById("where").textContent = sandbox ? "the local sandbox" : "a trial stack";
  if (!sandbox) {
    document.querySelector('.site-nav a[data-route="mailbox"]')?.closest("li")?.remove();
  }
}

async function start() {
  document.querySelector(".skip-link").addEventListener("click", skipToMain);
  try {
    setBillerTimeZone((await loadConfig()).billerTimeZone); // every time a page shows is in the biller's zone
  } catch (error) {
    mount(document.getElementById("main"), h("div", { class: "view" }, heading("Portal unavailable"), notice("error", error.message)));
    return;
  }
  showWhereItRuns();
  // Back from the hosted sign-in: on to where the payer was going (a failed sign-in lands on the
  // sign-in page, which says what went wrong). No hashchange: the first render below draws it.
  if (!inSandbox() && (await finishHostedSignIn())) {
    window.history.replaceState(null, "", takeReturnTo() || "#/accounts");
  }
  onSessionChange(renderWho);
  renderWho(currentSession());
  window.addEventListener("hashchange", render);
  // Back from Invoice Cloud, a page restored from the back/forward cache would show stale state
  // (such as a button still saying "Opening Invoice Cloud…"): draw it afresh.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) render();
  });
  render();
}

start();
