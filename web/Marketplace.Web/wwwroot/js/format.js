// Formatting shared by the pages: money in fen shown as yuan, times, percentages, and small DOM helpers.

export const cny = fen => `¥${(fen / 100).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

export const percent = basisPoints => `${(basisPoints / 100).toFixed(1)}%`;

export const when = iso => (iso ? new Date(iso).toISOString().slice(0, 16).replace("T", " ") + " UTC" : "—");

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

export function badge(state) {
  return el("span", `badge badge-${state.toLowerCase()}`, state);
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

export const chartFont = "'WenQuanYi Micro Hei', 'Noto Sans CJK SC', 'Segoe UI', sans-serif";
