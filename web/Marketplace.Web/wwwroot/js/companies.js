// The programme office's queue of company registrations: each pending tenant or provider as registered now, with what
// changed since it was last verified, and Verify or Reject (with a reason). The API decides who may act; the page
// shows its answer.

import { requireRole, api, attempt, showProblem, ApiError } from "./session.js";
import { el } from "./format.js";
import { label } from "./provinces.js";

/** The API's path segment of each party the queue names. */
const pathOf = { tenant: "tenants", provider: "providers" };
const partyNames = { tenant: "企业 SME / startup team", provider: "算力提供方 Provider" };
const kindNames = { Sme: "中小企业 SME", StartupTeam: "初创团队 Startup team" };
/** The longest queue one page shows (the API's largest page). */
const pageSize = 1000;

if (requireRole("regulator", "admin")) {
  document.getElementById("refresh").addEventListener("click", () => attempt(load));
  attempt(load);
}

async function load() {
  const queue = document.getElementById("queue");
  const pending = await api("GET", `/companies?state=pending&pageSize=${pageSize}`);
  queue.replaceChildren(...pending.map(company));
  document.getElementById("queue-count").textContent = pending.length
    ? `${pending.length} 项待审核 · ${pending.length} awaiting review`
    : "没有待审核的登记或变更。 Nothing awaits review.";
  queue.dataset.loaded = String(Number(queue.dataset.loaded ?? 0) + 1);
}

/** One registration in the queue: its facts, its changes, and the two decisions. */
function company(c) {
  const r = c.registration;
  const card = el("section", "card company");
  Object.assign(card.dataset, { party: c.party, id: c.id, revision: String(c.revision) });
  const what = c.changes.length ? "变更待审核 · Change to review" : "新登记 · New registration";
  card.append(
    el("h2", null, `${partyNames[c.party] ?? c.party} · ${c.name} `, el("span", "note", `${c.id} · ${what} · 第 ${c.revision} 版 revision ${c.revision}`)),
    facts(c.party === "provider" ? providerFacts(r) : tenantFacts(r)));
  if (c.party === "provider") card.append(sites(r));
  if (c.changes.length) card.append(changes(c.changes));
  card.append(decisions(c));
  return card;
}

function tenantFacts(r) {
  return [
    ["统一社会信用代码 USCC", r.creditCode ?? "无（初创团队） none (startup team)"],
    ["类型 Kind", kindNames[r.kind] ?? r.kind],
    ["省份 Province", label(r.province)],
    ["关联方 Related parties", r.relatedPartyCreditCodes?.length ? r.relatedPartyCreditCodes.join(", ") : "无 none"],
    ...(r.credibilityStatement ? [["可信说明 Credibility statement", r.credibilityStatement]] : []),
    ...(r.members?.length ? [["团队成员 Members", r.members.join(", ")]] : []),
  ];
}

function providerFacts(r) {
  return [["统一社会信用代码 USCC", r.creditCode], ["站点 Sites", String(r.sites.length)]];
}

function facts(pairs) {
  const list = el("dl", "facts");
  for (const [name, value] of pairs) list.append(el("dt", null, name), el("dd", null, value));
  return list;
}

/** A provider's sites with the GPUs installed at each: what its pools are checked against. */
function sites(r) {
  const table = el("table", "sites");
  table.append(el("thead", null, el("tr", null, ...["站点 Site", "名称 Name", "城市 City", "省份 Province", "已装GPU Installed GPUs"].map(h => el("th", null, h)))));
  const body = el("tbody");
  for (const s of r.sites) {
    const installed = (r.installed ?? []).filter(i => i.siteId === s.siteId).map(i => `${i.gpuModel} × ${i.count}`).join(", ");
    const tr = el("tr", null, ...[s.siteId, s.name, s.city, label(s.province), installed || "未申报 none declared"].map(v => el("td", null, v)));
    tr.dataset.site = s.siteId;
    body.append(tr);
  }
  table.append(body);
  return table;
}

/** What changed since the registration was last verified, field by field. */
function changes(list) {
  const table = el("table", "diff");
  table.append(el("thead", null, el("tr", null, ...["变更项 Field", "变更前 Before", "变更后 After"].map(h => el("th", null, h)))));
  const body = el("tbody");
  for (const change of list) {
    const tr = el("tr", null, el("td", null, fieldName(change.field)), el("td", "before", change.before || "—"), el("td", "after", change.after || "—"));
    tr.dataset.field = change.field;
    body.append(tr);
  }
  table.append(body);
  return el("div", "scroll", el("h3", null, "与上次核准相比的变更 · Changed since last verified"), table);
}

/** "installedGpus[dc-1][H800-80G]" → "已装GPU installed GPUs · dc-1 · H800-80G" */
function fieldName(field) {
  const names = {
    kind: "类型 kind", province: "省份 province", creditCode: "统一社会信用代码 credit code",
    relatedPartyCreditCodes: "关联方 related parties", sites: "站点 site", installedGpus: "已装GPU installed GPUs",
  };
  const [name, ...keys] = field.split(/\[|\]\[?/).filter(Boolean);
  return [names[name] ?? name, ...keys].join(" · ");
}

function decisions(c) {
  const path = `/companies/${pathOf[c.party]}/${encodeURIComponent(c.id)}`;
  const verify = el("button", null, "核准 · Verify");
  verify.type = "button";
  verify.dataset.verify = c.id;
  verify.addEventListener("click", () => decide(c, `${path}/verify?revision=${c.revision}`));

  const reject = el("form", "form reject");
  const reason = el("input");
  Object.assign(reason, { name: "reason", required: true, maxLength: 500, placeholder: "驳回理由（必填） Reason (required)" });
  reason.setAttribute("aria-label", "驳回理由 Reason for rejecting");
  const button = el("button", "danger", "驳回 · Reject");
  button.type = "submit";
  button.dataset.reject = c.id;
  reject.append(reason, button);
  reject.addEventListener("submit", event => {
    event.preventDefault();
    decide(c, `${path}/reject?revision=${c.revision}`, { reason: reason.value.trim() });
  });
  return el("div", "form decisions", verify, reject);
}

/** Sends a decision on the revision shown; a registration changed meanwhile is shown again to be reviewed anew. */
async function decide(c, path, body) {
  await attempt(async () => {
    try {
      const status = await api("POST", path, body);
      const outcome = status.state === "Verified" ? "已核准 Verified" : `已驳回 Rejected: ${status.reason}`;
      const decided = document.getElementById("decided");
      decided.textContent = `${c.name} (${c.id}): ${outcome}`;
      decided.hidden = false;
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) {
        await load();
        showProblem(`该登记已被修改，请重新审核。 The registration changed meanwhile; review it again. ${e.message}`);
        return;
      }
      throw e;
    }
    await load();
  });
}
