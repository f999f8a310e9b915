// The patient page's charts (uPlot from npm, served under /static/vendor/uplot/): each chart's
// series from the server (already downsampled to at most 2,000 points per series, each time
// bucket keeping its minimum and maximum), the thresholds in effect as labelled dashed lines and
// the target ranges as a shaded band (glucose 70-180) or labelled lines (home BP 135/85).
// A CGM trace is a line, meter readings are points. Severity is in each line's label, not only
// its colour. Everything comes from the JSON data block: no inline script (CSP).
import uPlot from "/static/vendor/uplot/uPlot.esm.js";
import { t } from "./common.js";

const SEVERITY_COLOURS = { critical: "#a4161a", high: "#b35c00", moderate: "#7a6400", info: "#3b5b7a" };
const SERIES_COLOURS = ["#0b5cad", "#6a3d9a", "#1d6b35", "#8c564b"];
const TARGET_FILL = "rgba(29, 107, 53, 0.10)";
const TARGET_LINE = "#1d6b35";

function scaled(n) {
  return n * devicePixelRatio;
}

// A full-width line at `y`; its label (the value, the legend below names the rule) at one end.
function horizontal(u, y, colour, dash, label, side = "right") {
  const { ctx } = u;
  const { left, width, top, height } = u.bbox;
  if (y < top || y > top + height) return;
  ctx.save();
  ctx.setLineDash(dash);
  ctx.lineWidth = scaled(1.5);
  ctx.strokeStyle = colour;
  ctx.fillStyle = colour;
  ctx.beginPath();
  ctx.moveTo(left, y);
  ctx.lineTo(left + width, y);
  ctx.stroke();
  ctx.font = `${scaled(11)}px system-ui, sans-serif`;
  ctx.textAlign = side;
  const x = side === "right" ? left + width - scaled(4) : left + scaled(4);
  ctx.fillText(label, x, y - scaled(3));
  ctx.restore();
}

function drawTargets(u, targets) {
  const { ctx } = u;
  const { left, width, top, height } = u.bbox;
  for (const g of targets) {
    if (g.low != null && g.high != null) {
      const y1 = Math.max(u.valToPos(g.high, "y", true), top);
      const y2 = Math.min(u.valToPos(g.low, "y", true), top + height);
      if (y2 > y1) {
        ctx.save();
        ctx.fillStyle = TARGET_FILL;
        ctx.fillRect(left, y1, width, y2 - y1);
        ctx.restore();
      }
      horizontal(u, u.valToPos(g.high, "y", true), TARGET_LINE, [2, 3], "", "left");
      horizontal(u, u.valToPos(g.low, "y", true), TARGET_LINE, [2, 3], "", "left");
    } else {
      const edge = g.high ?? g.low;
      horizontal(u, u.valToPos(edge, "y", true), TARGET_LINE, [2, 3], String(edge), "left");
    }
  }
}

function drawThresholds(u, lines) {
  for (const line of lines) {
    const colour = SEVERITY_COLOURS[line.severity] || "#555";
    horizontal(u, u.valToPos(line.value, "y", true), colour, [6, 4], line.text);
  }
}

function yRange(data) {
  const values = data.series.flatMap((s) => s.v);
  const marks = [
    ...data.thresholds.map((l) => l.value),
    ...data.targets.flatMap((g) => [g.low, g.high]).filter((v) => v != null),
  ];
  const lo = Math.min(...values, ...marks);
  const hi = Math.max(...values, ...marks);
  const pad = Math.max((hi - lo) * 0.08, 1);
  return [lo - pad, hi + pad];
}

function seriesOpts(s, i) {
  const colour = SERIES_COLOURS[i % SERIES_COLOURS.length];
  const value = (u, v) => (v == null ? "--" : `${v.toFixed(s.decimals)} ${s.unit}`);
  if (s.points) {
    // meter readings: points only, never joined into a line
    return { label: s.label, stroke: colour, fill: colour, width: 0, paths: () => null,
      points: { show: true, size: 7, fill: colour }, value };
  }
  // a trace: its own points only while they are few enough to see one by one
  return { label: s.label, stroke: colour, width: s.downsampled ? 1 : 1.5, spanGaps: true,
    points: { show: s.t.length <= 200, size: 5 }, value };
}

function draw(data, target) {
  const aligned = uPlot.join(data.series.map((s) => [s.t, s.v]));
  const tz = document.body.dataset.tz || "UTC";
  const opts = {
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), tz), // the viewer's zone, not the browser's
    width: Math.max(target.clientWidth - 16, 300),
    height: 240,
    scales: { x: { time: true, range: [data.since, data.until] }, y: { range: yRange(data) } },
    series: [{ label: t("js.chart.time") }, ...data.series.map(seriesOpts)],
    axes: [{}, { label: data.series[0].unit }],
    hooks: {
      drawClear: [(u) => drawTargets(u, data.targets)],
      draw: [(u) => drawThresholds(u, data.thresholds)],
    },
  };
  target.setAttribute("role", "img");
  target.setAttribute("aria-label", data.title);
  return new uPlot(opts, aligned, target);
}

function charts() {
  const node = document.getElementById("charts-data");
  if (!node) return;
  for (const data of JSON.parse(node.textContent)) {
    const target = document.getElementById(`chart-${data.key}`);
    if (target && data.series.length && data.series.some((s) => s.t.length)) draw(data, target);
  }
}

charts();
