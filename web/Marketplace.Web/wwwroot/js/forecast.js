// The regulator's budget forecast per programme, beside take-up and burn: when each budget is fully issued and fully
// spent, and how much will lapse or expire unspent. Dates are Beijing calendar days as the API gives them.

import { api, showProblem } from "./session.js";
import { el, row, fill } from "./format.js";
import { probe } from "./push.js";

// A forecast is made from whole days: take-up changes every few seconds, the forecast needs asking at most once a minute.
const refreshMs = 60_000;
let asked = 0;
let programs = [];

/** Called with every take-up snapshot; asks for the forecasts when the programmes change or a minute has passed. */
export function showForecasts(takeUp) {
  const ids = takeUp.map(p => p.programId);
  const changed = ids.join("\n") !== programs.join("\n");
  if (!changed && Date.now() - asked < refreshMs) return;
  programs = ids;
  asked = Date.now();
  Promise.all(ids.map(id => api("GET", `/programs/${encodeURIComponent(id)}/forecast`)))
    .then(render)
    .catch(e => showProblem(`The budget forecast could not be read: ${e.message}`));
}

const yuan = fen => `${(fen / 100).toLocaleString("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 })} 元`;

function zh(text) {
  const span = el("span", null, text);
  span.lang = "zh-CN";
  return span;
}

/** A date with its interval, or what stands in for it (already happened, never at these rates, no history yet). */
function date(forecast) {
  switch (forecast.status) {
    case "Reached":
      return el("span", null, zh("已于 "), forecast.date, " (reached)");
    case "Projected":
      return el("span", null, forecast.date, el("span", "note", ` (${forecast.low ?? "—"} – ${forecast.high ?? "之后 later"})`));
    case "Never":
      return el("span", null, zh("按当前速度不会发生"), " · not at current rates");
    default:
      return el("span", null, zh("暂无完整日数据"), " · no full day yet");
  }
}

function amount(forecast) {
  if (forecast.status === "NoHistory") return el("span", null, zh("暂无完整日数据"), " · no full day yet");
  return el("span", null, yuan(forecast.expectedFen), el("span", "note", ` (${yuan(forecast.lowFen)} – ${yuan(forecast.highFen)})`));
}

function render(answers) {
  fill(document.querySelector("#forecast tbody"), answers.map(({ programId, name, forecast: f }) => row([
    name, f.asOf, date(f.fullyIssued), date(f.fullySpent), amount(f.unspentReturned),
    yuan(f.ratesPerDay.claimedFen), yuan(f.ratesPerDay.spentFen),
  ], { program: programId, issued: f.fullyIssued.status, spent: f.fullySpent.status })), "暂无补贴项目 · No voucher programs yet.");
  document.querySelectorAll("#forecast tbody td:nth-child(n+3)").forEach(td => td.classList.add("num"));
  probe.forecasts = answers;
}
