// dfbench leaderboard page: renders the embedded data, sorts on header click, filters by dataset,
// protocol and threat model, marks flagged entries. No server, no libraries.
"use strict";

const data = JSON.parse(document.getElementById("leaderboard-data").textContent);
const table = document.getElementById("leaderboard");
const state = { key: "rank", dir: 1, dataset: "", protocol: "", norm: "" };

function format(value, column) {
  if (value === null || value === undefined || value === "") return "";
  return column.kind === "text" ? String(value) : Number(value).toFixed(column.digits ?? 3);
}

function visibleColumns() {
  return data.columns.filter(c => !state.norm || !c.norm || c.norm === state.norm);
}

function compare(a, b) {
  const x = a[state.key], y = b[state.key];
  const missing = v => v === null || v === undefined || v === "";
  if (missing(x) || missing(y)) return missing(x) - missing(y);  // blanks last either way
  return (typeof x === "number" ? x - y : String(x).localeCompare(String(y))) * state.dir;
}

function renderHead(columns) {
  const row = document.createElement("tr");
  for (const c of columns) {
    const th = document.createElement("th");
    th.textContent = c.label;
    th.dataset.key = c.key;
    th.className = c.kind;
    th.title = c.help || "";
    if (c.key === state.key) th.setAttribute("aria-sort", state.dir > 0 ? "ascending" : "descending");
    th.addEventListener("click", () => {
      state.dir = state.key === c.key ? -state.dir : (c.kind === "text" ? 1 : -1);
      state.key = c.key;
      render();
    });
    row.appendChild(th);
  }
  table.tHead.replaceChildren(row);
}

function renderBody(columns) {
  const rows = data.rows.filter(r => (!state.dataset || r.dataset === state.dataset)
    && (!state.protocol || r.protocol === state.protocol)).sort(compare);
  const body = document.createDocumentFragment();
  for (const r of rows) {
    const tr = document.createElement("tr");
    if (r.flags) tr.classList.add("flagged");
    for (const c of columns) {
      const td = document.createElement("td");
      td.className = c.kind;
      if (c.key === "flags" && r.flags) {
        const mark = document.createElement("span");
        mark.className = "flag";
        mark.textContent = "\u26A0 " + r.flags.split(",").join(", ");
        mark.title = r.flag_details || "";
        td.appendChild(mark);
      } else {
        td.textContent = format(r[c.key], c);
        const lo = r[c.key + " lo"], hi = r[c.key + " hi"];
        if (c.interval && lo !== null && lo !== undefined && hi !== null && hi !== undefined) {
          const ci = document.createElement("span");
          ci.className = "ci";
          ci.textContent = ` [${format(lo, c)}, ${format(hi, c)}]`;
          td.appendChild(ci);
        }
      }
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  table.tBodies[0].replaceChildren(body);
  document.getElementById("row-count").textContent = `${rows.length} rows`;
}

function renderPlots() {
  const section = document.getElementById("plots");
  section.replaceChildren();
  for (const p of data.plots.filter(p => !state.dataset || p.dataset === state.dataset)) {
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.src = p.src;
    img.alt = p.title;
    const caption = document.createElement("figcaption");
    caption.textContent = `${p.title} (${p.dataset})`;
    figure.append(img, caption);
    section.appendChild(figure);
  }
}

function render() {
  const columns = visibleColumns();
  renderHead(columns);
  renderBody(columns);
  renderPlots();
}

function setup() {
  const datasets = document.getElementById("filter-dataset");
  datasets.add(new Option("all", ""));
  for (const d of data.datasets) datasets.add(new Option(d, d));
  datasets.addEventListener("change", e => { state.dataset = e.target.value; render(); });
  const protocols = document.getElementById("filter-protocol");
  protocols.add(new Option("all", ""));
  for (const p of data.protocols || []) protocols.add(new Option(p, p));
  protocols.addEventListener("change", e => { state.protocol = e.target.value; render(); });
  document.getElementById("filter-norm").addEventListener("change", e => { state.norm = e.target.value; render(); });
  document.getElementById("meta").textContent =
    `${data.entries} entries, built ${data.built_at} by dfbench ${data.dfbench_version}`;
  render();
}

setup();
