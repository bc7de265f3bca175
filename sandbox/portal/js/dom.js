// The one way this portal builds markup: elements from tag names, attributes set with
// setAttribute, and every piece of text inserted as a text node. Nothing here parses HTML, so a
// value from the API (a payer's name may contain "<b>") always shows up as the text it is.

/**
 * h("p", {class: "note"}, "Hello ", h("strong", {}, name)) -> <p class="note">Hello <strong>…</strong></p>
 *
 * props: attribute name -> value. `true` sets an empty attribute, `false`/null/undefined leave it out,
 * a function under an `on…` name becomes an event listener (onClick -> "click").
 * children: strings and numbers become text nodes; nodes are appended; arrays are flattened;
 * null, undefined and false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (typeof value === "function" && name.startsWith("on")) {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else if (value !== false && value !== null && value !== undefined) {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) {
      append(parent, child);
    } else if (child instanceof Node) {
      parent.appendChild(child);
    } else {
      parent.appendChild(document.createTextNode(String(child)));
    }
  }
}

/** Replace everything inside `container` with `children` (same rules as h()). */
export function mount(container, ...children) {
  container.replaceChildren();
  append(container, children);
  return container;
}

/** A page's main heading; focusable so that the router can move focus to it after navigating. */
export function heading(text) {
  return h("h1", { tabindex: "-1", class: "page-title" }, text);
}

/**
 * A message box. kind: "info" | "success" | "warning" | "error". Errors are alerts (announced at
 * once); the others are polite status messages.
 */
export function notice(kind, ...children) {
  const role = kind === "error" ? "alert" : "status";
  return h("div", { class: `notice notice-${kind}`, role }, ...children);
}

/** Text only screen readers read, e.g. to complete a short link or button label. */
export function hiddenText(text) {
  return h("span", { class: "visually-hidden" }, text);
}

/** A <dl> from [term, description] pairs; a null description leaves the pair out. */
export function facts(pairs, className = "facts") {
  return h(
    "dl",
    { class: className },
    pairs
      .filter(([, description]) => description !== null && description !== undefined)
      .map(([term, description]) => [h("dt", {}, term), h("dd", {}, description)]),
  );
}

/** A link to a route of this portal, e.g. link("#/register", "Link an account"). */
export function link(href, ...children) {
  return h("a", { href }, ...children);
}

/** A region that says `text` while its content loads; fill it with settle(). */
export function loadingRegion(text) {
  return h("div", { class: "content", "aria-busy": "true" }, h("p", { role: "status" }, text));
}

/** Put the loaded content in a region made by loadingRegion(). */
export function settle(region, ...children) {
  mount(region, ...children);
  region.removeAttribute("aria-busy");
}
