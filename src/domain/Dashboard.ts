/**
 * The operator's view of failmail, as pure functions: the JSON shapes of
 * `/api/stats`, `/api/batches` and `/api/summaries`, and the server-rendered
 * dashboard page (HTML plus a small inline script that polls the API and
 * keeps countdowns ticking).
 *
 * Subjects, recipients, batch keys and relay errors come from e-mails and
 * other programs: everything is escaped on the server ({@link escapeHtml})
 * and the script only ever sets `textContent`.
 */
import { soonestFirst } from "./api/Batches.ts"
import { type StatsInput, statsOf } from "./api/Stats.ts"
import { type BatchSnapshot, rfc3339, type SummaryRecord, type SummaryStatus } from "./Status.ts"

/** Escapes text for HTML element content and quoted attribute values. */
export const escapeHtml = (text: string): string =>
  text.replace(/[&<>"'`=]/g, (char) => HTML_ENTITIES[char] ?? char)

const HTML_ENTITIES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#x27;",
  "`": "&#x60;",
  "=": "&#x3D;"
}

// ---------------------------------------------------------------------------
// Display helpers (mirrored by the page script, which re-renders every poll)

/** A span of time, coarse: `45s`, `9m 58s`, `2h 05m`, `3d 4h`. */
export const formatSpan = (ms: number): string => {
  const seconds = Math.max(0, Math.floor(ms / 1000))
  if (seconds < 60) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, "0")}s`
  const hours = Math.floor(minutes / 60)
  if (hours < 24) return `${hours}h ${String(minutes % 60).padStart(2, "0")}m`
  return `${Math.floor(hours / 24)}d ${hours % 24}h`
}

/** Time left until a deadline. */
export const formatCountdown = (ms: number): string => (ms <= 0 ? "due now" : `in ${formatSpan(ms)}`)

/** Time since a moment. */
export const formatAge = (ms: number): string => (ms < 1000 ? "just now" : `${formatSpan(ms)} ago`)

/** Wall-clock time of day in UTC, `HH:MM:SS`. */
export const formatClock = (ms: number): string => new Date(ms).toISOString().slice(11, 19)

/** How the default (empty) batch key is shown. */
export const DEFAULT_KEY_LABEL = "(default)"

/** Most groups listed per batch; the rest are counted. */
export const GROUPS_SHOWN = 8

// ---------------------------------------------------------------------------
// The page

/** Everything the dashboard shows. */
export interface PageInput {
  readonly now: number
  readonly version: string
  readonly stats: StatsInput
  readonly batches: ReadonlyArray<BatchSnapshot>
  readonly summaries: ReadonlyArray<SummaryRecord>
  /** The running configuration without secrets (setting name → value). */
  readonly config: Readonly<Record<string, string>>
  /** The CSP nonce of the inline style and script. */
  readonly nonce: string
}

/** The Content-Security-Policy that goes with a page rendered with `nonce`. */
export const contentSecurityPolicy = (nonce: string): string =>
  [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'"
  ].join("; ")

const e = escapeHtml

const timeCell = (ms: number, now: number): string =>
  `<td class="time" title="${e(rfc3339(ms))}"><span data-at="${ms}">${e(formatAge(now - ms))}</span></td>`

const keyHtml = (key: string): string =>
  key === "" ? `<span class="default-key">${e(DEFAULT_KEY_LABEL)}</span>` : `<code title="${e(key)}">${e(key)}</code>`

const recipientsHtml = (recipients: ReadonlyArray<string>): string =>
  recipients.length === 0
    ? `<span class="muted">none</span>`
    : recipients.map((address) => `<span class="addr" title="${e(address)}">${e(address)}</span>`).join(" ")

const groupsHtml = (groups: BatchSnapshot["groups"]): string => {
  const items = groups
    .slice(0, GROUPS_SHOWN)
    .map(
      (group) =>
        `<li><span class="count">${group.count}×</span> <span class="subject">${
          group.subject === "" ? `<span class="muted">(no subject)</span>` : e(group.subject)
        }</span></li>`
    )
  const more = groups.length > GROUPS_SHOWN ? `<li class="muted">and ${groups.length - GROUPS_SHOWN} more groups</li>` : ""
  return `<ul class="groups">${items.join("")}${more}</ul>`
}

const batchRow = (batch: BatchSnapshot, now: number): string =>
  `<tr data-batch-key="${e(batch.key)}">` +
  `<td class="key">${keyHtml(batch.key)}</td>` +
  `<td class="recipients">${recipientsHtml(batch.recipients)}</td>` +
  `<td class="num">${batch.messageCount}</td>` +
  `<td>${groupsHtml(batch.groups)}</td>` +
  timeCell(batch.firstAt, now) +
  timeCell(batch.lastAt, now) +
  `<td class="due" title="${e(rfc3339(batch.dueAt))}"><span class="countdown" data-due="${batch.dueAt}">${e(
    formatCountdown(batch.dueAt - now)
  )}</span></td>` +
  `<td class="action"><button type="button" class="send" data-action="flush" data-key="${e(batch.key)}">Send now</button></td>` +
  `</tr>`

const statusLabel: Record<SummaryStatus, string> = {
  sending: "sending",
  retrying: "retrying",
  delivered: "delivered",
  failed: "failed"
}

const summaryDetail = (summary: SummaryRecord): string => {
  const parts: Array<string> = []
  if (summary.attempts > 1) parts.push(`<span class="muted">${summary.attempts} attempts</span>`)
  if (summary.error !== "") parts.push(`<span class="error">${e(summary.error)}</span>`)
  if (summary.failedPath !== "") parts.push(`<span class="muted">filed as <code>${e(summary.failedPath)}</code></span>`)
  return parts.length === 0 ? `<span class="muted">—</span>` : parts.join("<br>")
}

const summaryRow = (summary: SummaryRecord): string =>
  `<tr data-summary-id="${summary.id}" data-status="${e(summary.status)}">` +
  `<td class="time" title="${e(rfc3339(summary.createdAt))}">${e(formatClock(summary.createdAt))}</td>` +
  `<td class="subject">${e(summary.subject)}<div class="sub">batch ${keyHtml(summary.batchKey)}</div></td>` +
  `<td class="recipients">${recipientsHtml(summary.recipients)}</td>` +
  `<td class="num">${summary.messageCount}</td>` +
  `<td class="num">${summary.groupCount}</td>` +
  `<td><span class="status status-${e(summary.status)}">${e(statusLabel[summary.status])}</span></td>` +
  `<td class="detail">${summaryDetail(summary)}</td>` +
  `</tr>`

const emptyRow = (columns: number, text: string, id: string): string =>
  `<tr class="empty" id="${id}"><td colspan="${columns}">${e(text)}</td></tr>`

const card = (id: string, label: string, value: string): string =>
  `<div class="card"><div class="value" id="${id}">${value}</div><div class="label">${e(label)}</div></div>`

/** Renders the whole dashboard page. */
export const renderDashboard = (input: PageInput): string => {
  const { now } = input
  const stats = statsOf(input.stats)
  const batches = soonestFirst(input.batches)
  const lastReceived =
    input.stats.totals.lastReceivedAt > 0
      ? `<span data-at="${input.stats.totals.lastReceivedAt}">${e(formatAge(now - input.stats.totals.lastReceivedAt))}</span>`
      : "never"
  const configRows = Object.entries(input.config)
    .map(([name, value]) => `<tr><th>${e(name)}</th><td>${value === "" ? `<span class="muted">—</span>` : `<code>${e(value)}</code>`}</td></tr>`)
    .join("")
  const nonce = e(input.nonce)
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>failmail</title>
<link rel="icon" href="data:,">
<style nonce="${nonce}">${STYLE}</style>
</head>
<body data-now="${now}" data-started="${input.stats.totals.startedAt}">
<header>
  <div class="brand"><h1>failmail</h1><span class="version">v${e(input.version)}</span></div>
  <div class="meta">
    <span>up <span id="uptime" data-since="${input.stats.totals.startedAt}">${e(formatSpan(now - input.stats.totals.startedAt))}</span></span>
    <span id="connection" class="live">live</span>
  </div>
</header>
<main>
<section class="cards">
  ${card("stat-batches", "pending batches", String(stats.ActiveBatches))}
  ${card("stat-messages", "pending messages", String(stats.ActiveMessages))}
  ${card("stat-received", "messages received", String(stats.Received))}
  ${card("stat-rejected", "messages refused", String(stats.Rejected))}
  ${card("stat-delivered", "summaries delivered", String(stats.SummariesDelivered))}
  ${card("stat-failed", "summaries failed", String(stats.SummariesFailed))}
  ${card("stat-last", "last message", lastReceived)}
</section>
<p id="notice" class="notice" role="status" hidden></p>
<section>
  <div class="section-head">
    <h2>Pending batches <span class="badge" id="batch-count">${batches.length}</span></h2>
    <button type="button" id="flush-all" class="send-all" data-action="flush-all"${batches.length === 0 ? " disabled" : ""}>Send all now</button>
  </div>
  <div class="table-wrap">
  <table id="batches">
    <thead><tr><th>Batch</th><th>Recipients</th><th class="num">Messages</th><th>Groups</th><th>First</th><th>Last</th><th>Sends</th><th></th></tr></thead>
    <tbody>${batches.length === 0 ? emptyRow(8, "No pending batches.", "no-batches") : batches.map((batch) => batchRow(batch, now)).join("")}</tbody>
  </table>
  </div>
</section>
<section>
  <div class="section-head">
    <h2>Recent summaries <span class="badge" id="summary-count">${input.summaries.length}</span></h2>
    <span class="muted">last 100, newest first · times in UTC</span>
  </div>
  <div class="table-wrap">
  <table id="summaries">
    <thead><tr><th>Time</th><th>Subject</th><th>Recipients</th><th class="num">Msgs</th><th class="num">Groups</th><th>Status</th><th>Detail</th></tr></thead>
    <tbody>${input.summaries.length === 0 ? emptyRow(7, "No summaries yet.", "no-summaries") : input.summaries.map(summaryRow).join("")}</tbody>
  </table>
  </div>
</section>
<section>
  <details id="config">
    <summary>Configuration</summary>
    <table class="config"><tbody>${configRows}</tbody></table>
  </details>
</section>
</main>
<footer>failmail v${e(input.version)} · started ${e(rfc3339(input.stats.totals.startedAt))} · <a href="metrics">metrics</a> · <a href="api/stats">api/stats</a></footer>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>
`
}

const STYLE = `
:root{--fg:#1f2933;--muted:#6b7785;--line:#e3e8ee;--bg:#f6f8fa;--card:#fff;--accent:#2457c5;--green:#1a7f37;--amber:#9a6700;--red:#c62828;--blue:#3659a8}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;justify-content:space-between;align-items:center;padding:14px 28px;background:#1f2933;color:#fff}
header h1{margin:0;font-size:20px;font-weight:650;letter-spacing:.2px}
.brand{display:flex;align-items:baseline;gap:10px}
.version{color:#aab4bf;font-size:13px}
.meta{display:flex;gap:18px;align-items:center;color:#d5dbe1;font-size:13px}
#connection::before{content:"";display:inline-block;width:8px;height:8px;border-radius:50%;margin-right:6px;vertical-align:1px;background:#3fb950}
#connection.offline::before{background:#f85149}
main{max-width:1280px;margin:0 auto;padding:20px 28px 8px}
section{margin-bottom:26px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:12px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.card .value{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.card .label{color:var(--muted);font-size:12.5px}
.section-head{display:flex;justify-content:space-between;align-items:center;margin-bottom:8px}
h2{font-size:16px;margin:0;font-weight:600}
.badge{display:inline-block;min-width:22px;padding:0 7px;border-radius:10px;background:#e4e9f0;color:#3e4c59;font-size:12px;text-align:center;vertical-align:2px}
.table-wrap{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:8px}
table{width:100%;border-collapse:collapse}
th,td{padding:8px 12px;text-align:left;vertical-align:top;border-bottom:1px solid var(--line)}
thead th{font-size:12px;font-weight:600;color:var(--muted);text-transform:uppercase;letter-spacing:.3px;background:#fafbfc}
tbody tr:last-child td{border-bottom:0}
.num{text-align:right;font-variant-numeric:tabular-nums}
.time,.due{white-space:nowrap;font-variant-numeric:tabular-nums}
.countdown{font-weight:600;color:var(--accent)}
code,.addr{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.addr{display:inline-block;background:#f0f3f6;border-radius:4px;padding:0 5px;margin:0 2px 2px 0;white-space:nowrap;max-width:300px;overflow:hidden;text-overflow:ellipsis;vertical-align:top}
.key code{display:inline-block;white-space:nowrap;max-width:300px;overflow:hidden;text-overflow:ellipsis;vertical-align:top}
.default-key{font-style:italic;color:var(--muted)}
.groups{list-style:none;margin:0;padding:0}
.groups li{display:flex;gap:6px;margin:0 0 2px}
.count{flex:none;min-width:24px;font-weight:600;font-variant-numeric:tabular-nums;color:var(--muted)}
.subject{overflow-wrap:anywhere}
.sub{color:var(--muted);font-size:12px;margin-top:2px}
.muted{color:var(--muted)}
.error{color:var(--red);overflow-wrap:anywhere}
.empty td{color:var(--muted);text-align:center;padding:18px}
.status{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.status-delivered{background:#dafbe1;color:var(--green)}
.status-retrying{background:#fff4d4;color:var(--amber)}
.status-failed{background:#ffe3e3;color:var(--red)}
.status-sending{background:#e2ebff;color:var(--blue)}
button{font:inherit;font-size:13px;border-radius:6px;padding:4px 12px;cursor:pointer;border:1px solid #c4ccd6;background:#fff;color:var(--fg);white-space:nowrap}
button:hover:not(:disabled){background:#f0f3f6}
button:disabled{opacity:.5;cursor:default}
.send-all{background:var(--accent);border-color:var(--accent);color:#fff}
.send-all:hover:not(:disabled){background:#1d47a3}
.action{text-align:right}
.notice{margin:0 0 16px;padding:8px 12px;border-radius:6px;background:#e2ebff;color:#23408e}
.notice.bad{background:#ffe3e3;color:var(--red)}
details{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 14px}
summary{cursor:pointer;font-weight:600}
.config{margin-top:8px}
.config th,.config td{padding:5px 12px;vertical-align:baseline}
.config th{width:220px;font-weight:500;color:var(--muted);font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
footer{max-width:1280px;margin:0 auto;padding:0 28px 24px;color:var(--muted);font-size:12px}
footer a{color:var(--muted)}
`

/**
 * The page script: polls the API every 2 s, re-renders both tables and the
 * totals with DOM nodes and `textContent` only, ticks countdowns and ages
 * every second, and posts "send now" clicks to the flush endpoints.
 * Times from the server are corrected by the server/browser clock offset.
 */
const SCRIPT = `
(function () {
  "use strict";
  var POLL_MS = 2000, GROUPS_SHOWN = ${GROUPS_SHOWN}, DEFAULT_KEY_LABEL = ${JSON.stringify(DEFAULT_KEY_LABEL)};
  var body = document.body;
  var skew = Number(body.dataset.now) - Date.now();
  var busy = false, again = false;
  function serverNow() { return Date.now() + skew; }
  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  function pad(n) { return String(n).padStart(2, "0"); }
  function span(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + "s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + "m " + pad(s % 60) + "s";
    var h = Math.floor(m / 60);
    if (h < 24) return h + "h " + pad(m % 60) + "m";
    return Math.floor(h / 24) + "d " + (h % 24) + "h";
  }
  function countdown(ms) { return ms <= 0 ? "due now" : "in " + span(ms); }
  function age(ms) { return ms < 1000 ? "just now" : span(ms) + " ago"; }
  function ms(iso) { return Date.parse(iso); }
  function keyNode(key) {
    if (key === "") return el("span", "default-key", DEFAULT_KEY_LABEL);
    var code = el("code", "", key);
    code.title = key;
    return code;
  }
  function recipientsNode(list) {
    var td = el("td", "recipients");
    if (list.length === 0) td.appendChild(el("span", "muted", "none"));
    list.forEach(function (address) {
      var node = el("span", "addr", address);
      node.title = address;
      td.appendChild(node);
      td.appendChild(document.createTextNode(" "));
    });
    return td;
  }
  function timeCell(iso) {
    var td = el("td", "time");
    td.title = iso;
    var s = el("span", "", age(serverNow() - ms(iso)));
    s.dataset.at = String(ms(iso));
    td.appendChild(s);
    return td;
  }
  function emptyRow(columns, text) {
    var tr = el("tr", "empty"), td = el("td", "", text);
    td.colSpan = columns;
    tr.appendChild(td);
    return tr;
  }
  function renderBatches(batches) {
    var rows = batches.map(function (b) {
      var tr = el("tr");
      tr.dataset.batchKey = b.key;
      var key = el("td", "key"); key.appendChild(keyNode(b.key)); tr.appendChild(key);
      tr.appendChild(recipientsNode(b.recipients));
      tr.appendChild(el("td", "num", b.messageCount));
      var groups = el("td"), ul = el("ul", "groups");
      b.groups.slice(0, GROUPS_SHOWN).forEach(function (g) {
        var li = el("li");
        li.appendChild(el("span", "count", g.count + "\\u00d7"));
        li.appendChild(document.createTextNode(" "));
        var subject = el("span", "subject");
        if (g.subject === "") subject.appendChild(el("span", "muted", "(no subject)")); else subject.textContent = g.subject;
        li.appendChild(subject);
        ul.appendChild(li);
      });
      if (b.groups.length > GROUPS_SHOWN) ul.appendChild(el("li", "muted", "and " + (b.groups.length - GROUPS_SHOWN) + " more groups"));
      groups.appendChild(ul); tr.appendChild(groups);
      tr.appendChild(timeCell(b.firstAt));
      tr.appendChild(timeCell(b.lastAt));
      var due = el("td", "due"), c = el("span", "countdown", countdown(ms(b.dueAt) - serverNow()));
      due.title = b.dueAt; c.dataset.due = String(ms(b.dueAt)); due.appendChild(c); tr.appendChild(due);
      var action = el("td", "action"), button = el("button", "send", "Send now");
      button.type = "button"; button.dataset.action = "flush"; button.dataset.key = b.key;
      action.appendChild(button); tr.appendChild(action);
      return tr;
    });
    $("batches").tBodies[0].replaceChildren.apply($("batches").tBodies[0], rows.length ? rows : [emptyRow(8, "No pending batches.")]);
    $("batch-count").textContent = String(batches.length);
    $("flush-all").disabled = batches.length === 0;
  }
  function renderSummaries(summaries) {
    var rows = summaries.map(function (s) {
      var tr = el("tr");
      tr.dataset.summaryId = String(s.id); tr.dataset.status = s.status;
      var when = el("td", "time", s.createdAt.slice(11, 19)); when.title = s.createdAt; tr.appendChild(when);
      var subject = el("td", "subject", s.subject), sub = el("div", "sub", "batch ");
      sub.appendChild(keyNode(s.batchKey)); subject.appendChild(sub); tr.appendChild(subject);
      tr.appendChild(recipientsNode(s.recipients));
      tr.appendChild(el("td", "num", s.messageCount));
      tr.appendChild(el("td", "num", s.groupCount));
      var status = el("td"); status.appendChild(el("span", "status status-" + s.status, s.status)); tr.appendChild(status);
      var detail = el("td", "detail"), parts = [];
      if (s.attempts > 1) parts.push(el("span", "muted", s.attempts + " attempts"));
      if (s.error !== "") parts.push(el("span", "error", s.error));
      if (s.failedPath !== "") { var f = el("span", "muted", "filed as "); f.appendChild(el("code", "", s.failedPath)); parts.push(f); }
      if (parts.length === 0) parts.push(el("span", "muted", "\u2014"));
      parts.forEach(function (p, i) { if (i > 0) detail.appendChild(el("br")); detail.appendChild(p); });
      tr.appendChild(detail);
      return tr;
    });
    $("summaries").tBodies[0].replaceChildren.apply($("summaries").tBodies[0], rows.length ? rows : [emptyRow(7, "No summaries yet.")]);
    $("summary-count").textContent = String(summaries.length);
  }
  function renderStats(s) {
    $("stat-batches").textContent = String(s.ActiveBatches);
    $("stat-messages").textContent = String(s.ActiveMessages);
    $("stat-received").textContent = String(s.Received);
    $("stat-rejected").textContent = String(s.Rejected);
    $("stat-delivered").textContent = String(s.SummariesDelivered);
    $("stat-failed").textContent = String(s.SummariesFailed);
    var last = $("stat-last"), at = ms(s.LastAccepted);
    if (s.LastAccepted.indexOf("0001-") === 0) { last.textContent = "never"; }
    else { var node = el("span", "", age(serverNow() - at)); node.dataset.at = String(at); last.replaceChildren(node); }
    $("uptime").dataset.since = String(ms(s.StartedAt));
  }
  function tick() {
    var now = serverNow();
    document.querySelectorAll("[data-due]").forEach(function (n) { n.textContent = countdown(Number(n.dataset.due) - now); });
    document.querySelectorAll("[data-at]").forEach(function (n) { n.textContent = age(now - Number(n.dataset.at)); });
    var up = $("uptime"); up.textContent = span(now - Number(up.dataset.since));
  }
  function getJson(url) {
    return fetch(url, { cache: "no-store", credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(url + ": HTTP " + r.status);
      return r.json();
    });
  }
  function connection(ok, why) {
    var c = $("connection");
    c.className = ok ? "live" : "offline";
    c.textContent = ok ? "live" : "offline";
    c.title = ok ? "" : why;
  }
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    var sent = Date.now();
    Promise.all([getJson("api/stats"), getJson("api/batches"), getJson("api/summaries")]).then(function (r) {
      skew = ms(r[0].Now) - (sent + Date.now()) / 2;
      renderStats(r[0]); renderBatches(r[1]); renderSummaries(r[2]); tick();
      connection(true, "");
    }, function (error) { connection(false, String(error && error.message || error)); }).then(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }
  function notice(text, bad) {
    var n = $("notice");
    n.textContent = text; n.className = bad ? "notice bad" : "notice"; n.hidden = false;
    clearTimeout(notice.timer);
    notice.timer = setTimeout(function () { n.hidden = true; }, 6000);
  }
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("button[data-action]") : null;
    if (!button || button.disabled) return;
    var all = button.dataset.action === "flush-all";
    var key = button.dataset.key || "";
    var url = all ? "api/flush" : "api/batches/flush?key=" + encodeURIComponent(key);
    button.disabled = true;
    fetch(url, { method: "POST", credentials: "same-origin" }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (answer) {
        if (!r.ok) throw new Error(answer.error || ("HTTP " + r.status));
        notice(all ? "Sending " + answer.flushed + " batch(es) now." : "Sending batch " + (key === "" ? DEFAULT_KEY_LABEL : key) + " now.", false);
      });
    }).catch(function (error) { notice("Could not send: " + error.message, true); })
      .then(function () { button.disabled = false; refresh(); });
  });
  tick();
  setInterval(tick, 1000);
  setInterval(refresh, POLL_MS);
  refresh();
})();
`
