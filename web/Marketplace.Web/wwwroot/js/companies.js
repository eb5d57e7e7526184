// The programme office's queue of company registrations: each pending tenant or provider as registered now, with what
// changed since it was last verified, and Verify or Reject (with a reason). The API decides who may act; the page
// shows its answer.

import { requireRole, client, attempt, showProblem, ApiError } from "./session.js";
import { el } from "./format.js";
import { label } from "./provinces.js";
import { t, translate, languageSwitch } from "./i18n.js";
import "./strings/companies.js";

/** The API's path segment of each party the queue names. */
const pathOf = { tenant: "tenants", provider: "providers" };
/** The longest queue one page shows (the API's largest page). */
const pageSize = 1000;

translate();
languageSwitch();
if (requireRole("regulator", "admin")) {
  document.getElementById("refresh").addEventListener("click", () => attempt(load));
  attempt(load);
}

async function load() {
  const queue = document.getElementById("queue");
  const { data: pending } = await client.GET("/api/v1/companies", { params: { query: { state: "pending", pageSize } } });
  queue.replaceChildren(...pending.map(company));
  document.getElementById("queue-count").textContent = pending.length ? t("companies.count", { count: pending.length }) : t("companies.none");
  queue.dataset.loaded = String(Number(queue.dataset.loaded ?? 0) + 1);
}

/** One registration in the queue: its facts, its changes, and the two decisions. */
function company(c) {
  const r = c.registration;
  const card = el("section", "card company");
  Object.assign(card.dataset, { party: c.party, id: c.id, revision: String(c.revision) });
  const what = c.changes.length ? t("companies.change") : t("companies.new");
  card.dataset.what = c.changes.length ? "change" : "new";
  card.append(
    el("h2", null, `${t(`companies.party.${c.party}`)} · ${c.name} `,
      el("span", "note", `${c.id} · ${what} · ${t("companies.revision", { revision: c.revision })}`)),
    facts(c.party === "provider" ? providerFacts(r) : tenantFacts(r)));
  if (c.party === "provider") card.append(sites(r));
  if (c.changes.length) card.append(changes(c.changes));
  card.append(decisions(c));
  return card;
}

function tenantFacts(r) {
  return [
    [t("companies.uscc"), r.creditCode ?? t("companies.noCode")],
    [t("companies.kind"), t(`companies.kind.${r.kind}`)],
    [t("companies.province"), label(r.province)],
    [t("companies.related"), r.relatedPartyCreditCodes?.length ? r.relatedPartyCreditCodes.join(", ") : t("companies.noneValue")],
    ...(r.credibilityStatement ? [[t("companies.credibility"), r.credibilityStatement]] : []),
    ...(r.members?.length ? [[t("companies.members"), r.members.join(", ")]] : []),
  ];
}

function providerFacts(r) {
  return [[t("companies.uscc"), r.creditCode], [t("companies.sites"), String(r.sites.length)]];
}

function facts(pairs) {
  const list = el("dl", "facts");
  for (const [name, value] of pairs) list.append(el("dt", null, name), el("dd", null, value));
  return list;
}

/** A provider's sites with the GPUs installed at each: what its pools are checked against. */
function sites(r) {
  const table = el("table", "sites");
  table.append(el("thead", null, el("tr", null, ...["site", "name", "city", "province", "installed"].map(h => el("th", null, t(`companies.col.${h}`))))));
  const body = el("tbody");
  for (const s of r.sites) {
    const installed = (r.installed ?? []).filter(i => i.siteId === s.siteId).map(i => `${i.gpuModel} × ${i.count}`).join(", ");
    const tr = el("tr", null, ...[s.siteId, s.name, s.city, label(s.province), installed || t("companies.notDeclared")].map(v => el("td", null, v)));
    tr.dataset.site = s.siteId;
    body.append(tr);
  }
  table.append(body);
  return table;
}

/** What changed since the registration was last verified, field by field. */
function changes(list) {
  const table = el("table", "diff");
  table.append(el("thead", null, el("tr", null, ...["field", "before", "after"].map(h => el("th", null, t(`companies.col.${h}`))))));
  const body = el("tbody");
  for (const change of list) {
    const tr = el("tr", null, el("td", null, fieldName(change.field)), el("td", "before", change.before || "—"), el("td", "after", change.after || "—"));
    tr.dataset.field = change.field;
    body.append(tr);
  }
  table.append(body);
  return el("div", "scroll", el("h3", null, t("companies.changed")), table);
}

/** "installedGpus[dc-1][H800-80G]" → "已装GPU · dc-1 · H800-80G" */
function fieldName(field) {
  const [name, ...keys] = field.split(/\[|\]\[?/).filter(Boolean);
  const known = `companies.field.${name}`;
  return [t(known) === known ? name : t(known), ...keys].join(" · ");
}

function decisions(c) {
  const verify = el("button", null, t("companies.verify"));
  verify.type = "button";
  verify.setAttribute("aria-label", t("companies.verifyOf", { name: c.name }));
  verify.dataset.verify = c.id;
  verify.addEventListener("click", () => decide(c, () => client.POST("/api/v1/companies/{party}/{id}/verify", { params: revisionShown(c) })));

  const reject = el("form", "form reject");
  const reason = el("input");
  Object.assign(reason, { name: "reason", required: true, maxLength: 500, placeholder: t("companies.reasonHint") });
  reason.setAttribute("aria-label", t("companies.reasonOf", { name: c.name }));
  const button = el("button", "danger", t("companies.reject"));
  button.type = "submit";
  button.setAttribute("aria-label", t("companies.rejectOf", { name: c.name }));
  button.dataset.reject = c.id;
  reject.append(reason, button);
  reject.addEventListener("submit", event => {
    event.preventDefault();
    decide(c, () => client.POST("/api/v1/companies/{party}/{id}/reject", { params: revisionShown(c), body: { reason: reason.value.trim() } }));
  });
  return el("div", "form decisions", verify, reject);
}

/** The registration a decision is on: its party, its id and the revision shown. */
function revisionShown(c) {
  return { path: { party: pathOf[c.party], id: c.id }, query: { revision: c.revision } };
}

/**
 * Sends a decision on the revision shown; a registration changed meanwhile is shown again to be reviewed anew.
 * @param {{ name: string, id: string }} c
 * @param {() => Promise<{ data?: { state: string, reason?: string | null } }>} send
 */
async function decide(c, send) {
  await attempt(async () => {
    try {
      const { data: status } = await send();
      const outcome = status.state === "Verified" ? t("companies.verified") : t("companies.rejected", { reason: status.reason });
      const decided = document.getElementById("decided");
      decided.textContent = t("companies.decided", { name: c.name, id: c.id, outcome });
      decided.dataset.state = status.state;
      decided.hidden = false;
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) {
        await load();
        showProblem(`${t("companies.changedMeanwhile")} ${e.message}`);
        return;
      }
      throw e;
    }
    await load();
  });
}
