// The provider console: pools with their prices, the capacity calendar as a heat map, outages, live utilization and earnings.

import { requireRole, api, attempt, onSubmit, showProblem } from "./session.js";
import { connectPush, probe } from "./push.js";
import { cny, percent, when, beijingTime, beijingAxis, beijingTooltip, shortId, el, row, fill, badge, options, hourFromNow, chartFont } from "./format.js";
import { provinceNames, label } from "./provinces.js";
import { t, lang, translate, languageSwitch } from "./i18n.js";
import "./strings/provider.js";
import { providerHistory } from "./history.js";

const pools = new Map();
const reservations = new Map();
let live = null;
let calendar = null;
let series = null;
let reservationsDue = null;

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
  options(document.getElementById("models"), (await api("GET", "/markets")).map(m => [m, m]));
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
}

async function showProvider() {
  const text = document.getElementById("provider");
  const form = document.getElementById("register-provider");
  try {
    const provider = await api("GET", "/providers/me");
    const r = provider.registration;
    text.textContent = t("provider.shown", {
      name: r.name, code: r.creditCode,
      sites: r.sites.map(s => t("provider.site", { name: s.name, city: s.city, province: label(s.province) })).join("; "),
    });
    options(document.getElementById("sites"), r.sites.map(s => [s.siteId, `${s.name} · ${label(s.province)}`]));
    form.hidden = true;
  } catch (e) {
    if (e.status !== 404) throw e;
    text.textContent = t("provider.notRegistered", { id: me.providerId });
    form.hidden = false;
  }
}

// "H800-80G=512, H20-96G=256" → { "H800-80G": 512, "H20-96G": 256 }: the pools listed at the site never add up to more.
function installedGpus(text) {
  return Object.fromEntries(text.split(",").map(part => part.split("=").map(s => s.trim()))
    .filter(([model]) => model).map(([model, count]) => [model, Number(count)]));
}

function wireForms() {
  onSubmit("register-provider", async v => {
    await api("POST", "/providers", {
      name: v.name, creditCode: v.creditCode,
      sites: [{
        siteId: v.siteId, name: v.siteName, province: v.province, city: v.city,
        latitude: Number(v.latitude), longitude: Number(v.longitude), greenPowerPercent: Number(v.greenPowerPercent),
        installedGpus: installedGpus(v.installedGpus),
      }],
    });
    await showProvider();
  });

  onSubmit("list-pool", async v => {
    const pool = await api("POST", `/providers/${encodeURIComponent(me.providerId)}/pools`,
      { siteId: v.siteId, gpuModel: v.gpuModel, gpuCount: Number(v.gpuCount), askFenPerGpuHour: Math.round(Number(v.ask) * 100) });
    live?.offer("pools", pool);
  });

  onSubmit("outage", async v => {
    const from = new Date(Math.max(Date.now(), Date.parse(hourFromNow(Number(v.startIn))) - 3600_000));
    const to = new Date(from.getTime() + Number(v.hours) * 3600_000);
    const report = await api("POST", `/providers/${encodeURIComponent(me.providerId)}/pools/${encodeURIComponent(v.poolId)}/outages`,
      { from: from.toISOString(), to: to.toISOString(), reason: v.reason });
    const result = document.getElementById("outage-result");
    result.hidden = false;
    result.textContent = t("provider.outageResult", {
      id: report.outageId, interrupted: report.interruptedReservationIds.length, rematched: report.rematchedReservationIds.length,
    });
  });

  document.getElementById("calendar-pool").addEventListener("change", showCalendar);
}

function changePrice(pool, input) {
  attempt(async () => {
    const view = await api("PATCH", `/providers/${encodeURIComponent(me.providerId)}/pools/${encodeURIComponent(pool.id)}`,
      { askFenPerGpuHour: Math.round(Number(input.value) * 100) });
    live?.offer("pools", view);
  });
}

function showPools() {
  const list = [...pools.values()].sort((a, b) => a.id.localeCompare(b.id));
  fill(document.querySelector("#pools tbody"), list.map(p => {
    const price = el("input", "price");
    price.type = "number";
    price.min = "0.01";
    price.step = "0.01";
    price.value = (p.askFenPerGpuHour / 100).toFixed(2);
    price.setAttribute("aria-label", t("provider.askOf", { id: shortId(p.id) }));
    const save = el("button", "secondary", t("provider.save"));
    save.type = "button";
    save.setAttribute("aria-label", t("provider.saveAsk", { id: shortId(p.id) }));
    save.addEventListener("click", () => changePrice(p, price));
    return row([
      shortId(p.id), `${p.site.name} · ${label(p.site.province)}`, p.gpuModel, p.gpuCount, el("span", null, price, " ", save),
      percent(p.utilizationBasisPoints), cny(p.earningsFen), p.activeReservations,
    ], { pool: p.id, active: String(p.activeReservations), ask: String(p.askFenPerGpuHour), earnings: String(p.earningsFen) });
  }), t("provider.noPools"));
  document.querySelectorAll("#pools tbody td:nth-child(4), #pools tbody td:nth-child(n+6)").forEach(td => td.classList.add("num"));

  const gpus = list.reduce((n, p) => n + p.gpuCount, 0);
  const booked = gpus ? list.reduce((n, p) => n + p.gpuCount * p.utilizationBasisPoints, 0) / gpus : 0;
  const earnings = list.reduce((n, p) => n + p.earningsFen, 0);
  const locale = lang() === "zh" ? "zh-CN" : "en-US";
  document.getElementById("gpus").textContent = gpus.toLocaleString(locale);
  document.getElementById("utilization").textContent = percent(booked);
  document.getElementById("earnings").textContent = cny(earnings);
  document.getElementById("active").textContent = list.reduce((n, p) => n + p.activeReservations, 0).toLocaleString(locale);

  for (const id of ["calendar-pool", "outage-pool"]) {
    const select = document.getElementById(id);
    const chosen = select.value;
    options(select, list.map(p => [p.id, `${shortId(p.id)} · ${p.gpuModel}`]));
    if (pools.has(chosen)) select.value = chosen;
  }
  showCalendar();
  series.push(list);
}

function calendarOption() {
  return {
    textStyle: { fontFamily: chartFont },
    tooltip: {
      renderMode: "richText",
      formatter: p => t("provider.calendarTip", { day: p.data.day, hour: String(p.data.value[0]).padStart(2, "0"), used: p.data.used, capacity: p.data.capacity }),
    },
    grid: { left: 90, right: 20, top: 10, bottom: 60 },
    xAxis: { type: "category", data: [...Array(24).keys()].map(h => `${String(h).padStart(2, "0")}h`), splitArea: { show: true } },
    yAxis: { type: "category", data: [], inverse: true, splitArea: { show: true } },
    visualMap: { min: 0, max: 100, orient: "horizontal", left: "center", bottom: 0, text: [t("provider.calendarFull"), "0%"], inRange: { color: ["#eef4fd", "#1f6feb", "#0b3a91"] } },
    series: [{ type: "heatmap", data: [], emphasis: { itemStyle: { borderColor: "#333", borderWidth: 1 } } }],
  };
}

/** The chosen pool's hours as a heat map: one row per Beijing day, one column per hour, coloured by the share booked. */
function showCalendar() {
  const pool = pools.get(document.getElementById("calendar-pool").value);
  if (!calendar || !pool) return;
  const { startHour, capacity, used } = pool.calendar;
  const days = [];
  const cells = capacity.map((c, i) => {
    const [day, clock] = beijingTime(new Date((startHour + i) * 3600_000)).split(" ");
    if (days.at(-1) !== day) days.push(day);
    return { value: [Number(clock.slice(0, 2)), days.length - 1, c ? Math.round((100 * used[i]) / c) : 100], day, used: used[i], capacity: c };
  });
  calendar.setOption({ yAxis: { data: days }, series: [{ data: cells }] });
  const element = calendar.getDom();
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
    const list = await api("GET", `/providers/${encodeURIComponent(me.providerId)}/reservations`).catch(e => { showProblem(e.message); return []; });
    list.forEach(r => live?.offer("reservations", r));
  }, 1000);
}

function showReservations() {
  const list = [...reservations.values()].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  fill(document.querySelector("#reservations tbody"), list.map(r => row([
    shortId(r.plan.poolId), when(r.plan.startsAt), t("provider.gpuHours", { gpus: r.plan.gpus, hours: r.plan.hours }), cny(r.plan.fenPerGpuHour),
    cny(r.plan.fenPerGpuHour * r.plan.gpus * r.plan.hours), badge(r.state),
  ], { reservation: r.id, pool: r.plan.poolId, state: r.state })), t("provider.noReservations"));
}
