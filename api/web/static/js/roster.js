// The roster page's admin edits: add a shift or an override, remove one. Each goes to the
// roster REST endpoints with the session's CSRF token (X-CSRF-Token); a refused change shows the
// API's reason in words, a done one reloads the page so what is shown is the server's roster.
import { csrfToken, post, reason, t } from "./common.js";

const result = document.getElementById("roster-result");

function show(text, isError) {
  result.textContent = text;
  result.classList.toggle("error", isError);
  result.focus();
}

function bodyOf(form) {
  const fields = new FormData(form);
  const get = (name) => (fields.get(name) || "").toString().trim();
  if (form.dataset.kind === "shift") {
    return { staff_id: get("staff_id"), role: get("role"), tz: get("tz"),
      weekdays: fields.getAll("weekdays").map(Number),
      start_time: get("start_time"), end_time: get("end_time") };
  }
  const when = (name) => (get(name) ? new Date(get(name)).toISOString() : null);
  return { staff_id: get("staff_id"), role: get("role"), starts_at: when("starts_at"),
    ends_at: when("ends_at"), replaces: get("replaces") || null, reason: get("reason") };
}

async function remove(path) {
  try {
    const response = await fetch(path, { method: "DELETE", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken() } });
    if (response.ok) return { ok: true };
    const parsed = await response.json().catch(() => null);
    return { ok: false, error: parsed?.error || { code: "unknown", message: "" } };
  } catch {
    return { ok: false, error: { code: "network", message: "" } };
  }
}

async function done(answer, controls) {
  if (answer.ok) {
    show(t("js.done"), false);
    location.reload();
    return;
  }
  show(reason(answer.error), true);
  controls.forEach((c) => { c.disabled = false; });
}

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form.roster-form");
  if (!form) return;
  event.preventDefault();
  const buttons = [...form.querySelectorAll("button")];
  buttons.forEach((b) => { b.disabled = true; });
  show(t("js.working"), false);
  await done(await post(form.dataset.post, bodyOf(form)), buttons);
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-delete]");
  if (!button) return;
  button.disabled = true;
  show(t("js.working"), false);
  await done(await remove(button.dataset.delete), [button]);
});
