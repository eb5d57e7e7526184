// The regulator's map: utilization by province and site, live fills, thin capacity, take-up, utilization over time.

import { requireRole, showProblem } from "./session.js";
import { connectPush, probe } from "./push.js";
import { cny, percent, el, row, fill, chartFont, beijingTime, beijingAxis, beijingTooltip } from "./format.js";
import { mapNames, label } from "./provinces.js";
import { t, lang, translate, languageSwitch } from "./i18n.js";
import "./strings/regulator.js";
import { showForecasts } from "./forecast.js";
import { showProgrammeEvidence } from "./evidence.js";
import { regulatorHistory } from "./history.js";
import { mapOption, showMap, provincePanel } from "./map.js";
import { unit, unitSwitch, pflops } from "./units.js";

const tickerLength = 60;

translate();
languageSwitch();
if (requireRole("regulator", "admin")) {
  start().catch(e => showProblem(t("regulator.mapFailed", { message: e.message })));
}

async function start() {
  const response = await fetch("lib/china.json");
  if (!response.ok) throw new Error(t("regulator.mapMissing"));
  echarts.registerMap("china", await response.json());

  const map = echarts.init(document.getElementById("map"));
  map.setOption(mapOption());
  addEventListener("resize", () => map.resize());
  const panel = provincePanel(map);
  const series = regulatorHistory(document.getElementById("series"));

  const shownFills = new Set();
  let latest = null;
  const draw = snapshot => {
    showTiles(snapshot);
    showMapProbe(showMap(map, snapshot, unit() === "pflops"), map);
  };
  unitSwitch(() => {
    if (latest) draw(latest);
    series.redraw();
    if (takeUps) showTakeUp(takeUps);
  });
  await connectPush({
    utilization: snapshot => {
      latest = snapshot;
      draw(snapshot);
      panel.update(snapshot);
      showThin(snapshot);
      showTicker(snapshot.recentFills, shownFills);
      series.push(snapshot);
    },
    takeUp: showTakeUp,
  });
}

/** The tiles in the unit chosen: GPUs, or PFLOPS of the models with a published figure (the others are left out). */
function showTiles(snapshot) {
  const sum = key => snapshot.provinces.reduce((n, p) => n + (p[key] ?? 0), 0);
  const locale = lang() === "zh" ? "zh-CN" : "en-US";
  const byCompute = unit() === "pflops";
  document.getElementById("gpus-label").textContent = t(byCompute ? "regulator.pflops" : "regulator.gpus");
  document.getElementById("busy-label").textContent = t(byCompute ? "regulator.busyPflops" : "regulator.busy");
  document.getElementById("gpus").textContent = byCompute ? pflops(sum("capacityTflops")) : sum("gpuCount").toLocaleString(locale);
  document.getElementById("busy").textContent = byCompute ? pflops(sum("busyTflopsNow")) : sum("busyGpusNow").toLocaleString(locale);
  const uncounted = sum("gpusWithoutTflops");
  const note = document.getElementById("unit-note");
  note.hidden = !byCompute;
  note.textContent = t("regulator.uncounted", { gpus: uncounted.toLocaleString(locale) });
  document.getElementById("utilization").textContent = percent(byCompute
    ? weightedBy(snapshot.provinces, "capacityTflops", "computeUtilizationBasisPoints")
    : weighted(snapshot.models));
  document.getElementById("fills").textContent = snapshot.fillsTotal.toLocaleString(locale);
}

/** Utilization of several groups (basis points), weighted by a size of each. */
function weightedBy(groups, size, share) {
  const whole = groups.reduce((n, g) => n + (g[size] ?? 0), 0);
  return whole ? groups.reduce((n, g) => n + (g[size] ?? 0) * (g[share] ?? 0), 0) / whole : 0;
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
  element.setAttribute("aria-label", t("regulator.mapSummary", {
    provinces: provinces.length, sites: sites.length,
    list: [...provinces].sort((a, b) => b.value - a.value)
      .map(p => t("regulator.mapProvinceItem", { name: label(p.province), booked: p.value.toFixed(1) })).join(lang() === "zh" ? "，" : ", "),
  }));
  probe.map = {
    top,
    provinces: provinces.map(p => ({ province: p.province, name: p.name, utilization: p.value, gpus: p.gpus, pflops: p.capacityTflops / 1000 })),
    sites: sites.map(s => ({ siteId: s.siteId, name: s.name, gpus: s.value[2] })),
  };
}

function showThin(snapshot) {
  const thin = snapshot.provinces.filter(p => p.restingBids > 0).sort((a, b) => b.restingGpus - a.restingGpus);
  fill(document.querySelector("#thin tbody"), thin.map(p => row([
    label(p.province), p.restingBids, p.restingGpus, p.gpuCount, percent(p.utilizationBasisPoints),
  ], { province: p.province })), t("regulator.noThin"));
  document.querySelectorAll("#thin tbody td:not(:first-child)").forEach(td => td.classList.add("num"));
}

function showTicker(fills, shown) {
  const ticker = document.getElementById("ticker");
  const fresh = fills.filter(f => !shown.has(f.reservationId)).sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  for (const f of fresh) {
    shown.add(f.reservationId);
    const item = el("li", "fresh",
      el("span", "time", beijingTime(f.at).slice(11)),
      el("span", null, t("regulator.fill", { gpus: f.gpus, model: f.gpuModel, hours: f.hours, province: label(f.province), price: cny(f.fenPerGpuHour) })
        + (f.voucherFen ? t("regulator.fillVoucher", { amount: cny(f.voucherFen) }) : "")));
    item.dataset.reservation = f.reservationId;
    ticker.prepend(item);
  }
  while (ticker.children.length > tickerLength) ticker.lastElementChild.remove();
  if (!ticker.children.length) ticker.append(el("li", "empty", t("regulator.noFills")));
  else ticker.querySelector(":scope > li.empty")?.remove();
}

/** The last take-up pushed, drawn again when the unit changes. */
let takeUps = null;

function showTakeUp(programs) {
  takeUps = programs;
  const count = (p, state) => p.vouchersByState[state] ?? 0;
  const byCompute = unit() === "pflops";
  const locale = lang() === "zh" ? "zh-CN" : "en-US";
  document.getElementById("funded-label").textContent = t(byCompute ? "regulator.col.fundedPflopsHours" : "regulator.col.fundedGpuHours");
  fill(document.querySelector("#takeup tbody"), programs.map(p => {
    const tr = row([
      p.name, label(p.province), count(p, "Claimed"), count(p, "Active"), count(p, "Lapsed"),
      cny(p.budgetFen), cny(p.issuedFen), cny(p.heldFen), cny(p.spentFen), cny(p.remainingBudgetFen),
      percent(p.budgetFen ? (10000 * p.spentFen) / p.budgetFen : 0),
      byCompute ? pflops(p.fundedTflopsHours) : p.fundedGpuHours.toLocaleString(locale),
    ], { program: p.programId });
    // In PFLOPS, the funded hours of models without a published figure are named, not counted.
    if (byCompute && p.fundedGpuHoursWithoutTflops > 0) {
      tr.lastElementChild.setAttribute("title", t("regulator.fundedUncounted", { gpuHours: p.fundedGpuHoursWithoutTflops.toLocaleString(locale) }));
    }
    return tr;
  }), t("regulator.noPrograms"));
  document.querySelectorAll("#takeup tbody td:nth-child(n+3)").forEach(td => td.classList.add("num"));
  showForecasts(programs);
  showProgrammeEvidence(programs);
}
