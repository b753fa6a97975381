"use strict";
/* Gantry's dashboard: one script for the login page and the one-page app (app.html).
 *
 * Plain ES2020, no dependencies, no build step. The pages are served under
 * Content-Security-Policy `default-src 'self'`, so everything here is built with DOM calls:
 * server strings only ever become text (textContent / text nodes, never innerHTML), nothing
 * is evaluated, and charts are inline SVG drawn by the helpers below.
 *
 * Sections: formatters · DOM helpers · API and refresh loop · time windows · SVG charts ·
 * pages (overview, nodes, node, jobs, job, cost, tenants) · login · start-up.
 */

const REFRESH_MS = 5000;
const WINDOWS = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 };
const WINDOW_LABELS = { "1h": "1 h", "24h": "24 h", "7d": "7 d" };
const JOB_STATES = ["queued", "assigned", "running", "succeeded", "failed", "cancelled"];
const NODE_STATES = ["ready", "cordoned", "draining", "drained", "lost"];
const IDLE_KEY = "(idle)";

let clockSkewMs = 0; // the server's clock minus ours, learnt from the Date header
let refreshNow = () => {}; // the current page's "fetch and render again now"
let leaving = false; // set once we navigate away (expired session): stop rendering

// ---------------------------------------------------------------- formatters

const nf = (min, max) => new Intl.NumberFormat("en-US", { minimumFractionDigits: min, maximumFractionDigits: max });
const isNum = (x) => typeof x === "number" && Number.isFinite(x);

/** `$1,234.56`; below a dollar, enough decimals for three significant digits (`$0.000123`). */
function fmtUSD(x) {
  if (!isNum(x)) return "—";
  const a = Math.abs(x);
  const digits = a > 0 && a < 1 ? Math.min(12, Math.max(2, Math.floor(-Math.log10(a)) + 3)) : 2;
  return (x < 0 ? "-$" : "$") + nf(2, digits).format(a);
}
const fmtInt = (n) => (isNum(n) ? nf(0, 0).format(n) : "—");
const fmtNum = (x, d = 2) => (isNum(x) ? nf(0, d).format(x) : "—");
const fmtPct = (x, d = 1) => (isNum(x) ? (x * 100).toFixed(d) + "%" : "—");

/** RFC 3339 → `2026-11-29 08:15:02Z` (UTC). */
function fmtTime(t) {
  if (!t) return "—";
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toISOString().slice(0, 19).replace("T", " ") + "Z";
}
function fmtMs(ms) {
  if (!isNum(ms)) return "—";
  if (ms < 1000) return `${fmtNum(ms, 0)} ms`;
  if (ms < 120e3) return `${fmtNum(ms / 1000, 2)} s`;
  if (ms < 3600e3) return `${Math.floor(ms / 60e3)} min ${Math.round((ms % 60e3) / 1000)} s`;
  return `${fmtNum(ms / 3600e3, 1)} h`;
}
/** A bucket's length: `1 min`, `5 min`, `1 h`, `1 d`. */
function fmtStep(seconds) {
  for (const [div, unit] of [[86400, "d"], [3600, "h"], [60, "min"]]) if (seconds % div === 0) return `${seconds / div} ${unit}`;
  return `${seconds} s`;
}
function fmtAgo(t) {
  const ms = Date.now() + clockSkewMs - Date.parse(t);
  return isNum(ms) ? fmtMs(Math.max(0, ms)) + " ago" : "";
}
const fmtBytes = (b) => (isNum(b) ? `${fmtNum(b / 2 ** 30, 1)} GiB` : "—");
function fmtJoules(j) {
  if (!isNum(j)) return "—";
  for (const [div, unit] of [[1e9, "GJ"], [1e6, "MJ"], [1e3, "kJ"]]) if (Math.abs(j) >= div) return `${fmtNum(j / div, 2)} ${unit}`;
  return `${fmtNum(j, 2)} J`;
}
/** Short axis labels: 1.2k, 3.4M. */
function fmtCompact(x) {
  for (const [div, unit] of [[1e9, "G"], [1e6, "M"], [1e3, "k"]]) if (Math.abs(x) >= div) return fmtNum(x / div, 1) + unit;
  return fmtNum(x, Math.abs(x) < 10 ? 3 : 1);
}

// ---------------------------------------------------------------- DOM helpers

/** An element with attributes (`on…` functions become listeners) and children (strings become text). */
function h(tag, attrs, ...kids) {
  return build(document.createElement(tag), attrs, kids);
}
/** The same for SVG elements. */
function s(tag, attrs, ...kids) {
  return build(document.createElementNS("http://www.w3.org/2000/svg", tag), attrs, kids);
}
function build(el, attrs, kids) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat(Infinity)) if (kid != null && kid !== false) el.append(kid instanceof Node ? kid : String(kid));
  return el;
}
/** Replaces el's children (arrays flattened; null, undefined and false left out). */
const fill = (el, ...kids) => {
  el.replaceChildren();
  return build(el, null, kids);
};
const link = (href, text) => h("a", { href }, text);
const nodeLink = (id) => (id ? link(`/ui/nodes/${encodeURIComponent(id)}`, id) : "—");
const jobLink = (id) => link(`/ui/jobs/${encodeURIComponent(id)}`, h("code", {}, id));
/** A state badge: colour and the state's name as text. */
const badge = (state) => h("span", { class: `badge state-${String(state).replace(/[^a-z-]/g, "")}` }, state);
const yesNo = (b) => (b == null ? "—" : b ? "yes" : "no");

/** A table in a horizontally scrolling wrapper. cols: [{label, num}]; rows: arrays of cells. */
function table(label, cols, rows, foot) {
  const cls = (c) => (c.num ? "num" : c.wrap ? "wrap" : null);
  const row = (r, tag) => h("tr", {}, r.map((cell, i) => h(tag, { class: cls(cols[i]) }, cell ?? "—")));
  return h("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": label },
    h("table", {},
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col", class: cls(c) }, c.label)))),
      h("tbody", {}, rows.map((r) => row(r, "td"))),
      foot ? h("tfoot", {}, row(foot, "td")) : null));
}
/** A definition list from [term, value] pairs (pairs with value undefined are left out). */
const dl = (pairs) => h("dl", { class: "facts" }, pairs.filter((p) => p[1] !== undefined).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
const card = (label, value, sub) => h("div", { class: "card" }, h("div", { class: "card-label" }, label), h("div", { class: "card-value" }, value), sub ? h("div", { class: "card-sub" }, sub) : null);
const section = (title, ...kids) => h("section", {}, h("h2", {}, title), ...kids);
const empty = (text) => h("p", { class: "empty" }, text);

function setTitle(text) {
  document.getElementById("page-title").textContent = text;
  document.title = `${text} · Gantry`;
}
function showError(message, final) {
  const el = document.getElementById("error");
  el.textContent = message ? (final ? message : `${message} — retrying every ${REFRESH_MS / 1000} s.`) : "";
  el.hidden = !message;
}
function markUpdated() {
  document.getElementById("updated").textContent = "updated " + new Date(Date.now() + clockSkewMs).toISOString().slice(11, 19) + " UTC";
}
/** Changes the query string in place (null removes a key), without reloading. */
function setQuery(changes) {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) (v == null || v === "" ? q.delete(k) : q.set(k, v));
  const qs = q.toString();
  history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
}

// ---------------------------------------------------------------- API and the refresh loop

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** GET a JSON API path with query params (null/undefined values left out). 401 → the login page. */
async function api(path, params) {
  const q = new URLSearchParams(Object.entries(params || {}).filter(([, v]) => v != null && v !== "")).toString();
  let res;
  try {
    res = await fetch(q ? `${path}?${q}` : path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  } catch (e) {
    throw new ApiError(`${path}: the server could not be reached`, 0);
  }
  const date = Date.parse(res.headers.get("Date") || "");
  if (isNum(date)) clockSkewMs = Math.abs(date - Date.now()) > 5000 ? date - Date.now() : 0;
  if (res.status === 401) {
    // Unless the user is logging out (an update in flight then meets the ended session).
    if (!leaving) location.assign("/ui/login?error=expired");
    leaving = true;
    throw new ApiError("session expired", 401);
  }
  let body = null;
  try {
    body = await res.json();
  } catch (e) {
    if (res.ok) throw new ApiError(`${path}: the answer is not JSON`, res.status);
  }
  if (!res.ok) throw new ApiError(`${path}: ${body?.error?.message || `HTTP ${res.status}`}`, res.status);
  return body;
}

/** Runs a page's update now and every REFRESH_MS, never two at once (a call while one runs
 *  makes it run once more after). Skips ticks while the tab is hidden. */
function runLoop(update) {
  let busy = false;
  let again = false;
  const tick = async () => {
    if (leaving) return;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      await update();
      markUpdated();
      showError(null);
    } catch (e) {
      if (e.status === 404) {
        leaving = true; // nothing to refresh: say so once
        showError(e.message, true);
      } else if (!leaving) showError(e.message || String(e));
    } finally {
      busy = false;
      if (again) {
        again = false;
        tick();
      }
    }
  };
  refreshNow = tick;
  tick();
  setInterval(() => document.hidden || tick(), REFRESH_MS);
  document.addEventListener("visibilitychange", () => document.hidden || tick());
  let resized = 0; // charts are drawn for the page's width: draw them again after a resize
  window.addEventListener("resize", () => {
    clearTimeout(resized);
    resized = setTimeout(tick, 400);
  });
}

// ---------------------------------------------------------------- time windows

/** The window of the page: `?from=&to=` verbatim when both are given, else `?window=` (or def)
 *  ending now, on whole minutes. */
function currentWindow(def) {
  const q = new URLSearchParams(location.search);
  if (q.get("from") && q.get("to")) return { key: null, from: q.get("from"), to: q.get("to") };
  const key = WINDOWS[q.get("window")] ? q.get("window") : def;
  const now = Date.now() + clockSkewMs;
  const iso = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");
  const to = Math.ceil(now / 60e3) * 60e3;
  return { key, from: iso(to - WINDOWS[key]), to: iso(to) };
}

/** Buttons 1 h / 24 h / 7 d that set `?window=` (dropping from/to) and refresh. */
function windowSwitch(def) {
  const box = h("div", { class: "switch", role: "group", "aria-label": "Time window" });
  const paint = () => {
    const cur = currentWindow(def).key;
    for (const b of box.children) b.setAttribute("aria-pressed", String(b.dataset.window === cur));
  };
  for (const key of Object.keys(WINDOWS)) {
    box.append(h("button", { type: "button", "data-window": key, onclick: () => {
      setQuery({ window: key, from: null, to: null });
      paint();
      refreshNow();
    } }, WINDOW_LABELS[key]));
  }
  paint();
  return box;
}

// ---------------------------------------------------------------- SVG charts

const PALETTE = ["#2563eb", "#dc2626", "#059669", "#9333ea", "#d97706", "#0891b2", "#db2777", "#57534e"];
const DASHES = ["", "8 4", "2 3", "10 3 2 3", "4 4", "12 3 3 3 3 3", "1 4", "6 2"];
const MARKERS = ["circle", "square", "triangle", "diamond", "cross", "plus"];

function marker(kind, x, y, color) {
  const r = 3.5;
  const line = { stroke: color, "stroke-width": 2 };
  switch (kind) {
    case "circle": return s("circle", { cx: x, cy: y, r, fill: color });
    case "square": return s("rect", { x: x - r, y: y - r, width: 2 * r, height: 2 * r, fill: color });
    case "triangle": return s("path", { d: `M${x} ${y - r - 1}L${x + r + 1} ${y + r}L${x - r - 1} ${y + r}Z`, fill: color });
    case "diamond": return s("path", { d: `M${x} ${y - r - 1}L${x + r + 1} ${y}L${x} ${y + r + 1}L${x - r - 1} ${y}Z`, fill: color });
    case "cross": return s("path", { d: `M${x - r} ${y - r}L${x + r} ${y + r}M${x + r} ${y - r}L${x - r} ${y + r}`, ...line });
    default: return s("path", { d: `M${x - r - 1} ${y}H${x + r + 1}M${x} ${y - r - 1}V${y + r + 1}`, ...line });
  }
}
const style = (k) => ({ color: PALETTE[k % PALETTE.length], dash: DASHES[k % DASHES.length] || null, mark: MARKERS[k % MARKERS.length] });
/** The legend's sample of a series: its line, dash pattern and marker. */
const swatch = (st) => s("svg", { class: "swatch", viewBox: "0 0 36 12", width: 36, height: 12, "aria-hidden": "true" },
  s("line", { x1: 1, x2: 35, y1: 6, y2: 6, stroke: st.color, "stroke-width": 2, "stroke-dasharray": st.dash }), marker(st.mark, 18, 6, st.color));

/** The top of a scale of four equal, round steps (0.5, 1.5, 2.5, 6, …) reaching v. */
function niceCeil(v) {
  if (!(v > 0)) return 1;
  const quarter = v / 4, p = 10 ** Math.floor(Math.log10(quarter));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= quarter * (1 - 1e-9)) return 4 * m * p;
  return 40 * p;
}
const fmtTick = (t, span) => {
  const iso = new Date(t).toISOString();
  return span <= 36 * 3600e3 ? iso.slice(11, 16) : iso.slice(5, 10) + " " + iso.slice(11, 16);
};

/** The width in CSS pixels of a chart about to be drawn in `box` (one column of a
 *  .chart-grid, as style.css lays it out, or the whole box), less the figure's padding. The
 *  SVG is drawn to that size so that its text is true to size; between two refreshes it
 *  scales with the page. */
function chartWidth(box) {
  const gap = 13, min = 480; // .chart-grid: gap 0.8rem, columns of at least 30rem
  const cols = box.classList.contains("chart-grid") ? Math.max(1, Math.floor((box.clientWidth + gap) / (min + gap))) : 1;
  return Math.max(280, Math.round((box.clientWidth - (cols - 1) * gap) / cols - 28) || 640);
}

/** A line chart in a <figure> with a text legend (average, maximum, last value per series).
 *  b: buckets() of a history answer; series: [{name, values}] with one value (or null: no
 *  line there) per bucket; fmt formats values; yMax fixes the top of the scale; W: the width
 *  to draw for (chartWidth). */
function lineChart(label, b, series, fmt, yMax, tickFmt, W) {
  tickFmt = tickFmt || fmt;
  const fig = h("figure", { class: "chart" }, h("figcaption", {}, label));
  const drawn = series.filter((se) => se.values.some(isNum));
  if (!drawn.length) {
    fig.append(empty("No data in this window."));
    return fig;
  }
  const H = Math.round(Math.min(260, Math.max(180, W * 0.36))), L = 62, R = 12, T = 10, B = 26, pw = W - L - R, ph = H - T - B;
  const all = drawn.flatMap((se) => se.values.filter(isNum));
  const max = yMax || niceCeil(Math.max(...all));
  const x = (t) => L + ((t - b.from) / Math.max(1, b.to - b.from)) * pw;
  const y = (v) => T + ph - (Math.max(0, Math.min(v, max)) / max) * ph;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg", role: "img", "aria-label": `${label} (times in UTC)` });
  for (let i = 0; i <= 4; i++) {
    const yy = y((max * i) / 4);
    svg.append(s("line", { x1: L, x2: W - R, y1: yy, y2: yy, class: "grid" }),
      s("text", { x: L - 6, y: yy + 4, "text-anchor": "end", class: "tick" }, tickFmt((max * i) / 4)));
  }
  const span = b.to - b.from, xTicks = W < 520 ? 2 : 4;
  for (let i = 0; i <= xTicks; i++) {
    const t = b.from + (span * i) / xTicks;
    svg.append(s("text", { x: x(t), y: H - 6, "text-anchor": i === 0 ? "start" : i === xTicks ? "end" : "middle", class: "tick" }, fmtTick(t, span)));
  }
  svg.append(s("path", { d: `M${L} ${T}V${T + ph}H${W - R}`, class: "axis" }));
  const legend = h("ul", { class: "legend" });
  const every = Math.max(1, Math.ceil(b.times.length / 10)); // markers on about ten points
  drawn.forEach((se, k) => {
    const st = style(k);
    const v = se.values;
    let d = "";
    const marks = s("g", {});
    v.forEach((val, i) => {
      if (!isNum(val)) return;
      const px = +x(b.times[i] + b.step / 2).toFixed(1), py = +y(val).toFixed(1);
      const alone = !isNum(v[i - 1]) && !isNum(v[i + 1]);
      d += `${isNum(v[i - 1]) ? "L" : "M"}${px} ${py}`;
      if ((i + k) % every === 0 || alone) marks.append(marker(st.mark, px, py, st.color));
    });
    svg.append(s("path", { d, fill: "none", stroke: st.color, "stroke-width": 2, "stroke-dasharray": st.dash, "stroke-linejoin": "round" }), marks);
    const vals = v.filter(isNum);
    const avg = vals.reduce((a, c) => a + c, 0) / vals.length;
    legend.append(h("li", {}, swatch(st), h("strong", {}, se.name),
      h("span", { class: "muted" }, ` avg ${fmt(avg)}, max ${fmt(Math.max(...vals))}, last ${fmt(vals[vals.length - 1])}`)));
  });
  fig.append(svg, legend, h("p", { class: "chart-note" }, `UTC; one point per ${fmtStep(b.step / 1000)} bucket.`));
  return fig;
}

/** The buckets of a history answer: their start times and, per series, its point (or
 *  undefined: no data, which counts as zero) per bucket. Series sorted by key, "(idle)" last.
 *  Buckets are whole multiples of the step since the epoch, so the first may start before
 *  `from`; points are placed by the nearest bucket start. */
function buckets(hist) {
  const step = (hist.step_seconds || 60) * 1000;
  const from = Math.floor(Date.parse(hist.from) / step) * step, to = Date.parse(hist.to);
  const n = Math.max(1, Math.ceil((to - from) / step));
  const times = Array.from({ length: n }, (_, i) => from + i * step);
  const series = (hist.series || []).map((se) => {
    const pts = new Array(n);
    for (const p of se.points || []) pts[Math.min(n - 1, Math.max(0, Math.round((Date.parse(p.t) - from) / step)))] = p;
    return { key: se.key, pts };
  }).sort((a, c) => (a.key === IDLE_KEY) - (c.key === IDLE_KEY) || (a.key < c.key ? -1 : a.key > c.key ? 1 : 0));
  return { from, to, step, times, series };
}

// Per-point metrics; a missing point is all zeros. Ratios over zero tokens have no value.
const z = (p, f) => (p && isNum(p[f]) ? p[f] : 0);
const utilOf = (p) => (z(p, "busy_seconds") + z(p, "idle_seconds") > 0 ? z(p, "busy_seconds") / (z(p, "busy_seconds") + z(p, "idle_seconds")) : 0);
/** $/Mtok on the usage basis: busy spend (spend less idle spend) per million tokens. */
const usdPerMtokOf = (p) => (z(p, "tokens") > 0 ? ((z(p, "spend_usd") - z(p, "idle_usd")) / z(p, "tokens")) * 1e6 : null);
const joulesPerTokenOf = (p) => (z(p, "tokens") > 0 && z(p, "energy_joules") > 0 ? z(p, "energy_joules") / z(p, "tokens") : null);

/** One chart line per series of a history answer, of metric. */
function historyChart(W, label, hist, metric, fmt, yMax, tickFmt, skipIdle) {
  const b = buckets(hist);
  const series = b.series.filter((se) => !(skipIdle && se.key === IDLE_KEY)).map((se) => ({ name: se.key, values: se.pts.map(metric) }));
  return lineChart(label, b, series, fmt, yMax, tickFmt, W);
}
/** Chart lines of fields summed over all series of a history answer: [[name, field], ...]. */
function sumChart(W, label, hist, fields, fmt) {
  const b = buckets(hist);
  const series = fields.map(([name, f]) => ({ name, values: b.times.map((_, i) => b.series.reduce((a, se) => a + z(se.pts[i], f), 0)) }));
  return lineChart(label, b, series, fmt, null, fmtUSD, W);
}
const pctTick = (v) => fmtPct(v, 0);

// ---------------------------------------------------------------- pages

function pageOverview(view) {
  setTitle("Overview");
  const cards = h("div", { class: "cards" });
  const facts = h("p", { class: "muted" });
  const chart = h("div");
  view.append(cards, facts, h("section", {},
    h("div", { class: "section-head" }, h("h2", {}, "Utilisation per pool"), windowSwitch("1h")), chart));
  return async () => {
    const w = currentWindow("1h");
    const [o, hist] = await Promise.all([api("/api/v1/overview"), api("/api/v1/history", { by: "pool", from: w.from, to: w.to })]);
    const nodes = o.nodes || {}, jobs = o.jobs || {};
    fill(cards,
      card("Nodes ready", h("span", { id: "nodes-ready" }, String(nodes.ready ?? 0)),
        NODE_STATES.filter((st) => st !== "ready").map((st) => `${nodes[st] ?? 0} ${st}`).join(", ")),
      card("Slots busy", `${fmtInt(o.slots_used)} / ${fmtInt(o.slots_total)}`, o.slots_total ? fmtPct(o.slots_used / o.slots_total) + " in use" : "no slots"),
      card("Queue depth", fmtInt(o.queue_depth), `${fmtInt(jobs.running ?? 0)} running, ${fmtInt(jobs.assigned ?? 0)} assigned`),
      card("Tokens/s", fmtNum(o.tokens_per_second, 1), "across the cluster"),
      card("Spend/h", fmtUSD(o.spend_usd_per_hour), "all nodes, busy or idle"),
      card("Jobs finished", fmtInt((jobs.succeeded ?? 0) + (jobs.failed ?? 0) + (jobs.cancelled ?? 0)),
        `${fmtInt(jobs.succeeded ?? 0)} succeeded, ${fmtInt(jobs.failed ?? 0)} failed, ${fmtInt(jobs.cancelled ?? 0)} cancelled`));
    const leader = o.leader ? `leader ${o.leader.address} (epoch ${o.leader.epoch})` : "no leader election";
    const standbys = o.standbys?.length ? `standbys ${o.standbys.join(", ")}` : "no standbys";
    facts.textContent = `gantryd ${o.version ?? "?"}, started ${fmtTime(o.started_at)} · ${leader} · ${standbys}`;
    fill(chart, historyChart(chartWidth(chart), "Utilisation per pool (busy ÷ (busy + idle) slot time)", hist, utilOf, fmtPct, 1, pctTick));
  };
}

const gpuSummary = (gpus) => {
  if (!gpus?.length) return "none";
  const count = new Map();
  for (const g of gpus) count.set(g.name, (count.get(g.name) || 0) + 1);
  return [...count].map(([name, n]) => (n > 1 ? `${n}× ${name}` : name)).join(", ");
};
const health = (e) => h("span", { class: e.healthy ? "ok" : "bad", title: e.health_detail || null }, e.healthy ? "healthy" : "unhealthy");
const sum = (xs, f) => xs.reduce((a, x) => a + (isNum(f(x)) ? f(x) : 0), 0);
const heartbeat = (t) => (t ? [fmtTime(t), h("br"), h("span", { class: "muted" }, fmtAgo(t))] : "never");

function pageNodes(view) {
  setTitle("Nodes");
  const body = h("div");
  view.append(body);
  return async () => {
    const { nodes } = await api("/api/v1/nodes");
    const cols = [{ label: "Node" }, { label: "State" }, { label: "Pool" }, { label: "Engines" }, { label: "Slots", num: true },
      { label: "$/h", num: true }, { label: "Utilisation (1 h)", num: true }, { label: "GPUs", wrap: true }, { label: "Last heartbeat (UTC)" }];
    fill(body, !nodes?.length ? empty("No node has registered.") : table("Nodes", cols, nodes.map((n) => [
      nodeLink(n.id), badge(n.state), n.labels?.pool ?? "—",
      n.engines?.length ? n.engines.map((e) => h("div", { class: "nowrap" }, `${e.name}: ${e.slots_used}/${e.slots} `, health(e))) : "none",
      `${sum(n.engines || [], (e) => e.slots_used)}/${sum(n.engines || [], (e) => e.slots)}`,
      fmtUSD(n.cost_usd_per_hour), fmtPct(n.utilization_1h), gpuSummary(n.gpus), heartbeat(n.last_heartbeat),
    ])));
  };
}

/** Engine telemetry as text: `running 2 · waiting 0 · kv usage 41.0% · …`. */
function telemetryText(t) {
  if (!t) return "—";
  return Object.entries(t).filter(([, v]) => v != null).map(([k, v]) => {
    const name = k.replace(/_/g, " ");
    if (k === "kv_usage" && isNum(v)) return `${name} ${fmtPct(v)}`;
    if (k.endsWith("_at")) return `${name} ${fmtTime(v)}`;
    return `${name} ${isNum(v) ? fmtNum(v, 3) : typeof v === "object" ? JSON.stringify(v) : v}`;
  }).join(" · ");
}

function jobsTable(jobs, label) {
  const cols = [{ label: "Job" }, { label: "State" }, { label: "Tenant" }, { label: "Model" }, { label: "Node" },
    { label: "Tokens (prompt / completion)", num: true }, { label: "Cost", num: true }, { label: "Submitted (UTC)" }];
  return table(label, cols, jobs.map((j) => [jobLink(j.id), badge(j.state), j.tenant, j.model, nodeLink(j.node),
    `${j.tokens_estimated ? "≈" : ""}${fmtInt(j.prompt_tokens)} / ${fmtInt(j.completion_tokens)}`, fmtUSD(j.cost_usd), fmtTime(j.submitted_at)]));
}

function pageNode(view, id) {
  setTitle(`Node ${id}`);
  const [summary, engines, inventory, charts, jobs] = [h("div"), h("div"), h("div"), h("div", { class: "chart-grid" }), h("div")];
  view.append(section("Summary", summary), section("Engines", engines), section("Inventory", inventory),
    h("section", {}, h("div", { class: "section-head" }, h("h2", {}, "History"), windowSwitch("1h")), charts),
    section("Recent jobs", jobs));
  return async () => {
    const w = currentWindow("1h");
    const [n, hist, recent] = await Promise.all([api(`/api/v1/nodes/${encodeURIComponent(id)}`),
      api("/api/v1/history", { by: "node", key: id, from: w.from, to: w.to }), api("/api/v1/jobs", { node: id, limit: 20 })]);
    const labels = Object.entries(n.labels || {});
    fill(summary, dl([
      ["State", [badge(n.state), n.cordoned ? " cordoned" : "", n.draining ? " draining" : ""]],
      ["Hostname", n.hostname || "—"], ["Address", n.address || "—"],
      ["Labels", labels.length ? labels.map(([k, v]) => h("span", { class: "chip" }, `${k}=${v}`)) : "none"],
      ["Cost", `${fmtUSD(n.cost_usd_per_hour)} per hour`], ["Utilisation (1 h)", fmtPct(n.utilization_1h)],
      ["Running attempts", fmtInt(n.running_attempts)],
      ["Connected since (UTC)", fmtTime(n.connected_at)], ["Last heartbeat (UTC)", heartbeat(n.last_heartbeat)],
    ]));
    const ecols = [{ label: "Engine" }, { label: "Kind" }, { label: "Models", wrap: true }, { label: "Slots used", num: true }, { label: "Health", wrap: true },
      { label: "Telemetry", wrap: true }];
    fill(engines, !n.engines?.length ? empty("No engines.") : table("Engines", ecols, n.engines.map((e) => [
      e.name, e.kind, (e.models || []).join(", ") || "—", `${e.slots_used}/${e.slots}`,
      [health(e), e.health_detail ? h("div", { class: "muted" }, e.health_detail) : null], telemetryText(e.telemetry)])));
    const gcols = [{ label: "#", num: true }, { label: "GPU" }, { label: "Memory", num: true }, { label: "MIG" }, { label: "UUID" }];
    fill(inventory, dl([
      ["CPUs", `${fmtInt(n.cpus)} × ${n.cpu_model || "unknown model"}`], ["Memory", fmtBytes(n.memory_bytes)],
      ["GPUs", gpuSummary(n.gpus)], ["GPU inventory from", n.gpu_source || "—"],
    ]), n.gpus?.length ? table("GPUs", gcols, n.gpus.map((g) => [g.index, g.name, fmtBytes(g.memory_bytes), yesNo(g.mig_enabled), h("code", {}, g.uuid)])) : null);
    const cw = chartWidth(charts);
    fill(charts,
      historyChart(cw, "Utilisation", hist, utilOf, fmtPct, 1, pctTick),
      sumChart(cw, "Spend per bucket", hist, [["spend", "spend_usd"], ["idle spend", "idle_usd"]], fmtUSD));
    fill(jobs, recent.jobs?.length ? jobsTable(recent.jobs, "Recent jobs") : empty("No jobs on this node yet."));
  };
}

function pageJobs(view) {
  setTitle("Jobs");
  const q = new URLSearchParams(location.search);
  const select = h("select", { id: "state-filter", onchange: () => {
    setQuery({ state: select.value });
    refreshNow();
  } }, h("option", { value: "" }, "all states"), JOB_STATES.map((st) => h("option", { value: st, selected: q.get("state") === st }, st)));
  const filters = ["tenant", "node"].filter((k) => q.get(k)).map((k) => `${k} ${q.get(k)}`).join(", ");
  const body = h("div");
  view.append(h("div", { class: "controls" }, h("label", { for: "state-filter" }, "State "), select,
    filters ? h("span", { class: "muted" }, ` · only ${filters} (`, link("/ui/jobs", "all"), ")") : null), body);
  return async () => {
    const p = new URLSearchParams(location.search);
    const { jobs } = await api("/api/v1/jobs", { limit: 50, state: p.get("state"), tenant: p.get("tenant"), node: p.get("node") });
    fill(body, jobs?.length ? jobsTable(jobs, "Recent jobs") : empty("No jobs."));
  };
}

/** A receipt as facts; the total carries the raw number in data-usd (with id when `main`). */
function receiptFacts(r, main) {
  const tokens = r.prompt_tokens + r.completion_tokens;
  return dl([
    ["Tokens", `${fmtInt(r.prompt_tokens)} prompt + ${fmtInt(r.completion_tokens)} completion = ${fmtInt(tokens)}`],
    ["Wall time", fmtMs(r.wall_ms)], ["Slot time", fmtMs(r.slot_ms)],
    ["Energy", `${fmtJoules(r.energy_joules)} (${r.energy_measured ? "measured" : "estimated"})`],
    ["Depreciation", fmtUSD(r.depreciation_usd)], ["Energy cost", fmtUSD(r.energy_usd)], ["Overhead", fmtUSD(r.overhead_usd)],
    ["Total", h("strong", { id: main ? "receipt-total" : null, "data-usd": String(r.total_usd) }, fmtUSD(r.total_usd))],
    ["Per million tokens", tokens > 0 ? fmtUSD((r.total_usd / tokens) * 1e6) : "—"],
  ]);
}

function verdictTable(label, verdicts) {
  const cols = [{ label: "Node" }, { label: "Feasible" }, { label: "Filter: reason", wrap: true }, { label: "Engine" }, { label: "Scores", wrap: true },
    { label: "Total", num: true }];
  return table(label, cols, verdicts.map((v) => [nodeLink(v.node), h("span", { class: v.feasible ? "ok" : "bad" }, yesNo(v.feasible)),
    v.filter || v.reason ? `${v.filter ?? ""}${v.filter && v.reason ? ": " : ""}${v.reason ?? ""}` : "—", v.engine ?? "—",
    Object.entries(v.scores || {}).map(([k, x]) => `${k} ${fmtNum(x, 2)}`).join(" · ") || "—", fmtNum(v.total, 2)]));
}

function pageJob(view, id) {
  setTitle(`Job ${id}`);
  const [summary, output, receipt, attempts, placement] = [h("div"), h("div"), h("div"), h("div"), h("div")];
  view.append(section("Summary", summary), section("Output", output), h("section", { id: "receipt" }, h("h2", {}, "Receipt"), receipt),
    section("Attempts", attempts), section("Placement", placement));
  return async () => {
    const { job: j, explanation: x } = await api(`/api/v1/jobs/${encodeURIComponent(id)}`);
    const since = (a, b) => (a && b ? ` (${fmtMs(Date.parse(b) - Date.parse(a))} after submission)` : "");
    const constraints = Object.entries(j.constraints || {});
    fill(summary, dl([
      ["Job", h("code", {}, j.id)], ["State", badge(j.state)], ["Model", j.model], ["Tenant", j.tenant], ["Priority", j.priority],
      ["Node", nodeLink(j.node)], ["Attempts", fmtInt(j.attempts)], ["Max tokens", fmtInt(j.max_tokens)],
      ["Tokens", `${fmtInt(j.prompt_tokens)} prompt, ${fmtInt(j.completion_tokens)} completion${j.tokens_estimated ? " (estimated)" : ""}`],
      ["Cost", fmtUSD(j.cost_usd)], ["Simulated", yesNo(j.simulated)],
      ["Submitted (UTC)", fmtTime(j.submitted_at)], ["Started (UTC)", fmtTime(j.started_at) + since(j.submitted_at, j.started_at)],
      ["First token (UTC)", fmtTime(j.first_token_at) + since(j.submitted_at, j.first_token_at)],
      ["Finished (UTC)", fmtTime(j.finished_at) + since(j.submitted_at, j.finished_at)],
      ["Error", j.error ? h("span", { class: "bad" }, j.error) : undefined],
      ["Constraints", constraints.length ? constraints.map(([k, v]) => h("span", { class: "chip" }, `${k}=${v}`)) : "none"],
    ]));
    fill(output, j.output ? h("pre", { class: "output" }, j.output) : empty("No output."));
    fill(receipt, j.receipt ? receiptFacts(j.receipt, true) : empty("No receipt yet: a job has one once an attempt has finished."));
    const acols = [{ label: "#", num: true }, { label: "Node" }, { label: "Engine" }, { label: "State" }, { label: "Assigned (UTC)" },
      { label: "Finished (UTC)" }, { label: "Error", wrap: true }, { label: "Tokens", num: true }, { label: "Wall", num: true }, { label: "Slot", num: true },
      { label: "Energy", num: true }, { label: "Total", num: true }];
    const hist = j.attempt_history || [];
    fill(attempts, !hist.length ? empty("Not yet attempted.") : table("Attempts", acols, hist.map((a) => {
      const r = a.receipt;
      return [a.attempt, nodeLink(a.node), a.engine, badge(a.state), fmtTime(a.assigned_at), fmtTime(a.finished_at), a.error ?? "—",
        r ? fmtInt(r.prompt_tokens + r.completion_tokens) : "—", r ? fmtMs(r.wall_ms) : "—", r ? fmtMs(r.slot_ms) : "—",
        r ? `${fmtJoules(r.energy_joules)}${r.energy_measured ? "" : " (est.)"}` : "—",
        r ? h("span", { "data-usd": String(r.total_usd) }, fmtUSD(r.total_usd)) : "—"];
    })));
    if (!x) return fill(placement, empty("No placement explanation is available for this job."));
    const weights = Object.entries(x.weights || {}).map(([k, v]) => `${k} ${fmtNum(v, 2)}`).join(" · ");
    fill(placement, dl([
      ["Evaluated (UTC)", fmtTime(x.evaluated_at)], ["Weights", weights || "—"], ["Would choose now", x.would_choose ? nodeLink(x.would_choose) : "no node"],
      ["Placed on", x.placed_on ? [nodeLink(x.placed_on), ` at ${fmtTime(x.placed_at)}`] : "not placed"],
    ]), x.verdicts?.length ? verdictTable("Verdicts now", x.verdicts) : empty("No node to evaluate."),
    x.placed_candidates?.length ? [h("h3", {}, "Candidates when it was placed"), verdictTable("Candidates when placed", x.placed_candidates)] : null);
  };
}

/** The totals of a history answer as a table, one row per key and the total as footer. */
function totalsTable(label, hist) {
  const cols = [{ label: label.replace(/^Totals by /, "").replace(/^./, (c) => c.toUpperCase()) }, { label: "Tokens", num: true }, { label: "Busy", num: true },
    { label: "Utilisation", num: true }, { label: "Spend", num: true }, { label: "Idle spend", num: true }, { label: "$/Mtok usage", num: true },
    { label: "$/Mtok allocation", num: true }, { label: "J/token", num: true }, { label: "Jobs ok / failed", num: true }];
  const row = (r, key) => [key, fmtInt(r.tokens), fmtMs(r.busy_seconds * 1000), fmtPct(r.utilization), fmtUSD(r.spend_usd), fmtUSD(r.idle_usd),
    r.tokens ? fmtUSD(r.usd_per_mtok_usage) : "—", r.tokens ? fmtUSD(r.usd_per_mtok_allocation) : "—",
    r.tokens ? fmtNum(r.joules_per_token, 3) + (r.energy_measured ? "" : " (est.)") : "—", `${fmtInt(r.jobs_succeeded ?? 0)} / ${fmtInt(r.jobs_failed ?? 0)}`];
  const rows = hist.totals || [];
  return rows.length ? table(label, cols, rows.map((r) => row(r, r.key)), row(hist.total, "Total")) : empty("No usage in this window.");
}

function windowText(w, echoed, step) {
  const what = w.key ? `last ${WINDOW_LABELS[w.key]}` : "chosen window";
  return `${fmtTime(echoed.from)} to ${fmtTime(echoed.to)} (${what}${step ? `; ${fmtStep(step)} buckets` : ""})`;
}

function pageCost(view) {
  setTitle("Cost");
  const win = h("p", { id: "cost-window", class: "muted" });
  const [cards, charts, tables] = [h("div", { class: "cards" }), h("div", { class: "chart-grid" }), h("div")];
  view.append(h("div", { class: "section-head" }, win, windowSwitch("24h")), cards, section("Over time", charts), section("Totals", tables));
  return async () => {
    const w = currentWindow("24h");
    const [pool, model] = await Promise.all([api("/api/v1/history", { by: "pool", from: w.from, to: w.to }),
      api("/api/v1/history", { by: "model", from: w.from, to: w.to })]);
    win.dataset.from = pool.from;
    win.dataset.to = pool.to;
    win.textContent = "Window: " + windowText(w, pool, pool.step_seconds);
    const t = pool.total || {};
    const share = (part) => (t.spend_usd > 0 ? `${fmtPct(part / t.spend_usd)} of spend` : "");
    fill(cards,
      card("Spend", h("span", { id: "cost-total-usd", "data-usd": String(t.spend_usd) }, fmtUSD(t.spend_usd)), `${fmtUSD(t.spend_usd - t.idle_usd)} busy`),
      card("Idle spend", fmtUSD(t.idle_usd), share(t.idle_usd)),
      card("Depreciation", fmtUSD(t.depreciation_usd), share(t.depreciation_usd)),
      card("Energy", fmtUSD(t.energy_usd), share(t.energy_usd)),
      card("Overhead", fmtUSD(t.overhead_usd), share(t.overhead_usd)),
      card("Tokens", t.tokens >= 1e7 ? fmtCompact(t.tokens) : fmtInt(t.tokens),
        `${t.tokens >= 1e7 ? fmtInt(t.tokens) + ": " : ""}${fmtInt(t.prompt_tokens)} prompt, ${fmtInt(t.completion_tokens)} completion`),
      card("$/Mtok (usage)", t.tokens ? fmtUSD(t.usd_per_mtok_usage) : "—", "busy spend per million tokens"),
      card("$/Mtok (allocation)", t.tokens ? fmtUSD(t.usd_per_mtok_allocation) : "—", "all spend per million tokens"),
      card("J/token", t.tokens ? fmtNum(t.joules_per_token, 3) : "—", t.energy_measured ? "measured" : "estimated"));
    const cw = chartWidth(charts);
    fill(charts,
      historyChart(cw, "$/Mtok (usage basis) per pool", pool, usdPerMtokOf, fmtUSD),
      historyChart(cw, "$/Mtok (usage basis) per model", model, usdPerMtokOf, fmtUSD, null, fmtUSD, true),
      historyChart(cw, "J/token per pool", pool, joulesPerTokenOf, (v) => fmtNum(v, 3), null, fmtCompact),
      sumChart(cw, "Spend per bucket, split", pool, [["depreciation", "depreciation_usd"], ["energy", "energy_usd"],
        ["overhead", "overhead_usd"], ["idle (part of the three)", "idle_usd"]], fmtUSD));
    fill(tables, h("h3", {}, "By pool"), totalsTable("Totals by pool", pool), h("h3", {}, "By model"), totalsTable("Totals by model", model));
  };
}

/** A horizontal bar of share (0..1), with the percentage as text beside it. */
const shareBar = (share) => h("span", { class: "share" },
  s("svg", { class: "bar", viewBox: "0 0 100 8", preserveAspectRatio: "none", "aria-hidden": "true" },
    s("rect", { x: 0, y: 0, width: 100, height: 8, class: "bar-bg" }), s("rect", { x: 0, y: 0, width: (Math.max(0, Math.min(1, share || 0)) * 100).toFixed(2), height: 8, class: "bar-fg" })),
  fmtPct(share));

function pageTenants(view) {
  setTitle("Tenants");
  const win = h("p", { id: "tenants-window", class: "muted" });
  const body = h("div");
  view.append(h("div", { class: "section-head" }, win, windowSwitch("24h")), body);
  return async () => {
    const w = currentWindow("24h");
    const rep = await api("/api/v1/report", { by: "tenant", from: w.from, to: w.to });
    win.textContent = "Window: " + windowText(w, rep);
    const t = rep.total || {};
    const rows = [...(rep.rows || [])].sort((a, b) => (a.key === IDLE_KEY) - (b.key === IDLE_KEY) || b.spend_usd - a.spend_usd);
    const cols = [{ label: "Tenant" }, { label: "Tokens", num: true }, { label: "Spend", num: true }, { label: "Share of tokens" }, { label: "Share of spend" }];
    fill(body, !rows.length ? empty("No usage in this window.") : table("Tenants", cols, rows.map((r) => [
      r.key === IDLE_KEY ? h("em", {}, "(idle capacity)") : link(`/ui/jobs?tenant=${encodeURIComponent(r.key)}`, r.key),
      fmtInt(r.tokens), fmtUSD(r.spend_usd), shareBar(t.tokens > 0 ? r.tokens / t.tokens : 0), shareBar(t.spend_usd > 0 ? r.spend_usd / t.spend_usd : 0),
    ]), ["Total", fmtInt(t.tokens), fmtUSD(t.spend_usd), "", ""]));
  };
}

// ---------------------------------------------------------------- login page

function startLogin() {
  const code = new URLSearchParams(location.search).get("error");
  const el = document.getElementById("login-error");
  if (code && el) {
    el.textContent = { "wrong-token": "Wrong token.", expired: "Your session expired; log in again." }[code] || "Could not log in.";
    el.hidden = false;
  }
  document.getElementById("token")?.focus();
}

// ---------------------------------------------------------------- start-up

const ROUTES = [
  [/^\/ui\/?$/, "Overview", pageOverview],
  [/^\/ui\/nodes\/?$/, "Nodes", pageNodes],
  [/^\/ui\/nodes\/([^/]+)\/?$/, "Nodes", pageNode],
  [/^\/ui\/jobs\/?$/, "Jobs", pageJobs],
  [/^\/ui\/jobs\/([^/]+)\/?$/, "Jobs", pageJob],
  [/^\/ui\/cost\/?$/, "Cost", pageCost],
  [/^\/ui\/tenants\/?$/, "Tenants", pageTenants],
];

function start() {
  if (document.getElementById("login-form")) return startLogin();
  const view = document.getElementById("view");
  if (!view) return;
  // Logging out: stop updating, so nothing is asked with the session being ended.
  document.getElementById("logout")?.closest("form")?.addEventListener("submit", () => {
    leaving = true;
  });
  for (const [re, navLabel, page] of ROUTES) {
    const m = location.pathname.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll("header nav a")) {
      if (a.textContent.trim() === navLabel) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    let args;
    try {
      args = m.slice(1).map(decodeURIComponent);
    } catch (e) {
      args = m.slice(1);
    }
    return runLoop(page(view, ...args));
  }
  setTitle("Not found");
  view.append(empty("There is no such page."), link("/ui/", "Overview"));
}

start(); // the script is loaded with `defer`: the document is parsed by now
