// The provider console: pools with their prices and GPU counts, the capacity calendar as a heat map, outages declared and
// ended, approval per programme, live utilization and earnings (booked and settled).

import { requireRole, client, ifMatch, attempt, onSubmit, showProblem } from "./session.js";
import { connectPush, probe } from "./push.js";
import { cny, percent, reliability, when, beijingTime, shortId, el, row, fill, badge, options, hourFromNow, chartFont, chartAnimation } from "./format.js";
import { provinceNames, label } from "./provinces.js";
import { t, lang, translate, languageSwitch } from "./i18n.js";
import "./strings/provider.js";
import { providerHistory } from "./history.js";
import { pflops } from "./units.js";

const pools = new Map();
const reservations = new Map();
let live = null;
let calendar = null;
let series = null;
let reservationsDue = null;
let creditCode = null;

/** Reservations whose money is booked but not yet paid out: it is settled to the provider once the rental has ended. */
const bookedStates = new Set(["Confirmed", "Running"]);

translate();
languageSwitch();
const me = requireRole("provider");
if (me) {
  start().catch(e => showProblem(e.message));
}

async function start() {
  calendar = echarts.init(document.getElementById("calendar"));
  calendar.setOption(calendarOption());
  document.getElementById("calendar").setAttribute("aria-label", t("provider.calendarEmpty"));
  series = providerHistory(document.getElementById("series"), me.providerId);
  addEventListener("resize", () => calendar.resize());
  wireForms();
  options(document.getElementById("models"), (await client.GET("/api/v1/markets")).data.map(m => [m, m]));
  options(document.getElementById("site-province"), provinceNames.map(p => [p, label(p)]));
  await showProvider();
  live = await connectPush({
    pools: list => {
      list.forEach(p => pools.set(p.id, p));
      showPools();
      refreshReservationsSoon();
    },
    reservations: list => { list.forEach(r => reservations.set(r.id, r)); showReservations(); },
  });
  showPools();
  showReservations();
  await showApprovals();
}

async function showProvider() {
  const text = document.getElementById("provider");
  const form = document.getElementById("register-provider");
  try {
    const { data: provider } = await client.GET("/api/v1/providers/me");
    const r = provider.registration;
    creditCode = r.creditCode;
    text.textContent = t("provider.shown", {
      name: r.name, code: r.creditCode,
      sites: r.sites.map(s => t("provider.site", { name: s.name, city: s.city, province: label(s.province) })).join("; "),
    });
    options(document.getElementById("sites"), r.sites.map(s => [s.siteId, `${s.name} · ${label(s.province)}`]));
    form.hidden = true;
    await showReliability();
  } catch (e) {
    if (e.status !== 404) throw e;
    text.textContent = t("provider.notRegistered", { id: me.providerId });
    form.hidden = false;
  }
}

/** The provider's own reliability score, as buyers see it on quotes and fills, with the record it comes from. */
async function showReliability() {
  const { data: record } = await client.GET("/api/v1/providers/{id}/reliability", { params: { path: { id: me.providerId } } });
  const shown = document.getElementById("reliability");
  shown.textContent = t("provider.reliability", {
    score: reliability(record.scoreBasisPoints), days: record.windowDays, booked: record.bookedGpuHours, lost: record.lostGpuHours,
    minimum: record.minimumGpuHours,
  });
  shown.dataset.score = String(record.scoreBasisPoints ?? "");
  shown.hidden = false;
}

// "H800-80G=512, H20-96G=256" → { "H800-80G": 512, "H20-96G": 256 }: the pools listed at the site never add up to more.
function installedGpus(text) {
  return Object.fromEntries(text.split(",").map(part => part.split("=").map(s => s.trim()))
    .filter(([model]) => model).map(([model, count]) => [model, Number(count)]));
}

function wireForms() {
  onSubmit("register-provider", async v => {
    await client.POST("/api/v1/providers", { body: {
      name: v.name, creditCode: v.creditCode,
      sites: [{
        siteId: v.siteId, name: v.siteName, province: v.province, city: v.city,
        latitude: Number(v.latitude), longitude: Number(v.longitude), greenPowerPercent: Number(v.greenPowerPercent),
        installedGpus: installedGpus(v.installedGpus),
      }],
    } });
    await showProvider();
    await showApprovals();
  });

  onSubmit("list-pool", async v => {
    const { data: pool } = await client.POST("/api/v1/providers/{id}/pools", { params: { path: { id: me.providerId } },
      body: { siteId: v.siteId, gpuModel: v.gpuModel, gpuCount: Number(v.gpuCount), askFenPerGpuHour: Math.round(Number(v.ask) * 100) } });
    live?.offer("pools", pool);
  });

  onSubmit("outage", async v => {
    const from = new Date(Math.max(Date.now(), Date.parse(hourFromNow(Number(v.startIn))) - 3600_000));
    const to = new Date(from.getTime() + Number(v.hours) * 3600_000);
    const { data: report } = await client.POST("/api/v1/providers/{id}/pools/{poolId}/outages", { params: { path: { id: me.providerId, poolId: v.poolId } },
      body: { from: from.toISOString(), to: to.toISOString(), reason: v.reason } });
    const result = document.getElementById("outage-result");
    result.hidden = false;
    result.textContent = t("provider.outageResult", {
      id: report.outageId, interrupted: report.interruptedReservationIds.length, rematched: report.rematchedReservationIds.length,
    });
    await reloadPools();
  });

  document.getElementById("calendar-pool").addEventListener("change", showCalendar);
}

/** Reads the pools again (after a change the push may bring later): what the page shows is what the server holds. */
async function reloadPools() {
  const { data: list } = await client.GET("/api/v1/providers/{id}/pools", { params: { path: { id: me.providerId } } });
  list.forEach(p => live?.offer("pools", p));
}

/**
 * Saves a pool's ask and GPU count from the version the page showed when the edit began: a pool changed since (by
 * another tab, another operator or a booking) is refused by the server, and the page says so rather than overwriting
 * what it never showed.
 */
function changePool(poolId, version, ask, count) {
  attempt(async () => {
    try {
      const { data: view } = await client.PATCH("/api/v1/providers/{id}/pools/{poolId}", { params: { path: { id: me.providerId, poolId } },
        body: { askFenPerGpuHour: Math.round(Number(ask.value) * 100), gpuCount: Number(count.value) }, middleware: [ifMatch(version)] });
      edits.delete(poolId);
      live?.offer("pools", view);
    } catch (e) {
      if (e.status === 412) {
        edits.delete(poolId);
        await reloadPools();
        showPools(); // the pools read may be the ones already shown: the refused edit must go all the same
      }
      throw e;
    }
  });
}

function endOutage(outage) {
  attempt(async () => {
    await client.POST("/api/v1/providers/{id}/outages/{outageId}/end", { params: { path: { id: me.providerId, outageId: outage.outageId } } });
    await reloadPools();
  });
}

/**
 * What is being typed in the pools table, by pool id: the ask and GPU count typed and the pool's version when the edit
 * began. A push redraws the table; an edit in progress (and the field's focus) survives it and is saved from the version
 * it was typed over.
 */
const edits = new Map();

/** A pool that sells nothing new while the provider's company awaits verification: its reservations are kept. */
function suspended() {
  const b = badge("Suspended");
  b.title = t("provider.suspended");
  return b;
}

function showPools() {
  const list = [...pools.values()].sort((a, b) => a.id.localeCompare(b.id));
  const focused = document.activeElement?.closest?.("#pools tbody tr") ? document.activeElement : null;
  const refocus = focused && { pool: focused.closest("tr").dataset.pool, field: focused.className };
  fill(document.querySelector("#pools tbody"), list.map(p => {
    const edit = edits.get(p.id);
    const price = el("input", "price");
    price.type = "number";
    price.min = "0.01";
    price.step = "0.01";
    price.value = edit?.ask ?? (p.askFenPerGpuHour / 100).toFixed(2);
    price.setAttribute("aria-label", t("provider.askOf", { id: shortId(p.id) }));
    const count = el("input", "count");
    count.type = "number";
    count.min = "1";
    count.step = "1";
    count.value = edit?.count ?? String(p.gpuCount);
    count.setAttribute("aria-label", t("provider.countOf", { id: shortId(p.id) }));
    const version = edit?.version ?? p.version;
    for (const input of [price, count]) {
      input.addEventListener("input", () => edits.set(p.id, { ask: price.value, count: count.value, version }));
    }
    const save = el("button", "secondary", t("provider.save"));
    save.type = "button";
    save.setAttribute("aria-label", t("provider.saveAsk", { id: shortId(p.id) }));
    save.addEventListener("click", () => changePool(p.id, version, price, count));
    const name = p.suspendedBecause ? el("span", null, shortId(p.id), " ", suspended()) : shortId(p.id);
    // Beside GPUs and the price per GPU-hour, the same in compute, for a model with a published TFLOPS figure.
    const capacity = p.compute ? el("span", null, count, " ", el("small", "compute", t("provider.capacityPflops", { pflops: pflops(p.compute.capacityTflops) }))) : count;
    const ask = el("span", null, price, " ", save);
    if (p.compute) ask.append(" ", el("small", "compute", t("provider.perPflopsHour", { price: cny(p.compute.askFenPerPflopsHour) })));
    return row([
      name, `${p.site.name} · ${label(p.site.province)}`, p.gpuModel, capacity, ask,
      percent(p.utilizationBasisPoints), cny(p.earningsFen), p.activeReservations,
    ], { pool: p.id, version: String(p.version), active: String(p.activeReservations), ask: String(p.askFenPerGpuHour), earnings: String(p.earningsFen) });
  }), t("provider.noPools"));
  document.querySelectorAll("#pools tbody td:nth-child(4), #pools tbody td:nth-child(n+6)").forEach(td => td.classList.add("num"));
  if (refocus) {
    /** @type {HTMLElement | null} */ (document.querySelector(`#pools tbody tr[data-pool="${CSS.escape(refocus.pool)}"] .${CSS.escape(refocus.field)}`))?.focus();
  }

  const gpus = list.reduce((n, p) => n + p.gpuCount, 0);
  const booked = gpus ? list.reduce((n, p) => n + p.gpuCount * p.utilizationBasisPoints, 0) / gpus : 0;
  const settled = list.reduce((n, p) => n + p.earningsFen, 0);
  const locale = lang() === "zh" ? "zh-CN" : "en-US";
  document.getElementById("gpus").textContent = gpus.toLocaleString(locale);
  document.getElementById("utilization").textContent = percent(booked);
  document.getElementById("earnings-settled").textContent = cny(settled);
  document.getElementById("earnings-settled").dataset.fen = String(settled);
  document.getElementById("active").textContent = list.reduce((n, p) => n + p.activeReservations, 0).toLocaleString(locale);

  for (const id of ["calendar-pool", "outage-pool"]) {
    const select = /** @type {HTMLSelectElement} */ (document.getElementById(id));
    const chosen = select.value;
    options(select, list.map(p => [p.id, `${shortId(p.id)} · ${p.gpuModel}`]));
    if (pools.has(chosen)) select.value = chosen;
  }
  showCalendar();
  showOutages(list);
  series.push(list);
}

/** An outage is declared on one pool, or on every pool of a site under one id: listed once, with what it covers. */
function showOutages(list) {
  const byId = new Map();
  for (const pool of list) {
    for (const o of pool.outages) {
      const entry = byId.get(o.outageId) ?? { ...o, pools: [] };
      entry.pools.push(pool);
      byId.set(o.outageId, entry);
    }
  }
  const now = Date.now();
  const outages = [...byId.values()].sort((a, b) => Date.parse(b.from) - Date.parse(a.from));
  fill(document.querySelector("#outages tbody"), outages.map(o => {
    const state = Date.parse(o.to) <= now ? "ended" : Date.parse(o.from) > now ? "upcoming" : "ongoing";
    const covers = o.pools.length > 1
      ? t("provider.outageSite", { site: o.pools[0].site.name, pools: o.pools.length })
      : t("provider.outagePool", { pool: shortId(o.pools[0].id), model: o.pools[0].gpuModel });
    /** @type {string | HTMLButtonElement} */
    let action = "—";
    if (state !== "ended") {
      const button = /** @type {HTMLButtonElement} */ (el("button", "secondary", t(state === "upcoming" ? "provider.cancelOutage" : "provider.endOutage")));
      button.type = "button";
      button.addEventListener("click", () => endOutage(o));
      action = button;
    }
    return row([shortId(o.outageId), covers, when(o.from), when(o.to), t(`provider.outageState.${state}`), action],
      { outage: o.outageId, state });
  }), t("provider.noOutages"));
}

/** For each programme: whether its notices approve the provider's company (by credit code), from when, in which batch. */
async function showApprovals() {
  if (!creditCode) {
    fill(document.querySelector("#approvals tbody"), [], t("provider.approvalsUnregistered"));
    return;
  }
  const { data: programs } = await client.GET("/api/v1/programs");
  const views = await Promise.all(programs.map(async p => (await client.GET("/api/v1/programs/{id}", { params: { path: { id: p.id } } })).data));
  const now = Date.now();
  fill(document.querySelector("#approvals tbody"), views.map((view, i) => {
    // The notice in force is the last one for the company that has taken effect; a later one is shown as coming.
    const notices = view.providerNotices.filter(n => n.creditCode === creditCode)
      .sort((a, b) => Date.parse(a.effectiveFrom) - Date.parse(b.effectiveFrom));
    const inForce = notices.filter(n => Date.parse(n.effectiveFrom) <= now).at(-1);
    const next = notices.find(n => Date.parse(n.effectiveFrom) > now);
    const shown = inForce ?? next;
    const status = !shown ? "none" : inForce ? (inForce.approved ? "approved" : "removed") : (next.approved ? "pending" : "removed");
    return row([programs[i].name, t(`provider.approval.${status}`), shown ? when(shown.effectiveFrom) : "—", shown?.batchId ?? "—"],
      { program: view.id, status });
  }), t("provider.noPrograms"));
}

function calendarOption() {
  return {
    animation: chartAnimation,
    textStyle: { fontFamily: chartFont },
    tooltip: {
      renderMode: "richText",
      formatter: p => t("provider.calendarTip", { day: p.data.day, hour: String(p.data.value[0]).padStart(2, "0"), used: p.data.used, capacity: p.data.capacity }),
    },
    // Room above the first day's row and beside the day labels, so that no row or label is cut off.
    grid: { left: 100, right: 20, top: 34, bottom: 64 },
    xAxis: {
      type: "category", position: "top", name: t("provider.calendarHours"), nameLocation: "middle", nameGap: 22,
      data: [...Array(24).keys()].map(h => String(h).padStart(2, "0")), axisLabel: { interval: 0 }, splitArea: { show: true },
    },
    // Every day labelled (ECharts would otherwise skip labels that it thinks crowd each other).
    yAxis: { type: "category", data: [], inverse: true, axisLabel: { interval: 0 }, splitArea: { show: true } },
    visualMap: { min: 0, max: 100, orient: "horizontal", left: "center", bottom: 0, text: [t("provider.calendarFull"), "0%"], inRange: { color: ["#eef4fd", "#1f6feb", "#0b3a91"] } },
    series: [{ type: "heatmap", data: [], emphasis: { itemStyle: { borderColor: "#333", borderWidth: 1 } } }],
  };
}

/** The chosen pool's hours as a heat map: one row per Beijing day, one column per hour, coloured by the share booked. */
function showCalendar() {
  const pool = pools.get(/** @type {HTMLSelectElement} */ (document.getElementById("calendar-pool")).value);
  if (!calendar || !pool) return;
  const { startHour, capacity, used } = pool.calendar;
  const days = [];
  const cells = capacity.map((c, i) => {
    const [day, clock] = beijingTime(new Date((startHour + i) * 3600_000)).split(" ");
    if (days.at(-1) !== day) days.push(day);
    return { value: [Number(clock.slice(0, 2)), days.length - 1, c ? Math.round((100 * used[i]) / c) : 100], day, used: used[i], capacity: c };
  });
  const element = calendar.getDom();
  // One row of at least 22 px per Beijing day: the chart grows with the horizon rather than squeezing rows.
  const height = `${34 + 64 + days.length * 22}px`;
  if (element.style.height !== height) {
    element.style.height = height;
    calendar.resize();
  }
  calendar.setOption({ yAxis: { data: days }, series: [{ data: cells }] });
  element.dataset.days = days.join(",");
  element.dataset.pool = pool.id;
  element.dataset.bookedHours = String(used.filter(u => u > 0).length);
  element.setAttribute("aria-label", t("provider.calendarSummary", { pool: shortId(pool.id), hours: cells.length, booked: used.filter(u => u > 0).length }));
  probe.calendar = { pool: pool.id, hours: cells.length, bookedHours: used.filter(u => u > 0).length };
}

/** Reservations are not pushed to providers: a change to a pool is the cue to read them again (at most once a second). */
function refreshReservationsSoon() {
  if (reservationsDue) return;
  reservationsDue = setTimeout(async () => {
    reservationsDue = null;
    const list = await client.GET("/api/v1/providers/{id}/reservations", { params: { path: { id: me.providerId } } })
      .then(answer => answer.data, e => { showProblem(e.message); return []; });
    list.forEach(r => live?.offer("reservations", r));
  }, 1000);
}

function showReservations() {
  const list = [...reservations.values()].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  const booked = list.filter(r => bookedStates.has(r.state)).reduce((n, r) => n + r.plan.fenPerGpuHour * r.plan.gpus * r.plan.hours, 0);
  document.getElementById("earnings-booked").textContent = cny(booked);
  document.getElementById("earnings-booked").dataset.fen = String(booked);
  fill(document.querySelector("#reservations tbody"), list.map(r => row([
    shortId(r.plan.poolId), when(r.plan.startsAt), t("provider.gpuHours", { gpus: r.plan.gpus, hours: r.plan.hours }), cny(r.plan.fenPerGpuHour),
    cny(r.plan.fenPerGpuHour * r.plan.gpus * r.plan.hours), badge(r.state),
  ], { reservation: r.id, pool: r.plan.poolId, state: r.state })), t("provider.noReservations"));
}
