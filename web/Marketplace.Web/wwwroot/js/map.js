// The regulator's map of China: provinces coloured by their share booked relative to the busiest province (real
// bookings are a few per cent, so a 0–100 % scale paints every province alike), sites as small translucent bubbles that
// leave the province names readable, and a panel beside the map with a clicked province's sites, pools and thin spots.

import { client, showProblem } from "./session.js";
import { strings, t } from "./i18n.js";
import { el, cny, percent, chartFont, chartAnimation } from "./format.js";
import { mapNames, label } from "./provinces.js";

strings({
  zh: {
    "map.relative": "相对于最繁忙省份",
    "map.computeNote": "相对于最繁忙省份，按算力（PFLOPS）计；未公布算力的型号不计入",
    "map.busiest": "最繁忙省份 {share}",
    "map.zero": "0%",
    "map.province": "省份",
    "map.site": "站点",
    "map.siteTooltip": "{name}\n{gpus} 块 GPU · 已预订 {share}",
    "map.panelTitle": "{province}",
    "map.panelHint": "点击地图上的省份，查看其站点、资源池和紧缺情况。",
    "map.sites": "站点",
    "map.pools": "资源池",
    "map.thin": "紧缺情况",
    "map.noSites": "该省暂无站点。",
    "map.noPools": "该省暂无资源池。",
    "map.siteLine": "{name}（{city}）：{gpus} 块 GPU，已预订 {share}",
    "map.poolLine": "{model}：{gpus} 块 GPU，报价 {ask}/GPU·小时，可预订空闲 {free} GPU·小时，已预订 {share}",
    "map.thinLine": "{bids} 个出价等待成交，共需 {gpus} 块 GPU",
    "map.notThin": "没有等待成交的出价。",
    "map.fewFree": "{model} 资源池 {pool} 已预订 {share}，所剩无几",
  },
  en: {
    "map.relative": "relative to the busiest province",
    "map.computeNote": "relative to the busiest province, in PFLOPS; models without a published figure are not counted",
    "map.busiest": "busiest province {share}",
    "map.zero": "0%",
    "map.province": "Province",
    "map.site": "Site",
    "map.siteTooltip": "{name}\n{gpus} GPUs · {share} booked",
    "map.panelTitle": "{province}",
    "map.panelHint": "Click a province on the map to see its sites, pools and where capacity is thin.",
    "map.sites": "Sites",
    "map.pools": "Pools",
    "map.thin": "Thin capacity",
    "map.noSites": "No sites in this province yet.",
    "map.noPools": "No pools in this province yet.",
    "map.siteLine": "{name} ({city}): {gpus} GPUs, {share} booked",
    "map.poolLine": "{model}: {gpus} GPUs at {ask}/GPU-h, {free} GPU-h free to book, {share} booked",
    "map.thinLine": "{bids} bids waiting unfilled for {gpus} GPUs",
    "map.notThin": "No bids are waiting unfilled.",
    "map.fewFree": "{model} pool {pool} is {share} booked: little is left",
  },
});

/** The colours from idle to the busiest province. */
export const palette = ["#e3eefc", "#7fb1f0", "#1f6feb", "#0b3a91"];

/** The top of the scale when nothing is booked anywhere, so that an idle map is idle-coloured rather than undefined. */
const emptyScaleTop = 1;

/** A pool booked to at least this share (basis points) is listed as thin. */
const thinBookedBasisPoints = 9_000;

/** The top of the colour scale: the busiest province's booked share (per cent). */
export function scaleTop(shares) {
  const busiest = Math.max(0, ...shares);
  return busiest > 0 ? busiest : emptyScaleTop;
}

/** The colour of a province at `share` per cent booked on a scale from 0 to `top` per cent (linear through the palette). */
export function provinceColour(share, top) {
  const position = Math.min(1, Math.max(0, share / top)) * (palette.length - 1);
  const low = Math.floor(position);
  const high = Math.min(palette.length - 1, low + 1);
  const mix = position - low;
  const channel = (colour, i) => parseInt(colour.slice(1 + 2 * i, 3 + 2 * i), 16);
  return "#" + [0, 1, 2].map(i => Math.round(channel(palette[low], i) * (1 - mix) + channel(palette[high], i) * mix)
    .toString(16).padStart(2, "0")).join("");
}

/** The map's option before any data: the legend says the scale is relative to the busiest province. */
export function mapOption() {
  return {
    animation: chartAnimation,
    textStyle: { fontFamily: chartFont },
    tooltip: { trigger: "item", renderMode: "richText" },
    visualMap: {
      type: "continuous", min: 0, max: emptyScaleTop, seriesIndex: 0, left: 10, bottom: 10, calculable: false,
      text: [t("map.busiest", { share: `${emptyScaleTop}%` }), t("map.zero")], inRange: { color: palette },
    },
    title: { text: t("map.relative"), left: 10, bottom: 0, textStyle: { fontSize: 11, fontWeight: "normal", color: "#3b4457" } },
    geo: {
      map: "china", roam: true, zoom: 1.15, top: 30,
      label: { show: true, fontSize: 10, color: "#1d2433", fontFamily: chartFont, textBorderColor: "#fff", textBorderWidth: 2 },
      itemStyle: { areaColor: "#f1f3f7", borderColor: "#9aa6bd" },
      emphasis: { itemStyle: { areaColor: "#ffd27a" } },
    },
    series: [
      { name: t("map.province"), type: "map", geoIndex: 0, data: [] },
      {
        name: t("map.site"), type: "scatter", coordinateSystem: "geo", data: [], z: 1,
        // Small and translucent: a province's name stays legible under its sites.
        symbolSize: value => Math.min(16, 4 + Math.sqrt(value[2]) * 0.6),
        itemStyle: { color: "#e4572e", borderColor: "#fff", borderWidth: 0.5, opacity: 0.45 },
        tooltip: { formatter: p => t("map.siteTooltip", { name: p.data.name, gpus: p.data.value[2], share: `${p.data.value[3].toFixed(1)}%` }) },
      },
    ],
  };
}

/**
 * Draws a utilization snapshot: provinces coloured on the scale of the busiest, sites as bubbles. By compute, a
 * province's share booked is of its TFLOPS-hours, and only models with a published figure count. Returns the scale's top
 * and the provinces drawn (for the page's probe).
 */
export function showMap(chart, snapshot, byCompute = false) {
  const provinces = snapshot.provinces.filter(p => (byCompute ? (p.capacityTflops ?? 0) : p.gpuCount) > 0 && mapNames[p.province])
    .map(p => ({
      name: mapNames[p.province], province: p.province, capacityTflops: p.capacityTflops ?? 0, gpus: p.gpuCount,
      value: (byCompute ? p.computeUtilizationBasisPoints ?? 0 : p.utilizationBasisPoints) / 100,
    }));
  const top = scaleTop(provinces.map(p => p.value));
  const sites = snapshot.sites.map(s => ({
    name: `${s.name} (${s.city}, ${label(s.province)})`, siteId: s.siteId, province: s.province,
    value: [s.longitude, s.latitude, s.gpuCount, s.utilizationBasisPoints / 100],
  }));
  // Provinces without GPUs get an empty item too, so that a click on them reaches the panel.
  const listed = new Set(provinces.map(p => p.province));
  const empty = Object.keys(mapNames).filter(p => !listed.has(p)).map(p => ({ name: mapNames[p], value: NaN, province: p }));
  chart.setOption({
    title: { text: t(byCompute ? "map.computeNote" : "map.relative") },
    visualMap: { max: top, text: [t("map.busiest", { share: `${top.toFixed(1)}%` }), t("map.zero")] },
    series: [{ data: [...provinces, ...empty] }, { data: sites }],
  });
  return { top, provinces, sites };
}

/**
 * A panel beside the map: a click on a province lists its sites (from the latest snapshot), its pools (from the
 * markets' books) and what is thin there (bids waiting unfilled, pools nearly full). Returns { update(snapshot) }.
 */
export function provincePanel(chart) {
  const panel = el("aside", "province-panel");
  panel.id = "province-panel";
  panel.setAttribute("aria-live", "polite");
  panel.append(el("p", "hint", t("map.panelHint")));
  // The map and the panel side by side.
  const mapElement = chart.getDom();
  const beside = el("div", "map-beside");
  mapElement.before(beside);
  beside.append(mapElement, panel);
  chart.resize();
  let latest = null;
  let chosen = null;
  // A click on a province or on one of its sites.
  chart.on("click", params => {
    const province = params.data?.province ?? Object.keys(mapNames).find(p => mapNames[p] === params.name);
    if (!province) return;
    chosen = province;
    show().catch(e => showProblem(e.message));
  });

  async function show() {
    if (!chosen || !latest) return;
    const province = chosen;
    const sites = latest.sites.filter(s => s.province === province);
    const usage = latest.provinces.find(p => p.province === province);
    const { data: models } = await client.GET("/api/v1/markets");
    const books = await Promise.all(models.map(async gpuModel => (await client.GET("/api/v1/markets/{gpuModel}/book", { params: { path: { gpuModel } } })).data));
    const pools = books.flatMap(b => b.asks.filter(a => a.province === province).map(a => ({ ...a, gpuModel: b.gpuModel })));
    if (chosen !== province) return;
    const list = (items, empty) => (items.length ? el("ul", null, ...items.map(text => el("li", null, text))) : el("p", "empty", empty));
    const thin = [
      ...(usage?.restingBids ? [t("map.thinLine", { bids: usage.restingBids, gpus: usage.restingGpus })] : []),
      ...pools.filter(p => p.utilizationBasisPoints >= thinBookedBasisPoints)
        .map(p => t("map.fewFree", { model: p.gpuModel, pool: p.poolId, share: percent(p.utilizationBasisPoints) })),
    ];
    panel.dataset.province = province;
    panel.replaceChildren(
      el("h3", null, t("map.panelTitle", { province: label(province) })),
      el("h4", null, t("map.sites")),
      list(sites.map(s => t("map.siteLine", { name: s.name, city: s.city, gpus: s.gpuCount, share: percent(s.utilizationBasisPoints) })), t("map.noSites")),
      el("h4", null, t("map.pools")),
      list(pools.map(p => t("map.poolLine", {
        model: p.gpuModel, gpus: p.gpuCount, ask: cny(p.fenPerGpuHour), free: p.freeGpuHours, share: percent(p.utilizationBasisPoints),
      })), t("map.noPools")),
      el("h4", null, t("map.thin")),
      list(thin, t("map.notThin")),
    );
  }

  return {
    update(snapshot) {
      latest = snapshot;
    },
    show: province => { chosen = province; return show(); },
  };
}
