// The alert page: the chart of readings around the alert with its thresholds (uPlot from npm,
// served under /static/vendor/uplot/), and the action forms, each sent to the REST API with the
// CSRF token. A refused action shows the API's reason in words; a done one reloads the page so
// the events and state are the server's.
import uPlot from "/static/vendor/uplot/uPlot.esm.js";
import { post, reason, t, wallTimeToISO } from "./common.js";

const actions = document.querySelector(".actions");
const result = document.getElementById("action-result");
const SEVERITY_COLOURS = { critical: "#a4161a", high: "#b35c00", moderate: "#7a6400", info: "#3b5b7a" };

// --- chart -------------------------------------------------------------------------------------
function drawThresholds(u, lines) {
  const { ctx } = u;
  const { left, width } = u.bbox;
  ctx.save();
  ctx.setLineDash([6, 4]);
  ctx.lineWidth = 1.5 * devicePixelRatio;
  ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
  for (const line of lines) {
    const y = u.valToPos(line.value, "y", true);
    if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) continue;
    ctx.strokeStyle = SEVERITY_COLOURS[line.severity] || "#555";
    ctx.fillStyle = ctx.strokeStyle;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + width, y);
    ctx.stroke();
    ctx.textAlign = "right";
    ctx.fillText(`${line.label} (${line.value})`, left + width - 4 * devicePixelRatio, y - 4 * devicePixelRatio);
  }
  ctx.restore();
}

function drawOpened(u, opened) {
  const x = u.valToPos(opened, "x", true);
  const { ctx } = u;
  ctx.save();
  ctx.strokeStyle = "#16324f";
  ctx.lineWidth = 1 * devicePixelRatio;
  ctx.beginPath();
  ctx.moveTo(x, u.bbox.top);
  ctx.lineTo(x, u.bbox.top + u.bbox.height);
  ctx.stroke();
  ctx.restore();
}

function chart() {
  const node = document.getElementById("chart-data");
  const target = document.getElementById("chart");
  if (!node || !target) return;
  const data = JSON.parse(node.textContent);
  if (!data.series[0].length) return;
  const values = [...data.series[1], ...data.thresholds.map((l) => l.value)];
  const lo = Math.min(...values), hi = Math.max(...values);
  const pad = Math.max((hi - lo) * 0.1, 1);
  const xs = data.series[0];
  const x0 = Math.min(xs[0], data.opened) - 1800, x1 = Math.max(xs[xs.length - 1], data.opened) + 1800;
  const opts = {
    width: Math.max(target.clientWidth - 16, 300),
    height: 280,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), document.body.dataset.tz || "UTC"), // the viewer's zone
    scales: { x: { time: true, range: [x0, x1] }, y: { range: [lo - pad, hi + pad] } },
    series: [
      { label: t("js.chart.time") },
      { label: `${data.metric} (${data.unit})`, stroke: "#0b5cad", width: 2, points: { show: true, size: 5 },
        value: (u, v) => (v == null ? "--" : `${v.toFixed(data.decimals)} ${data.unit}`) },
    ],
    axes: [{ space: 80 }, { label: data.unit }],
    hooks: { draw: [(u) => { drawThresholds(u, data.thresholds); drawOpened(u, data.opened); }] },
  };
  new uPlot(opts, data.series, target);
}

// --- actions -----------------------------------------------------------------------------------
function bodyOf(form, submitter) {
  const action = form.dataset.action;
  const fields = new FormData(form);
  const get = (name) => (fields.get(name) || "").toString().trim();
  switch (action) {
    case "acknowledge": return { note: get("note") };
    case "assign": {
      const from = submitter?.dataset.from;
      return { staff_id: from ? get(from) : submitter?.value || "" };
    }
    case "comment": return { text: get("text") };
    case "escalate": return { reason: get("reason") };
    case "snooze": {
      const until = new Date(Date.now() + Number(get("minutes")) * 60000);
      return { until: until.toISOString(), reason: get("reason") };
    }
    case "resolve": {
      const body = { outcome: get("outcome"), note: get("note") };
      if (body.outcome === "visit_booked") {
        body.visit_at = wallTimeToISO(get("visit_at"), document.body.dataset.tz || "UTC");
        body.visit_place = get("visit_place");
      }
      return body;
    }
    default: return {};
  }
}

function show(text, isError) {
  result.textContent = text;
  result.classList.toggle("error", isError);
}

async function submit(event) {
  const form = event.target.closest("form.action");
  if (!form) return;
  event.preventDefault();
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  show(t("js.working"), false);
  const answer = await post(`/api/v1/alerts/${actions.dataset.alert}/${form.dataset.action}`, bodyOf(form, event.submitter));
  if (answer.ok) {
    show(t("js.done"), false);
    location.reload();
    return;
  }
  show(reason(answer.error), true);
  buttons.forEach((b) => { b.disabled = false; });
  result.focus?.();
}

function toggleVisit(select) {
  const form = select.closest("form");
  const visit = select.value === "visit_booked";
  for (const label of form.querySelectorAll("[data-visit]")) {
    label.hidden = !visit;
    const input = label.querySelector("input");
    input.required = visit;
  }
}

if (actions) {
  actions.addEventListener("submit", submit);
  // the buttons come disabled: nothing is submitted before this script handles it
  for (const button of actions.querySelectorAll("form.action button")) button.disabled = false;
  for (const select of actions.querySelectorAll("select[data-toggles]")) {
    select.addEventListener("change", () => toggleVisit(select));
    toggleVisit(select);
  }
}
chart();
