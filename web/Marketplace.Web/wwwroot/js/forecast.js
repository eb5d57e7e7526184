// The regulator's budget forecast per programme, beside take-up and burn: when each budget is fully issued and fully
// spent, and how much will lapse or expire unspent. Dates are Beijing calendar days as the API gives them.

import { client, showProblem } from "./session.js";
import { el, row, fill, cny } from "./format.js";
import { t } from "./i18n.js";
import "./strings/regulator.js";
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
  Promise.all(ids.map(async id => (await client.GET("/api/v1/programs/{id}/forecast", { params: { path: { id } } })).data))
    .then(render)
    .catch(e => showProblem(t("regulator.forecastFailed", { message: e.message })));
}


/** A date with its interval, or what stands in for it (already happened, never at these rates, no history yet). */
function date(forecast) {
  switch (forecast.status) {
    case "Reached":
      return el("span", null, t("regulator.reached", { date: forecast.date }));
    case "Projected":
      return el("span", null, forecast.date, el("span", "note", ` (${forecast.low ?? "—"} – ${forecast.high ?? t("regulator.later")})`));
    case "Never":
      return el("span", null, t("regulator.never"));
    default:
      return el("span", null, t("regulator.noHistory"));
  }
}

function amount(forecast) {
  if (forecast.status === "NoHistory") return el("span", null, t("regulator.noHistory"));
  return el("span", null, cny(forecast.expectedFen), el("span", "note", ` (${cny(forecast.lowFen)} – ${cny(forecast.highFen)})`));
}

function render(answers) {
  fill(document.querySelector("#forecast tbody"), answers.map(({ programId, name, forecast: f }) => row([
    name, f.asOf, date(f.fullyIssued), date(f.fullySpent), amount(f.unspentReturned),
    cny(f.ratesPerDay.claimedFen), cny(f.ratesPerDay.spentFen),
  ], { program: programId, issued: f.fullyIssued.status, spent: f.fullySpent.status })), t("regulator.noPrograms"));
  document.querySelectorAll("#forecast tbody td:nth-child(n+3)").forEach(td => td.classList.add("num"));
  probe.forecasts = answers;
}
