// The portal's shell: hash routes, the header (who is signed in), the navigation, and focus.
// The gateway serves only files, so every page lives behind a hash: #/accounts, #/pay,
// #/return/<paymentId> (Invoice Cloud's receipt links back there), #/history, #/register,
// #/mailbox, #/signin.

import { ApiError } from "./api.js";
import { h, heading, mount, notice, link } from "./dom.js";
import { setBillerTimeZone } from "./format.js";
import { currentSession, expiredSession, onSessionChange, rememberReturnTo, signOut } from "./session.js";
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
    h("span", { class: "who-text" }, "Signed in as ", h("strong", {}, session.sub)),
    h(
      "button",
      {
        type: "button",
        class: "button-quiet",
        onClick: () => {
          signOut();
          window.location.assign("#/signin");
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

document.querySelector(".skip-link").addEventListener("click", skipToMain);
onSessionChange(renderWho);
renderWho(currentSession());
window.addEventListener("hashchange", render);
// Back from Invoice Cloud, a page restored from the back/forward cache would show stale state
// (such as a button still saying "Opening Invoice Cloud…"): draw it afresh.
window.addEventListener("pageshow", (event) => {
  if (event.persisted) render();
});
loadSettings().finally(render);

/** The portal's config.json: the biller's time zone, for every time a page shows. A portal that
 * cannot read it still works; its times then follow the payments it has seen. */
async function loadSettings() {
  try {
    const response = await fetch("config.json", { cache: "no-store", headers: { Accept: "application/json" } });
    const settings = response.ok ? await response.json() : null;
    setBillerTimeZone(settings?.billerTimeZone);
  } catch {
    // offline or not served: the payments' own zone still applies where a payment is shown
  }
}
