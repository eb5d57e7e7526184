// Charts over time that survive a reload: their past is read from the server's history (/api/v1/history/...,
// /api/v1/providers/{id}/history) for the range the reader picks, and live pushes are appended as they arrive.

import { client, showProblem } from "./session.js";
import { strings, t } from "./i18n.js";
import { el, chartFont } from "./format.js";
import { label } from "./provinces.js";

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
    "history.providerChart": "资源池预订率与收入随时间变化",
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
    "history.providerChart": "Pools booked and earnings over time",
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

/** Describes the chart's data in its text alternative, and marks what was loaded for tests and screen readers alike. */
function describe(chartElement, name, lines, range) {
  const count = lines.reduce((n, line) => n + line.data.length, 0);
  const latest = lines.flatMap(line => line.data.map(p => p[0])).sort().at(-1);
  chartElement.setAttribute("role", "img");
  chartElement.setAttribute("aria-label", count ? t("history.summary", { name, count, latest }) : t("history.empty", { name }));
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
 * The regulator's chart of GPUs booked per province over time. Returns { push(snapshot) } to append a live utilization
 * snapshot (its provinces' GPUs booked now of GPUs listed).
 */
export function regulatorHistory(chartElement) {
  const chart = echarts.init(chartElement);
  const name = t("history.regulatorChart");
  chart.setOption({
    textStyle: { fontFamily: chartFont },
    tooltip: { trigger: "axis", renderMode: "richText" },
    legend: { top: 0, type: "scroll" },
    grid: { left: 50, right: 16, top: 30, bottom: 28 },
    xAxis: { type: "time" },
    yAxis: { type: "value", min: 0, axisLabel: { formatter: "{value}%" } },
    series: [],
  });
  addEventListener("resize", () => chart.resize());
  let lines = new Map();
  let loading = Promise.resolve();
  const draw = () => {
    const list = [...lines.entries()].map(([key, data]) =>
      lineOption(key === "" ? t("history.all") : label(key), data, { lineStyle: { width: key === "" ? 3 : 1.5 } }));
    chart.setOption({ series: list }, { replaceMerge: ["series"] });
    return list;
  };
  rangeButtons(chartElement, range => {
    loading = (async () => {
      try {
        const { data: history } = await client.GET("/api/v1/history/utilization", { params: { query: { range } } });
        const byTime = new Map();
        const next = new Map([["", []]]);
        for (const p of history.points) {
          if (!next.has(p.key)) next.set(p.key, []);
          next.get(p.key).push([p.at, bookedPercent(p.bookedGpus, p.listedGpus)]);
          const sum = byTime.get(p.at) ?? { listed: 0, booked: 0 };
          sum.listed += p.listedGpus;
          sum.booked += p.bookedGpus;
          byTime.set(p.at, sum);
        }
        next.set("", [...byTime.entries()].map(([at, s]) => [at, bookedPercent(s.booked, s.listed)]));
        lines = next;
        describe(chartElement, name, draw(), range);
      } catch (e) {
        showProblem(t("history.failed", { message: e.message }));
      }
    })();
  });
  return {
    loaded: () => loading,
    push(snapshot) {
      const provinces = snapshot.provinces.filter(p => p.gpuCount > 0);
      const listed = provinces.reduce((n, p) => n + p.gpuCount, 0);
      const booked = provinces.reduce((n, p) => n + p.busyGpusNow, 0);
      append(lines.get("") ?? lines.set("", []).get(""), [snapshot.at, bookedPercent(booked, listed)]);
      for (const p of provinces) {
        append(lines.get(p.province) ?? lines.set(p.province, []).get(p.province), [snapshot.at, bookedPercent(p.busyGpusNow, p.gpuCount)]);
      }
      draw();
    },
  };
}

/**
 * The provider's chart of its pools booked (share of its GPUs) and its earnings per step over time. Returns
 * { push(pools) } to append the pools as pushed (their GPUs booked now are not pushed: the share is of the next 24 hours'
 * bookings there, as the pools table shows).
 */
export function providerHistory(chartElement, providerId) {
  const chart = echarts.init(chartElement);
  const name = t("history.providerChart");
  chart.setOption({
    textStyle: { fontFamily: chartFont },
    tooltip: { trigger: "axis", renderMode: "richText" },
    legend: { top: 0 },
    grid: { left: 50, right: 70, top: 30, bottom: 28 },
    xAxis: { type: "time" },
    yAxis: [
      { type: "value", min: 0, axisLabel: { formatter: "{value}%" } },
      { type: "value", min: 0, axisLabel: { formatter: v => `¥${v}` } },
    ],
    series: [lineOption(t("history.booked"), [], { step: "end" }), lineOption(t("history.earnings"), [], { step: "end", yAxisIndex: 1 })],
  });
  addEventListener("resize", () => chart.resize());
  let booked = [];
  let earnings = [];
  let loading = Promise.resolve();
  const draw = () => {
    const list = [lineOption(t("history.booked"), booked, { step: "end" }), lineOption(t("history.earnings"), earnings, { step: "end", yAxisIndex: 1 })];
    chart.setOption({ series: list });
    return list;
  };
  rangeButtons(chartElement, range => {
    loading = (async () => {
      try {
        const { data: history } = await client.GET("/api/v1/providers/{id}/history", { params: { path: { id: providerId }, query: { range } } });
        const use = new Map();
        for (const p of history.utilization) {
          const sum = use.get(p.at) ?? { listed: 0, booked: 0 };
          sum.listed += p.listedGpus;
          sum.booked += p.bookedGpus;
          use.set(p.at, sum);
        }
        const earned = new Map();
        for (const p of history.fills) earned.set(p.at, (earned.get(p.at) ?? 0) + p.voucherFen + p.cashFen);
        booked = [...use.entries()].map(([at, s]) => [at, bookedPercent(s.booked, s.listed)]);
        earnings = [...earned.entries()].map(([at, fen]) => [at, fen / 100]);
        describe(chartElement, name, draw(), range);
      } catch (e) {
        showProblem(t("history.failed", { message: e.message }));
      }
    })();
  });
  return {
    loaded: () => loading,
    push(pools) {
      if (!pools.length) return;
      const at = new Date().toISOString();
      const gpus = pools.reduce((n, p) => n + p.gpuCount, 0);
      const share = gpus ? pools.reduce((n, p) => n + p.gpuCount * p.utilizationBasisPoints, 0) / gpus : 0;
      append(booked, [at, +(share / 100).toFixed(2)]);
      draw();
    },
  };
}
