// The regulator's map: utilization by province and site, live fills, thin capacity, take-up, utilization over time.

import { requireRole, showProblem } from "./session.js";
import { connectPush, probe } from "./push.js";
import { cny, percent, el, row, fill, chartFont } from "./format.js";
import { mapNames, label } from "./provinces.js";
import { showForecasts } from "./forecast.js";
import { showProgrammeEvidence } from "./evidence.js";
import { regulatorHistory } from "./history.js";
import { mapOption, showMap, provincePanel } from "./map.js";

const tickerLength = 60;

if (requireRole("regulator", "admin")) {
  start().catch(e => showProblem(`The map could not be drawn: ${e.message}`));
}

async function start() {
  const response = await fetch("lib/china.json");
  if (!response.ok) throw new Error("the map of China (lib/china.json) is missing; run npm run copy-libs");
  echarts.registerMap("china", await response.json());

  const map = echarts.init(document.getElementById("map"));
  map.setOption(mapOption());
  addEventListener("resize", () => map.resize());
  const panel = provincePanel(map);
  const series = regulatorHistory(document.getElementById("series"));

  const shownFills = new Set();
  await connectPush({
    utilization: snapshot => {
      showTiles(snapshot);
      showMapProbe(showMap(map, snapshot), map);
      panel.update(snapshot);
      showThin(snapshot);
      showTicker(snapshot.recentFills, shownFills);
      series.push(snapshot);
    },
    takeUp: showTakeUp,
  });
}

function showTiles(snapshot) {
  const gpus = snapshot.provinces.reduce((n, p) => n + p.gpuCount, 0);
  const busy = snapshot.provinces.reduce((n, p) => n + p.busyGpusNow, 0);
  document.getElementById("gpus").textContent = gpus.toLocaleString("en-US");
  document.getElementById("busy").textContent = busy.toLocaleString("en-US");
  document.getElementById("utilization").textContent = percent(weighted(snapshot.models));
  document.getElementById("fills").textContent = snapshot.fillsTotal.toLocaleString("en-US");
}

/** Utilization of several groups, weighted by their GPU counts (basis points). */
function weighted(groups) {
  const gpus = groups.reduce((n, g) => n + g.gpuCount, 0);
  return gpus ? groups.reduce((n, g) => n + g.gpuCount * g.utilizationBasisPoints, 0) / gpus : 0;
}

function showMapProbe({ provinces, sites, top }, chart) {
  const element = chart.getDom();
  element.dataset.provinces = String(provinces.length);
  element.dataset.sites = String(sites.length);
  probe.map = {
    top,
    provinces: provinces.map(p => ({ province: p.province, name: p.name, utilization: p.value })),
    sites: sites.map(s => ({ siteId: s.siteId, name: s.name, gpus: s.value[2] })),
  };
}

function showThin(snapshot) {
  const thin = snapshot.provinces.filter(p => p.restingBids > 0).sort((a, b) => b.restingGpus - a.restingGpus);
  fill(document.querySelector("#thin tbody"), thin.map(p => row([
    label(p.province), p.restingBids, p.restingGpus, p.gpuCount, percent(p.utilizationBasisPoints),
  ], { province: p.province })), "No bids are resting unfilled.");
  document.querySelectorAll("#thin tbody td:not(:first-child)").forEach(td => td.classList.add("num"));
}

function showTicker(fills, shown) {
  const ticker = document.getElementById("ticker");
  const fresh = fills.filter(f => !shown.has(f.reservationId)).sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  for (const f of fresh) {
    shown.add(f.reservationId);
    const item = el("li", "fresh",
      el("span", "time", new Date(f.at).toISOString().slice(11, 19)),
      el("span", null, `${f.gpus} × ${f.gpuModel} for ${f.hours} h in ${label(f.province)} at ${cny(f.fenPerGpuHour)}/GPU-h`
        + (f.voucherFen ? ` · voucher ${cny(f.voucherFen)}` : "")));
    item.dataset.reservation = f.reservationId;
    ticker.prepend(item);
  }
  while (ticker.children.length > tickerLength) ticker.lastElementChild.remove();
  if (!ticker.children.length) ticker.append(el("li", "empty", "No fills yet."));
  else ticker.querySelector(":scope > li.empty")?.remove();
}

function showTakeUp(programs) {
  const count = (p, state) => p.vouchersByState[state] ?? 0;
  fill(document.querySelector("#takeup tbody"), programs.map(p => row([
    p.name, label(p.province), count(p, "Claimed"), count(p, "Active"), count(p, "Lapsed"),
    cny(p.budgetFen), cny(p.issuedFen), cny(p.heldFen), cny(p.spentFen), cny(p.remainingBudgetFen),
    percent(p.budgetFen ? (10000 * p.spentFen) / p.budgetFen : 0),
  ], { program: p.programId })), "No voucher programs yet.");
  document.querySelectorAll("#takeup tbody td:nth-child(n+3)").forEach(td => td.classList.add("num"));
  showForecasts(programs);
  showProgrammeEvidence(programs);
}
