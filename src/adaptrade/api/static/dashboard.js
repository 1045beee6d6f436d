// The dashboard: reads /api/v1, draws with plotly, follows /api/v1/stream. No build step.
"use strict";
const API = "/api/v1";
let currentRun = null, currentJob = null, rankRows = [], rankCols = [], sortCol = "sharpe", sortDesc = true;

async function getJSON(path) {
  const r = await fetch(API + path);
  if (!r.ok) throw new Error((await r.json()).detail || r.statusText);
  return r.json();
}
const fmt = v => v === null || v === undefined ? "" : (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : String(v));
function cell(tr, text) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); }

async function loadRuns() {
  const data = await getJSON("/runs?limit=200");
  const body = document.querySelector("#runs tbody");
  body.innerHTML = "";
  for (const r of data.runs) {
    const tr = document.createElement("tr");
    tr.dataset.id = r.id;
    [r.id, r.source, r.mode, r.stocks, `${r.start} .. ${r.end}`, fmt(r.mean_return), fmt(r.mean_sharpe), r.status].forEach(v => cell(tr, v));
    tr.onclick = () => selectRun(r.id);
    body.appendChild(tr);
  }
  if (!currentRun && data.runs.length) selectRun(data.runs[0].id);
}

async function selectRun(id) {
  currentRun = id;
  document.querySelectorAll("#runs tbody tr").forEach(tr => tr.classList.toggle("sel", tr.dataset.id === id));
  document.getElementById("run-title").textContent = id;
  Plotly.purge("params");
  document.getElementById("param-symbol").textContent = "(click a stock)";
  const t = await getJSON(`/runs/${encodeURIComponent(id)}/stocks?limit=1000`);
  if (id !== currentRun) return;  // another run was selected meanwhile
  rankCols = t.columns.filter(c => ["symbol", "total_return", "buy_hold_return", "benchmark_return", "outperformance", "win_rate", "sharpe", "max_drawdown", "trades"].includes(c));
  rankRows = t.rows;
  drawRanking();
  drawEquity(id);
}

function drawRanking() {
  const head = document.querySelector("#ranking thead"), body = document.querySelector("#ranking tbody");
  head.innerHTML = ""; body.innerHTML = "";
  const htr = document.createElement("tr");
  for (const c of rankCols) {
    const th = document.createElement("th");
    th.textContent = c + (c === sortCol ? (sortDesc ? " \u25bc" : " \u25b2") : "");
    th.dataset.col = c;
    th.onclick = () => { sortDesc = c === sortCol ? !sortDesc : true; sortCol = c; drawRanking(); };
    htr.appendChild(th);
  }
  head.appendChild(htr);
  const rows = [...rankRows].sort((a, b) => {
    const x = a[sortCol], y = b[sortCol];
    if (x === y) return 0; if (x === null) return 1; if (y === null) return -1;
    return (x < y ? -1 : 1) * (sortDesc ? -1 : 1);
  });
  for (const r of rows) {
    const tr = document.createElement("tr");
    tr.dataset.symbol = r.symbol;
    rankCols.forEach(c => cell(tr, fmt(r[c])));
    tr.onclick = () => drawParams(r.symbol);
    body.appendChild(tr);
  }
}

async function drawEquity(id) {
  const e = await getJSON(`/runs/${encodeURIComponent(id)}/equity?limit=10000`);
  if (id !== currentRun) return;
  const x = e.points.map(p => p.date), y = e.points.map(p => p.equity);
  const bench = e.benchmark_symbol || "benchmark";
  const what = {mean_of_stocks: "average equity (mean of stocks)", account: "account equity", stock: "equity"}[e.view] || "equity";
  const traces = [];
  if (e.basis === "bar_by_bar") {  // one point per bar: strategy, buy & hold and benchmark as lines
    traces.push({x, y, name: what, mode: "lines", line: {color: "#1f77b4"}});
    const bh = e.points.map(p => p.buy_hold), bm = e.points.map(p => p.benchmark);
    const bhName = {account: "equal-weight buy & hold", mean_of_stocks: "buy & hold (mean of stocks)"}[e.view] || "buy & hold";
    if (bh.some(v => v !== null)) traces.push({x, y: bh, name: bhName, mode: "lines", line: {color: "#7f7f7f"}});
    if (bm.some(v => v !== null)) traces.push({x, y: bm, name: bench, mode: "lines", line: {color: "#ff7f0e"}});
  } else {  // a run stored before the curves were: realised at exits, buy & hold and benchmark as end points
    const end = x.length ? x[x.length - 1] : null;
    traces.push({x, y, name: "strategy (realised at exits, mean)", mode: "lines"});
    if (end && e.buy_hold_return !== null) traces.push({x: [end], y: [1 + e.buy_hold_return], name: "buy & hold (mean, end)", mode: "markers", marker: {size: 10}});
    if (end && e.benchmark_return !== null) traces.push({x: [end], y: [1 + e.benchmark_return], name: bench + " (end)", mode: "markers", marker: {size: 10, symbol: "diamond"}});
  }
  document.getElementById("equity-note").textContent = e.basis === "bar_by_bar" ? `(${what}, 1.0 at the start, every bar)` : "(realised at trade exits: a run stored before bar-by-bar curves)";
  Plotly.newPlot("equity", traces, {margin: {t: 10}, yaxis: {title: "x start"}, legend: {orientation: "h"}}, {responsive: true});
  const dd = e.points.map(p => p.drawdown);
  Plotly.newPlot("drawdown", [{x, y: dd, fill: "tozeroy", name: `drawdown of the ${what}`, mode: "lines"}], {margin: {t: 10}, yaxis: {tickformat: ".0%"}}, {responsive: true});
}

async function drawParams(symbol) {
  if (!currentRun) return;
  document.getElementById("param-symbol").textContent = symbol;
  const t = await getJSON(`/runs/${encodeURIComponent(currentRun)}/params?symbol=${encodeURIComponent(symbol)}&limit=1000`);
  const byParam = {};
  for (const r of t.rows) {
    const p = byParam[r.parameter] = byParam[r.parameter] || {x: [], y: []};
    p.x.push(r.date); p.y.push(r.new_value);
  }
  const traces = Object.entries(byParam).map(([name, v]) => ({x: v.x, y: v.y, name, mode: "lines+markers", line: {shape: "hv"}}));
  Plotly.newPlot("params", traces, {margin: {t: 10}, legend: {orientation: "h"}}, {responsive: true});
}

document.getElementById("start").onsubmit = async ev => {
  ev.preventDefault();
  const body = {stocks: +document.getElementById("f-stocks").value, bars: +document.getElementById("f-bars").value,
                seed: +document.getElementById("f-seed").value, strategy: document.getElementById("f-strategy").value};
  const token = document.getElementById("f-token").value;
  const r = await fetch(API + "/backtests", {method: "POST", headers: {"Content-Type": "application/json", ...(token ? {Authorization: "Bearer " + token} : {})}, body: JSON.stringify(body)});
  const j = await r.json();
  if (r.status !== 202) { document.getElementById("job-status").textContent = `refused: ${j.detail}`; return; }
  currentJob = j.id;
  document.getElementById("job-status").textContent = `${j.id}: ${j.state}`;
};

function onJob(d) {
  if (d.id !== currentJob) return;
  document.getElementById("progress").value = d.progress || 0;
  document.getElementById("job-status").textContent = `${d.id}: ${d.state} ${d.done}/${d.total ?? "?"}` + (d.run_id ? ` -> run ${d.run_id}` : "") + (d.error ? ` (${d.error})` : "");
  if (d.state === "done") { currentRun = null; loadRuns().then(() => selectRun(d.run_id)); }
}

let lastId = "$";
function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${API}/stream?last_id=${encodeURIComponent(lastId)}`);
  const status = document.getElementById("stream-status");
  ws.onmessage = m => {
    const e = JSON.parse(m.data);
    if (e.kind === "hello") { status.textContent = "(connected)"; lastId = e.id; return; }
    if (e.kind === "error") { status.textContent = `(${e.detail})`; return; }
    lastId = e.id;
    if (e.kind === "job") onJob(e.data);
    if (e.kind === "job" && e.data.state === "running" && e.data.done > 0 && e.data.done < (e.data.total || 0)) return;
    const li = document.createElement("li");
    li.className = "ev-" + e.kind;
    li.textContent = `${e.kind} ${JSON.stringify(e.data)}`;
    const feed = document.getElementById("feed");
    feed.prepend(li);
    while (feed.children.length > 200) feed.removeChild(feed.lastChild);
  };
  ws.onclose = () => { status.textContent = status.textContent || "(disconnected)"; setTimeout(connect, 3000); };
}

loadRuns().catch(err => { document.getElementById("run-title").textContent = String(err); });
connect();
