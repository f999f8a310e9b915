// Shared by every page script: the translated strings shipped with the page, the CSRF token,
// REST calls with that token, and spans as text. No inline scripts anywhere (CSP).

const stringsNode = document.getElementById("vigil-strings");
const STRINGS = stringsNode ? JSON.parse(stringsNode.textContent) : {};

/** A translated string by catalog key, with {name} placeholders filled in. */
export function t(key, params = {}) {
  const text = STRINGS[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

export function csrfToken() {
  return document.body.dataset.csrf || "";
}

/** A span in seconds as "3 h 05 min", "12 min" or "40 s" (as api/web/format.py writes it). */
export function duration(seconds) {
  const s = Math.floor(Math.abs(seconds));
  if (s >= 86400) return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min`;
  return `${s} s`;
}

/** The reason of a refused REST call, in words: the translated code, then the API's message. */
export function reason(error) {
  const key = `error.${error.code}`;
  const known = t(key);
  if (known === key) return error.message || t("error.unknown");
  return error.message ? `${known} (${error.message})` : known;
}

/**
 * POST a JSON body to the REST API with the session cookie and the CSRF token.
 * Resolves to {ok: true, body} or {ok: false, error: {code, message}}; never throws.
 */
export async function post(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(body),
    });
  } catch {
    return { ok: false, error: { code: "network", message: "" } };
  }
  let parsed = null;
  try {
    parsed = await response.json();
  } catch {
    parsed = null;
  }
  if (response.ok) return { ok: true, body: parsed };
  const error = parsed && parsed.error ? parsed.error : { code: "unknown", message: "" };
  if (error.code === "validation_error" || response.status === 422) error.code = error.code || "invalid_request";
  return { ok: false, error };
}

/** The offset (ms) of IANA zone `tz` from UTC at instant `ms`. */
function zoneOffset(ms, tz) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(new Date(ms));
  const get = (type) => Number(parts.find((p) => p.type === type).value);
  const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/**
 * A wall time typed in an <input type="datetime-local"> ("2030-01-02T09:30"), read in the
 * viewer's time zone (not the browser's), as an ISO 8601 instant; null if empty or invalid.
 */
export function wallTimeToISO(value, tz) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value || "");
  if (!m) return null;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  let utc = wall - zoneOffset(wall, tz);
  utc = wall - zoneOffset(utc, tz); // once more across a daylight-saving change
  return new Date(utc).toISOString();
}
