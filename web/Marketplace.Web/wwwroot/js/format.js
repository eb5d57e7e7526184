// Formatting shared by the pages: money in fen shown in yuan, times in Beijing time, percentages, and small DOM helpers.
// Every text follows the reader's language (i18n.js).

import { lang, t } from "./i18n.js";

/** From this many yuan an amount is shown in 万元 (ten thousands of yuan) on the Chinese pages. */
export const tenThousandFrom = 10_000;

/** Where the marketplace's times are shown: the programme offices and data centres work on Beijing time. */
export const timeZone = "Asia/Shanghai";

const locale = () => (lang() === "zh" ? "zh-CN" : "en-US");

const decimals = (value, digits) => value.toLocaleString(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** An amount in fen: "1,234.56 元" or "1,234.57 万元" in Chinese, "¥1,234.56" in English. */
export const cny = fen => {
  const yuan = fen / 100;
  if (lang() === "en") return `${yuan < 0 ? "-" : ""}¥${decimals(Math.abs(yuan), 2)}`;
  return Math.abs(yuan) >= tenThousandFrom
    ? `${decimals(yuan / tenThousandFrom, 2)} ${t("common.tenThousandYuan")}`
    : `${decimals(yuan, 2)} ${t("common.yuan")}`;
};

export const percent = basisPoints => `${(basisPoints / 100).toFixed(1)}%`;

/** A provider's reliability score: "履约率 98.5%", or "新服务商" for a provider too new to have one (null). */
export const reliability = basisPoints =>
  (basisPoints === null || basisPoints === undefined ? t("common.newProvider") : t("common.reliability", { score: percent(basisPoints) }));

const beijing = new Intl.DateTimeFormat("en-CA", {
  timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
});

/** A time as "2026-01-01 08:00" in Beijing time, without the label (for charts whose axis says it once). */
export function beijingTime(iso) {
  const parts = Object.fromEntries(beijing.formatToParts(new Date(iso)).map(p => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}

/** A time in Beijing time, labelled: "2026-01-01 08:00 北京时间" / "2026-01-01 08:00 Beijing time". */
export const when = iso => (iso ? `${beijingTime(iso)} ${t("common.beijingTime")}` : "—");

/** Beijing's offset from UTC (China keeps no daylight saving time). */
export const beijingOffset = "+08:00";

/** A time as the value of a datetime-local field read in Beijing time: "2026-01-01T08:00". */
export const beijingField = iso => beijingTime(iso).replace(" ", "T");

/** A datetime-local field's value read in Beijing time as an ISO instant with its offset: "2026-01-01T08:00:00+08:00". */
export const fromBeijingField = value => `${value.slice(0, 16)}:00${beijingOffset}`;

/** Whether a datetime-local field's value is a whole hour ("2026-01-01T08:00", seconds, if any, zero). */
export const isWholeHour = value => /^\d{4}-\d{2}-\d{2}T\d{2}:00(:00(\.0+)?)?$/.test(value);

/** The date alone (Beijing), "2026-01-01". */
export const day = iso => (iso ? beijingTime(iso).slice(0, 10) : "—");

export const shortId = id => (id.length > 18 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id);

/** Creates an element with a class and text, or child nodes. */
export function el(tag, className, ...children) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  for (const child of children) {
    element.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  }
  return element;
}

/** A table row of cells; a cell that is a Node is inserted as it is. */
export function row(cells, attributes = {}) {
  const tr = el("tr");
  for (const [name, value] of Object.entries(attributes)) tr.dataset[name] = value;
  for (const cell of cells) tr.append(el("td", null, cell));
  return tr;
}

/** Replaces a table body's rows, or shows a one-line note when there are none. */
export function fill(tbody, rows, empty) {
  tbody.replaceChildren(...rows);
  if (!rows.length) {
    const td = el("td", "empty", empty);
    td.colSpan = tbody.closest("table").querySelectorAll("thead th").length;
    tbody.append(el("tr", null, td));
  }
}

/** A state as a coloured badge; its text in the reader's language, the state itself in data-state. */
export function badge(state) {
  const known = `common.state.${state}`;
  const text = t(known);
  const badge = el("span", `badge badge-${state.toLowerCase()}`, text === known ? state : text);
  badge.dataset.state = state;
  return badge;
}

/** The values of a form's named fields. */
export function values(form) {
  return Object.fromEntries(new FormData(form).entries());
}

/** Fills a select with options (value, label). */
export function options(select, items, placeholder) {
  select.replaceChildren(...(placeholder ? [new Option(placeholder, "")] : []), ...items.map(([value, label]) => new Option(label, value)));
}

/** The next whole UTC hour at least `hours` from now, as an ISO string (reservations start on the hour). */
export function hourFromNow(hours) {
  const time = new Date(Date.now() + hours * 3600_000);
  time.setUTCMinutes(0, 0, 0);
  return new Date(time.getTime() + 3600_000).toISOString();
}

/**
 * Whether charts animate: not for a reader whose system asks for reduced motion. A chart that does not animate is drawn
 * by the time its options are set, so what waits for its data (a screenshot) sees it drawn.
 */
export const chartAnimation = !matchMedia("(prefers-reduced-motion: reduce)").matches;

export const chartFont = "'WenQuanYi Micro Hei', 'Noto Sans CJK SC', 'Segoe UI', sans-serif";

/**
 * A chart's time axis, labelled in Beijing time (ECharts would show the browser's own zone): hours and minutes, with
 * the date too when the chart spans days. Labels that would overlap are left out.
 */
export function beijingAxis(withDate = false) {
  return {
    type: "time", name: t("common.beijingTime"), nameGap: 8,
    axisLabel: { hideOverlap: true, formatter: value => (withDate ? beijingTime(value).slice(5) : beijingTime(value).slice(11)) },
  };
}

/** The tooltip text of a chart on a Beijing time axis: the time, then each line's name and value. */
export function beijingTooltip(params) {
  const points = [].concat(params);
  return [when(points[0]?.value[0]), ...points.map(p => `${p.seriesName}: ${p.value[1]}`)].join("\n");
}

/** An amount in yuan on a chart's axis, short: "3,000 元" / "1.5 万元" in Chinese, "¥3,000" in English. */
export function yuanAxisLabel(yuan) {
  if (lang() === "en") return `¥${yuan.toLocaleString("en-US")}`;
  return Math.abs(yuan) >= tenThousandFrom
    ? `${(yuan / tenThousandFrom).toLocaleString("zh-CN")} ${t("common.tenThousandYuan")}`
    : `${yuan.toLocaleString("zh-CN")} ${t("common.yuan")}`;
}

/** Has the browser save what an API call answered (a CSV, an evidence pack) under the file name given. */
export function saveFile(blob, fileName) {
  const url = URL.createObjectURL(blob);
  const link = Object.assign(document.createElement("a"), { href: url, download: fileName });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
