// Money and dates as payers read them. The API sends money as strings with two decimals ("84.20");
// they are never turned into floating-point numbers: sums are made in integer cents.

const AMOUNT = /^(-?)(\d+)(?:\.(\d{1,2}))?$/;

/** "84.20" -> 8420, "5" -> 500, "-1.5" -> -150. Throws on anything that is not an amount. */
export function toCents(text) {
  const match = AMOUNT.exec(String(text ?? "").trim());
  if (!match) {
    throw new Error(`Not an amount: ${text}`);
  }
  const [, sign, whole, fraction = ""] = match;
  const cents = Number.parseInt(whole + fraction.padEnd(2, "0"), 10);
  return sign && cents !== 0 ? -cents : cents;
}

/** 8420 -> "$84.20", 123456 -> "$1,234.56", -150 -> "-$1.50". */
export function formatCents(cents) {
  if (!Number.isSafeInteger(cents)) {
    throw new Error(`Not a number of cents: ${cents}`);
  }
  const digits = String(Math.abs(cents)).padStart(3, "0");
  const whole = digits.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${cents < 0 ? "-" : ""}$${whole}.${digits.slice(-2)}`;
}

/** "84.20" -> "$84.20". */
export function dollars(text) {
  return formatCents(toCents(text));
}

const DAY = new Intl.DateTimeFormat("en-US", { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
// Times are shown in the biller's time zone, with the zone's name: payers read their utility's
// local time, the same on the portal, on Invoice Cloud's receipt and in emails. The API sends UTC
// (RFC 3339) and names the zone in each payment (billerTimeZone); the portal's config.json names it
// too (billerTimeZone: BILLER_TIME_ZONE), for every time shown without a payment at hand. Only when
// neither is known (config.json unreadable) does a page use the zone last seen in a payment (kept
// for the tab), and never the device's when one of those is known.
const ZONE_KEY = "avocette.portal.billerTimeZone";
const MOMENT_FORMATS = new Map();
let configuredTimeZone = null;

/** The biller's zone from the portal's config.json: the zone of every time a page shows. */
export function setBillerTimeZone(timeZone) {
  if (typeof timeZone === "string" && timeZone && knownZone(timeZone)) {
    configuredTimeZone = timeZone;
  }
}

function knownZone(timeZone) {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return true;
  } catch {
    return false;
  }
}

function momentFormat(timeZone) {
  const key = timeZone || "";
  if (!MOMENT_FORMATS.has(key)) {
    let format;
    try {
      format = new Intl.DateTimeFormat("en-US", {
        year: "numeric",
        month: "short",
        day: "numeric",
        hour: "numeric",
        minute: "2-digit",
        timeZoneName: "short",
        ...(timeZone ? { timeZone } : {}),
      });
    } catch {
      return momentFormat(null); // a zone this browser does not know: the device's, still named
    }
    MOMENT_FORMATS.set(key, format);
  }
  return MOMENT_FORMATS.get(key);
}

/** Remember the biller's zone from an API answer, for pages that show times without a payment. */
export function rememberTimeZone(timeZone) {
  if (typeof timeZone === "string" && timeZone) {
    try {
      sessionStorage.setItem(ZONE_KEY, timeZone);
    } catch {
      // storage full or unavailable: the zone is still passed where a payment is at hand
    }
  }
}

function rememberedTimeZone() {
  try {
    return sessionStorage.getItem(ZONE_KEY);
  } catch {
    return null;
  }
}

/** "2026-12-15" -> "Dec 15, 2026" (a calendar date: no time zone may move it by a day). */
export function formatDate(text) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text ?? "")) return text ?? "";
  return DAY.format(new Date(`${text}T00:00:00Z`));
}

/**
 * "2026-11-25T20:40:01Z" -> "Nov 25, 2026, 3:40 PM EST": in `timeZone` (the biller's, from the
 * payment), else the biller's zone from config.json, else the zone remembered from the last payment
 * seen, else the device's.
 */
export function formatMoment(text, timeZone = null) {
  const moment = new Date(text);
  if (Number.isNaN(moment.getTime())) return text ?? "";
  rememberTimeZone(timeZone);
  return momentFormat(timeZone || configuredTimeZone || rememberedTimeZone()).format(moment);
}

/**
 * A payment's deadlines in one sentence a payer can act on. Invoice Cloud's page takes the payment
 * until its session ends (sessionExpiresAt); the invoices stay held a little longer
 * (invoicesHeldUntil: a payment made in the session's last minutes may still be on its way), and
 * only then can another payment of them start.
 */
export function sessionDeadlines(payment) {
  const zone = payment.billerTimeZone || null;
  const open = formatMoment(payment.sessionExpiresAt, zone);
  const held = payment.invoicesHeldUntil ? formatMoment(payment.invoicesHeldUntil, zone) : null;
  if (!held || held === open) {
    return `You can pay on Invoice Cloud until ${open}.`;
  }
  return (
    `You can pay on Invoice Cloud until ${open}; its invoices stay held until ${held}, in case a payment ` +
    "made at the last minute is still on its way, and can be paid in a new payment after that."
  );
}

/** "1 invoice", "2 invoices". */
export function plural(count, singular, pluralForm = `${singular}s`) {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}
