// Charts over time that survive a reload: their past is read from the server's history (/api/v1/history/...,
// /api/v1/providers/{id}/history) for the range the reader picks, and live pushes are appended as they arrive. Each
// chart has a table view of what it shows, as its text alternative.

import { client, showProblem } from "./session.js";
import { strings, t } from "./i18n.js";
import { el, chartFont, chartAnimation, beijingAxis, beijingTooltip, beijingTime, yuanAxisLabel, cny } from "./format.js";
import { label } from "./provinces.js";
import { unit } from "./units.js";

strings({
  zh: {
    "history.range.hour": "近1小时",
    "history.range.day": "近1天",
    "history.range.week": "近1周",
    "history.ranges": "时间范围",
    "history.all": "全部省份",
    "history.booked": "已预订（当前）",
    "history.earnings": "收入",
    "history.summary": "{name}：{count} 个历史数据点，最新 {latest}",
    "history.empty": "{name}：暂无历史数据",
    "history.failed": "无法加载历史数据：{message}",
    "history.regulatorChart": "各省已预订 GPU 占比随时间变化",
    "history.regulatorComputeChart": "各省已预订算力（PFLOPS）占比随时间变化",
    "history.computeNote": "按算力（PFLOPS）计；未公布算力的型号不计入",
    "history.providerChart": "资源池预订率与收入随时间变化",
    "history.takeUpChart": "算力券发放与使用随时间变化",
    "history.table": "以表格查看",
    "history.time": "时间（北京时间）",
    "history.issued": "已发放",
    "history.held": "冻结中",
    "history.spent": "已使用",
    "history.returned": "已退回",
    "history.lapsed": "其中逾期失效",
    "history.scope": "范围",
    "history.allProgrammes": "全部项目",
    "history.programme": "项目：{name}",
    "history.city": "地区：{name}",
  },
  en: {
    "history.range.hour": "Last hour",
    "history.range.day": "Last day",
    "history.range.week": "Last week",
    "history.ranges": "Time range",
    "history.all": "All provinces",
    "history.booked": "Booked now",
    "history.earnings": "Earnings",
    "history.summary": "{name}: {count} points of history, latest {latest}",
    "history.empty": "{name}: no history yet",
    "history.failed": "The history could not be loaded: {message}",
    "history.regulatorChart": "Share of GPUs booked per province over time",
    "history.regulatorComputeChart": "Share of compute (PFLOPS) booked per province over time",
    "history.computeNote": "In PFLOPS; models without a published figure are not counted",
    "history.providerChart": "Pools booked and earnings over time",
    "history.takeUpChart": "Vouchers issued and spent over time",
    "history.table": "Show as a table",
    "history.time": "Time (Beijing)",
    "history.issued": "Issued",
    "history.held": "Held",
    "history.spent": "Spent",
    "history.returned": "Returned",
    "history.lapsed": "of which lapsed",
    "history.scope": "Scope",
    "history.allProgrammes": "All programmes",
    "history.programme": "Programme: {name}",
    "history.city": "Region: {name}",
  },
});

/** The ranges the server keeps history for, shortest first (the first is shown on load). */
export const ranges = ["hour", "day", "week"];

/** Points kept per line: a week of hours or a day of five-minute steps, plus a few hours of live pushes. */
const pointsKept = 2000;

/** Booked share in per cent of GPUs listed, two decimals. */
export const bookedPercent = (booked, listed) => (listed > 0 ? +((100 * booked) / listed).toFixed(2) : 0);

/**
 * Range buttons (近1小时 / 近1天 / 近1周) put before a chart's element; `choose(range)` is called on a click and once for
 * the first range. The chosen button is marked aria-pressed.
 */
function rangeButtons(chartElement, choose) {
  const bar = el("div", "history-ranges");
  bar.setAttribute("role", "group");
  bar.setAttribute("aria-label", t("history.ranges"));
  const buttons = ranges.map(range => {
    const button = el("button", "secondary", t(`history.range.${range}`));
    button.type = "button";
    button.dataset.range = range;
    button.addEventListener("click", () => select(range));
    return button;
  });
  bar.append(...buttons);
  chartElement.before(bar);
  function select(range) {
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.range === range));
    choose(range);
  }
  select(ranges[0]);
}

/** Rows a chart's table view shows: the latest ones. */
const tableRows = 200;

/**
 * The chart's table view (its text alternative): a collapsed table after the chart with a row per time and a column per
 * line, the latest first. Returns a function that gives it the lines drawn; it builds its rows only while it is open
 * (a push redraws the chart every few seconds, and nobody reads a closed table).
 */
function tableView(chartElement) {
  const details = el("details", "history-table");
  const table = el("table");
  const scroll = el("div", "scroll", table);
  scroll.tabIndex = 0;
  scroll.setAttribute("role", "region");
  scroll.setAttribute("aria-label", t("history.table"));
  details.append(el("summary", null, t("history.table")), scroll);
  chartElement.after(details);
  let shown = null;
  const build = () => {
    if (!details.open || !shown) return;
    const [lines, format] = shown;
    const times = [...new Set(lines.flatMap(line => line.data.map(p => p[0])))].sort().reverse().slice(0, tableRows);
    const values = lines.map(line => new Map(line.data));
    const head = el("tr", null, el("th", null, t("history.time")), ...lines.map(line => el("th", "num", line.name)));
    const rows = times.map(at => el("tr", null, el("td", null, beijingTime(at)),
      ...values.map((byTime, i) => el("td", "num", byTime.has(at) ? format(byTime.get(at), i) : "—"))));
    table.replaceChildren(el("thead", null, head), el("tbody", null, ...rows));
  };
  details.addEventListener("toggle", build);
  return (lines, format) => {
    shown = [lines, format];
    build();
  };
}

/** How many points the lines hold, and the latest time among them. */
function measure(lines) {
  const count = lines.reduce((n, line) => n + line.data.length, 0);
  const latest = lines.flatMap(line => line.data.map(p => p[0])).sort().at(-1);
  return { count, latest };
}

/**
 * Describes what the chart draws in its text alternative, after every redraw (a push adds points to a chart whose load
 * was empty), and marks the points drawn (data-history-drawn).
 */
function describe(chartElement, name, lines) {
  const { count, latest } = measure(lines);
  chartElement.setAttribute("role", "img");
  chartElement.setAttribute("aria-label", count ? t("history.summary", { name, count, latest }) : t("history.empty", { name }));
  chartElement.dataset.historyDrawn = String(count);
}

/**
 * Marks what a range's load brought (data-history-range, -points, -latest): what a reload of the same range shows again,
 * which the live pushes since do not change.
 */
function markLoaded(chartElement, lines, range) {
  const { count, latest } = measure(lines);
  chartElement.dataset.historyRange = range;
  chartElement.dataset.historyPoints = String(count);
  chartElement.dataset.historyLatest = latest ?? "";
}

function lineOption(name, data, extra = {}) {
  return { name, type: "line", showSymbol: false, data, ...extra };
}

function append(line, point) {
  line.push(point);
  if (line.length > pointsKept) line.shift();
}

/**
 * A chart over time in Beijing time with range buttons and a table view. `load(range)` reads the range from the server
 * and keeps it; `lines()` gives the lines to draw from what was loaded and pushed since; `format(value, line)` writes a
 * value in the table. Returns { redraw(), loaded() }: redraw after a push, loaded() is the load in flight.
 */
function historyChart(chartElement, name, option, { load, lines, format, decorate = () => ({}) }) {
  const chart = echarts.init(chartElement);
  const table = tableView(chartElement);
  let range = ranges[0];
  const axis = () => beijingAxis(range !== "hour");
  chart.setOption({
    animation: chartAnimation,
    textStyle: { fontFamily: chartFont },
    tooltip: { trigger: "axis", renderMode: "richText", formatter: beijingTooltip },
    legend: { top: 0, type: "scroll" },
    xAxis: axis(),
    series: [],
    ...option,
  });
  addEventListener("resize", () => chart.resize());
  const title = () => (typeof name === "function" ? name() : name);
  const redraw = () => {
    const list = lines();
    chart.setOption({ xAxis: axis(), series: list, ...decorate() }, { replaceMerge: ["series"] });
    table(list, format);
    describe(chartElement, title(), list);
    return list;
  };
  let loading = Promise.resolve();
  rangeButtons(chartElement, chosen => {
    range = chosen;
    loading = (async () => {
      try {
        await load(chosen);
        markLoaded(chartElement, redraw(), chosen);
      } catch (e) {
        showProblem(t("history.failed", { message: e.message }));
      }
    })();
  });
  return { redraw, loaded: () => loading };
}

/** Adds up a value per time: [[at, value], ...] in time order. */
function sumByTime(points, at, value) {
  const sums = new Map();
  for (const p of points) sums.set(at(p), (sums.get(at(p)) ?? 0) + value(p));
  return [...sums.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The share booked per time, over points that each give GPUs (or, with `of` "Tflops", compute) listed and booked:
 * [[at, percent], ...] in time order.
 */
function bookedByTime(points, of = "Gpus") {
  const listed = new Map(sumByTime(points, p => p.at, p => p[`listed${of}`]));
  return sumByTime(points, p => p.at, p => p[`booked${of}`]).map(([at, booked]) => [at, bookedPercent(booked, listed.get(at))]);
}

const percentCell = value => `${value}%`;

/**
 * The regulator's chart of the share booked per province over time, in the unit chosen (units.js): GPUs, or compute
 * (PFLOPS) of the models with a published figure. Both are kept, so a switch redraws without a reload. Returns
 * { push(snapshot), redraw() }: push appends a live utilization snapshot (its provinces' GPUs or TFLOPS busy now of
 * those listed), redraw follows a change of unit.
 */
export function regulatorHistory(chartElement) {
  /** Lines by unit, each by province ("" for all provinces): [[at, percent], ...]. */
  let lines = { gpus: new Map(), pflops: new Map() };
  const byUnit = [
    { unit: "gpus", of: "Gpus", listed: p => p.gpuCount, busy: p => p.busyGpusNow },
    { unit: "pflops", of: "Tflops", listed: p => p.capacityTflops ?? 0, busy: p => p.busyTflopsNow ?? 0 },
  ];
  const name = () => t(unit() === "pflops" ? "history.regulatorComputeChart" : "history.regulatorChart");
  const view = historyChart(chartElement, name, {
    grid: { left: 50, right: 16, top: 30, bottom: 40 },
    yAxis: { type: "value", min: 0, axisLabel: { formatter: "{value}%" } },
  }, {
    async load(range) {
      const { data: history } = await client.GET("/api/v1/history/utilization", { params: { query: { range } } });
      const next = { gpus: new Map(), pflops: new Map() };
      for (const { unit: u, of } of byUnit) {
        next[u].set("", bookedByTime(history.points, of));
        for (const p of history.points) {
          if (of === "Tflops" && !(p.listedTflops > 0)) continue; // a province of models without a figure has no line in PFLOPS
          if (!next[u].has(p.key)) next[u].set(p.key, []);
          next[u].get(p.key).push([p.at, bookedPercent(p[`booked${of}`], p[`listed${of}`])]);
        }
      }
      lines = next;
    },
    lines: () => [...lines[unit()].entries()].map(([key, data]) =>
      lineOption(key === "" ? t("history.all") : label(key), data, { lineStyle: { width: key === "" ? 3 : 1.5 } })),
    format: percentCell,
    decorate: () => {
      chartElement.dataset.unit = unit();
      return { title: { text: unit() === "pflops" ? t("history.computeNote") : "", left: 10, bottom: 0, textStyle: { fontSize: 11, fontWeight: "normal" } } };
    },
  });
  return {
    loaded: view.loaded,
    push(snapshot) {
      for (const { unit: u, listed: listedOf, busy: busyOf } of byUnit) {
        const provinces = snapshot.provinces.filter(p => listedOf(p) > 0);
        const listed = provinces.reduce((n, p) => n + listedOf(p), 0);
        const booked = provinces.reduce((n, p) => n + busyOf(p), 0);
        const of = lines[u];
        append(of.get("") ?? of.set("", []).get(""), [snapshot.at, bookedPercent(booked, listed)]);
        for (const p of provinces) {
          append(of.get(p.province) ?? of.set(p.province, []).get(p.province), [snapshot.at, bookedPercent(busyOf(p), listedOf(p))]);
        }
      }
      view.redraw();
    },
    redraw() {
      markLoaded(chartElement, view.redraw(), chartElement.dataset.historyRange ?? ranges[0]);
    },
  };
}

/**
 * The provider's chart of its pools booked (share of its GPUs) and its earnings per step over time. Returns
 * { push(pools) } to append the pools as pushed (their GPUs booked now are not pushed: the share is of the next 24 hours'
 * bookings there, as the pools table shows).
 */
export function providerHistory(chartElement, providerId) {
  let booked = [];
  let earnings = [];
  const view = historyChart(chartElement, t("history.providerChart"), {
    grid: { left: 50, right: 80, top: 30, bottom: 28 },
    yAxis: [
      { type: "value", min: 0, axisLabel: { formatter: "{value}%" } },
      { type: "value", min: 0, axisLabel: { formatter: yuanAxisLabel } },
    ],
  }, {
    async load(range) {
      const { data: history } = await client.GET("/api/v1/providers/{id}/history", { params: { path: { id: providerId }, query: { range } } });
      booked = bookedByTime(history.utilization);
      earnings = sumByTime(history.fills, p => p.at, p => p.voucherFen + p.cashFen).map(([at, fen]) => [at, fen / 100]);
    },
    lines: () => [lineOption(t("history.booked"), booked, { step: "end" }), lineOption(t("history.earnings"), earnings, { step: "end", yAxisIndex: 1 })],
    format: (value, line) => (line === 0 ? percentCell(value) : cny(Math.round(value * 100))),
  });
  return {
    loaded: view.loaded,
    push(pools) {
      if (!pools.length) return;
      const at = new Date().toISOString();
      const gpus = pools.reduce((n, p) => n + p.gpuCount, 0);
      const share = gpus ? pools.reduce((n, p) => n + p.gpuCount * p.utilizationBasisPoints, 0) / gpus : 0;
      append(booked, [at, +(share / 100).toFixed(2)]);
      view.redraw();
    },
  };
}

/** The money of a programme over time, as /history/takeup gives it. */
const takeUpAmounts = ["issued", "held", "spent", "returned", "lapsed"];

/**
 * The programme office's chart of vouchers issued, held, spent, returned and lapsed over time, for every programme
 * together, one programme, or one region (the programmes of a province or municipality added up). `scope` is the
 * select that chooses; `names` gives a programme's name by id. Returns { loaded() }.
 */
export function takeUpHistory(chartElement, scope, names) {
  let points = [];
  const view = historyChart(chartElement, t("history.takeUpChart"), {
    grid: { left: 90, right: 16, top: 30, bottom: 28 },
    yAxis: { type: "value", min: 0, axisLabel: { formatter: yuanAxisLabel } },
  }, {
    async load(range) {
      points = (await client.GET("/api/v1/history/takeup", { params: { query: { range } } })).data.points;
      chooseFrom(points);
    },
    lines: () => {
      const [kind, key] = scope.value.split(":");
      const chosen = points.filter(p => (kind === "p" ? p.programId === key : kind === "c" ? p.city === key : true));
      return takeUpAmounts.map(amount => lineOption(t(`history.${amount}`),
        sumByTime(chosen, p => p.at, p => p[`${amount}Fen`]).map(([at, fen]) => [at, fen / 100])));
    },
    format: yuan => cny(Math.round(yuan * 100)),
  });
  scope.addEventListener("change", () => view.redraw());

  /** The scopes to choose from: all, each programme in the history, each region; the choice is kept when it still exists. */
  function chooseFrom(history) {
    const kept = scope.value;
    const programmes = [...new Set(history.map(p => p.programId))].sort();
    const cities = [...new Set(history.map(p => p.city))].sort();
    scope.replaceChildren(new Option(t("history.allProgrammes"), ""),
      ...programmes.map(id => new Option(t("history.programme", { name: names(id) ?? id }), `p:${id}`)),
      ...cities.map(city => new Option(t("history.city", { name: label(city) }), `c:${city}`)));
    scope.value = [...scope.options].some(o => o.value === kept) ? kept : "";
  }
  return { loaded: view.loaded };
}
