// The worklist, live: rows arrive over the alerts websocket (/ws/alerts, the session cookie at
// the handshake). After a dropped connection it resumes from the last seq it saw, so nothing is
// missed and nothing repeats. Each event re-fetches that alert's row as HTML from the server
// (/worklist/rows/<id>, same filters as the page): 200 replaces or adds it, 204 removes it.
// A new critical alert is announced in an aria-live banner and with a beep (mute remembered).
import { duration, post, reason, t } from "./common.js";

const table = document.getElementById("worklist");
const tbody = document.getElementById("worklist-rows");
const empty = document.getElementById("empty");
const connState = document.getElementById("conn-state");
const announce = document.getElementById("announce");
const muteButton = document.getElementById("mute");
const actionResult = document.getElementById("action-result");
const MUTE_KEY = "vigil.worklist.muted";
const RETRY_MS = [500, 1000, 2000, 5000, 10000];

let lastSeq = Number(table.dataset.seq || 0);
let retries = 0;
let audio = null;

function setConn(state) {
  connState.dataset.state = state;
  connState.textContent = t(`js.conn.${state === "live" ? "live" : state === "offline" ? "offline" : "connecting"}`);
}

// --- ordering: the same key as api/web/views.py (severity rank, deadline, opened) -----------
function key(row) {
  return [Number(row.dataset.rank), Number(row.dataset.deadline), Number(row.dataset.opened)];
}

function before(a, b) {
  const ka = key(a), kb = key(b);
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i];
  return false;
}

function place(row) {
  for (const other of tbody.rows) {
    if (other !== row && before(row, other)) { tbody.insertBefore(row, other); return; }
  }
  tbody.appendChild(row);
}

function refreshEmpty() {
  empty.hidden = tbody.rows.length > 0;
}

// --- rows from the server -------------------------------------------------------------------
async function refreshRow(alertId) {
  const url = `/worklist/rows/${encodeURIComponent(alertId)}${location.search}`;
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
  if (response.status === 401) { location.assign("/signin?error=expired"); return; }
  const existing = document.getElementById(`alert-${alertId}`);
  if (response.status === 204) {
    if (existing) existing.remove();
    refreshEmpty();
    return;
  }
  if (!response.ok) throw new Error(`row ${response.status}`);
  const holder = document.createElement("tbody");
  holder.innerHTML = (await response.text()).trim();
  const row = holder.querySelector("tr");
  if (!row) return;
  const isNew = !existing;
  if (existing) existing.replaceWith(row);
  place(row);
  tick(row, Date.now());
  if (isNew) {
    row.classList.add("fresh");
    if (row.dataset.severity === "critical") announceCritical(row);
  }
  refreshEmpty();
}

// --- announcing a critical alert: visibly and audibly -------------------------------------
function muted() {
  return localStorage.getItem(MUTE_KEY) === "1";
}

function showMute() {
  const m = muted();
  muteButton.setAttribute("aria-pressed", String(m));
  muteButton.textContent = t(m ? "js.sound.unmute" : "js.sound.mute");
}

function beep() {
  if (muted()) return;
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [i, freq] of [880, 660, 880].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.15, now + i * 0.25);
      gain.gain.exponentialRampToValueAtTime(0.001, now + i * 0.25 + 0.2);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.25);
      osc.stop(now + i * 0.25 + 0.22);
    }
  } catch {
    // no audio device or blocked autoplay: the visible banner still announces it
  }
}

function announceCritical(row) {
  const title = row.querySelector(".title a")?.textContent || "";
  const patient = row.querySelector(".patient")?.textContent || "";
  announce.textContent = t("js.critical", { title, patient });
  announce.hidden = false;
  beep();
}

// browsers start audio only after a gesture: the first click or key on the page unlocks it
for (const type of ["click", "keydown"]) {
  document.addEventListener(type, () => {
    try { audio = audio || new AudioContext(); audio.resume(); } catch { /* no audio device */ }
  }, { once: true });
}

muteButton.addEventListener("click", () => {
  localStorage.setItem(MUTE_KEY, muted() ? "0" : "1");
  showMute();
});
showMute();

// --- clocks: time open and countdown to the deadline, every second --------------------------
const NO_DEADLINE = 2 ** 53 - 1;

function tick(row, nowMs) {
  const age = row.querySelector(".js-age");
  if (age) age.textContent = duration((nowMs - Number(row.dataset.opened)) / 1000);
  const countdown = row.querySelector(".js-countdown");
  const deadline = Number(row.dataset.deadline);
  if (!countdown || deadline === NO_DEADLINE) return;
  const left = (deadline - nowMs) / 1000;
  const overdue = left <= 0;
  row.classList.toggle("overdue", overdue);
  countdown.textContent = overdue ? `⏰ ${t("js.overdue", { span: duration(-left) })}` : duration(left);
}

setInterval(() => {
  const nowMs = Date.now();
  for (const row of tbody.rows) tick(row, nowMs);
}, 1000);

// --- the feed ---------------------------------------------------------------------------------
let queue = Promise.resolve();

function onEvent(frame) {
  if (typeof frame.seq !== "number" || frame.seq <= lastSeq) return; // seen already
  lastSeq = frame.seq;
  table.dataset.seq = String(lastSeq);
  // one row request at a time, in feed order, so an older state never overwrites a newer one
  queue = queue.then(() => refreshRow(frame.alert_id)).catch(() => {});
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/alerts?after=${lastSeq}`);
  ws.addEventListener("message", (message) => {
    let frame;
    try { frame = JSON.parse(message.data); } catch { return; }
    if (frame.type === "hello") { retries = 0; setConn("live"); }
    else if (frame.type === "alert_event") onEvent(frame);
  });
  ws.addEventListener("close", (event) => {
    setConn("offline");
    if (event.code === 4401 || event.code === 4440) { location.assign("/signin?error=expired"); return; }
    const wait = RETRY_MS[Math.min(retries, RETRY_MS.length - 1)];
    retries += 1;
    setTimeout(connect, wait);
  });
}

// --- acknowledge from the list (the feed then brings the new state to every open worklist) ----
tbody.addEventListener("click", async (event) => {
  const button = event.target.closest("button.js-ack");
  if (!button) return;
  button.disabled = true;
  actionResult.classList.remove("error");
  actionResult.textContent = t("js.working");
  const answer = await post(`/api/v1/alerts/${button.dataset.alert}/acknowledge`, {});
  if (answer.ok) {
    actionResult.textContent = t("js.done");
    queue = queue.then(() => refreshRow(button.dataset.alert)).catch(() => {});
  } else {
    actionResult.textContent = reason(answer.error);
    actionResult.classList.add("error");
    button.disabled = false;
  }
});

refreshEmpty();
connect();
