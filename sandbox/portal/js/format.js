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
const MOMENT = new Intl.DateTimeFormat("en-US", {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "numeric",
  minute: "2-digit",
  timeZoneName: "short",
});

/** "2026-12-15" -> "Dec 15, 2026" (a calendar date: no time zone may move it by a day). */
export function formatDate(text) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text ?? "")) return text ?? "";
  return DAY.format(new Date(`${text}T00:00:00Z`));
}

/** "2026-11-25T20:40:01Z" -> "Nov 25, 2026, 3:40 PM EST" in the payer's own time zone. */
export function formatMoment(text) {
  const moment = new Date(text);
  return Number.isNaN(moment.getTime()) ? (text ?? "") : MOMENT.format(moment);
}

/** "1 invoice", "2 invoices". */
export function plural(count, singular, pluralForm = `${singular}s`) {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}
