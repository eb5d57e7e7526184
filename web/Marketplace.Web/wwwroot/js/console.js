// The programme office's console: programmes and their money (budget, issued, held, spent, returned), take-up and burn
// over time per programme and region, approval notices, the ledger with filters and CSV export, and the audit trail.
// A regulator reads; an admin also creates programmes, raises budgets, closes claims early and publishes notices. The
// API decides who may act; the page shows its answer.

import { requireRole, api, attempt, authorizedFetch, onSubmit, ApiError } from "./session.js";
import { cny, when, el, row, fill, badge, options, beijingTime } from "./format.js";
import { label, provinceNames } from "./provinces.js";
import { takeUpHistory } from "./history.js";
import { t, translate, languageSwitch } from "./i18n.js";
import "./strings/console.js";

/** Rows one ledger or audit page shows. */
const pageSize = 100;

/** A datetime-local value read as Beijing time ("2026-12-01T09:00" → "2026-12-01T09:00:00+08:00"); empty stays empty. */
const fromBeijing = value => (value ? `${value}:00+08:00` : "");

/** An instant as a datetime-local value in Beijing time. */
const toBeijingInput = iso => beijingTime(iso).replace(" ", "T");

let selected = null;

/** Programme names by id, as last listed. */
const programmeNames = new Map();

translate();
languageSwitch();
const current = requireRole("regulator", "admin");
if (current) {
  if (current.role === "admin") document.querySelectorAll("[data-admin]").forEach(e => { e.hidden = false; });
  setUp();
  attempt(async () => {
    await loadProgrammes();
    takeUpHistory(document.getElementById("takeup"), document.getElementById("takeup-scope"), id => programmeNames.get(id));
    await loadAudit();
  });
}

function setUp() {
  options(document.getElementById("create-province"), provinceNames.map(p => [p, label(p)]));
  const now = new Date();
  const create = document.getElementById("create");
  create.claimOpensAt.value = toBeijingInput(now.toISOString());
  create.claimClosesAt.value = toBeijingInput(new Date(now.getTime() + 365 * 86_400_000).toISOString());
  document.getElementById("notice").effectiveFrom.value = toBeijingInput(now.toISOString());

  onSubmit("create", async (v, form, key) => {
    const kinds = ["Sme", "StartupTeam"].filter(kind => form[`kind${kind}`].checked);
    const created = await api("POST", "/programs", {
      id: v.id, name: v.name, issuer: v.issuer, province: v.province,
      claimOpensAt: fromBeijing(v.claimOpensAt), claimClosesAt: fromBeijing(v.claimClosesAt),
      budgetFen: Math.round(Number(v.budget) * 100), voucherCapFen: Math.round(Number(v.cap) * 100),
      coverageBasisPoints: Math.round(Number(v.coverage) * 100), allowedTenantKinds: kinds,
      registrationDeadlineDays: Number(v.registrationDeadlineDays), validityDays: Number(v.validityDays),
    }, { idempotencyKey: key });
    done(t("console.created", { name: created.definition.name }));
    await loadProgrammes();
    await select(created.id);
  });
  onSubmit("raise", async (v, form, key) => {
    const view = await api("POST", `/programs/${encodeURIComponent(selected)}/budget`,
      { amountFen: Math.round(Number(v.amount) * 100), reason: v.reason }, { idempotencyKey: key });
    form.reset();
    done(t("console.raised", { budget: cny(view.budgetFen) }));
    await refresh();
  });
  onSubmit("close", async (v, form, key) => {
    if (!confirm(t("console.closeConfirm", { name: document.getElementById("detail-title").textContent }))) return;
    await api("POST", `/programs/${encodeURIComponent(selected)}/close`, { reason: v.reason }, { idempotencyKey: key });
    form.reset();
    done(t("console.closed"));
    await refresh();
  });
  onSubmit("notice", async v => {
    const path = `/programs/${encodeURIComponent(selected)}/companies/${encodeURIComponent(v.creditCode.trim())}`;
    const effectiveFrom = fromBeijing(v.effectiveFrom);
    if (v.approved === "true") {
      await api("PUT", path, { batchId: v.batchId, effectiveFrom });
    } else {
      await api("DELETE", `${path}?batchId=${encodeURIComponent(v.batchId)}&effectiveFrom=${encodeURIComponent(effectiveFrom)}`);
    }
    done(t("console.published", { batch: v.batchId }));
    await refresh();
  });
  onSubmit("ledger-filter", () => loadLedger());
  document.getElementById("export").addEventListener("click", () => attempt(exportLedger));
  onSubmit("audit-filter", () => loadAudit());
}

function done(message) {
  const note = document.getElementById("done");
  note.textContent = message;
  note.hidden = false;
}

async function refresh() {
  await loadProgrammes();
  await select(selected);
}

async function loadProgrammes() {
  const [programmes, takeUps] = await Promise.all([api("GET", "/programs"), api("GET", "/takeup")]);
  const money = new Map(takeUps.map(u => [u.programId, u]));
  for (const p of programmes) programmeNames.set(p.id, p.name);
  const tbody = document.querySelector("#programmes tbody");
  fill(tbody, programmes.map(p => {
    const u = money.get(p.id);
    const open = el("button", "secondary", t("console.open"));
    open.type = "button";
    open.addEventListener("click", () => attempt(() => select(p.id)));
    return row([
      el("span", null, p.name, el("br"), el("span", "note", p.id)), label(p.province),
      `${when(p.definition.claimOpensAt)} – ${when(p.definition.claimClosesAt)}`,
      cny(p.budgetFen), cny(p.issuedFen), cny(u?.heldFen ?? 0), cny(u?.spentFen ?? 0), cny(p.returnedFen),
      cny(p.budgetFen - p.issuedFen + p.returnedFen), stateOf(p), open,
    ], { id: p.id });
  }), t("console.noProgrammes"));
  for (const tr of tbody.querySelectorAll("tr")) {
    for (const i of [3, 4, 5, 6, 7, 8]) tr.cells[i]?.classList.add("num");
  }
}

/** Open, not open yet, claims ended, or closed early by the office. */
function stateOf(p) {
  const now = Date.now();
  const state = p.closedAt ? "Closed" : now < Date.parse(p.definition.claimOpensAt) ? "Upcoming"
    : now >= Date.parse(p.definition.claimClosesAt) ? "Ended" : "Open";
  return stateBadge(state);
}

/** A badge of one of the console's own states, in the reader's language. */
function stateBadge(state) {
  const b = badge(state);
  b.textContent = t(`console.state.${state}`);
  return b;
}

async function select(id) {
  selected = id;
  const view = await api("GET", `/programs/${encodeURIComponent(id)}`);
  const detail = document.getElementById("detail");
  detail.hidden = false;
  detail.dataset.programme = id;
  document.getElementById("detail-title").textContent = `${view.definition.name} (${view.id})`;
  document.getElementById("detail-state").textContent = view.closedAt
    ? t("console.closedNote", { at: when(view.closedAt), reason: view.closeReason })
    : t("console.openNote", { issuer: view.definition.issuer, budget: cny(view.budgetFen), first: cny(view.definition.budgetFen) });
  for (const form of ["raise", "close"]) {
    document.getElementById(form).querySelectorAll("input, button").forEach(e => { e.disabled = Boolean(view.closedAt); });
  }
  fill(document.querySelector("#notices tbody"), [...view.providerNotices].reverse().map(n => row([
    n.batchId, n.creditCode, stateBadge(n.approved ? "Approved" : "Removed"), when(n.effectiveFrom),
  ], { batch: n.batchId, creditCode: n.creditCode })), t("console.noNotices"));
  await loadLedger();
}

function ledgerQuery() {
  const form = document.getElementById("ledger-filter");
  const query = new URLSearchParams();
  if (form.kind.value) query.set("kind", form.kind.value);
  if (form.from.value) query.set("from", fromBeijing(form.from.value));
  if (form.to.value) query.set("to", fromBeijing(form.to.value));
  return query;
}

async function loadLedger() {
  if (!selected) return;
  const query = ledgerQuery();
  query.set("pageSize", String(pageSize));
  const page = await api("GET", `/programs/${encodeURIComponent(selected)}/ledger?${query}`);
  document.getElementById("ledger-count").textContent = t("console.ledgerCount", { shown: page.transactions.length, total: page.totalTransactions });
  fill(document.querySelector("#ledger tbody"), page.transactions.map(tx => row([
    String(tx.sequence), textOr(`console.ledgerKind.${tx.kind}`, tx.kind), when(tx.postedAt), tx.description,
    el("span", "entries", ...tx.entries.flatMap(e => [`${e.account} ${e.amountFen > 0 ? "+" : ""}${cny(e.amountFen)}`, el("br")])),
  ], { id: tx.id })), t("console.noLedger"));
}

/** Downloads the ledger the filter selects as CSV, through the API with the session's token. */
async function exportLedger() {
  if (!selected) return;
  const response = await authorizedFetch(`/programs/${encodeURIComponent(selected)}/ledger/export?${ledgerQuery()}`);
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const url = URL.createObjectURL(await response.blob());
  const link = el("a");
  link.href = url;
  link.download = `ledger-${selected}.csv`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The text of a key, or the value itself when the pages do not know it (a role such as "none", a new ledger kind). */
function textOr(key, value) {
  const text = t(key);
  return text === key ? value : text;
}

async function loadAudit() {
  const form = document.getElementById("audit-filter");
  const query = new URLSearchParams({ pageSize: String(pageSize) });
  for (const name of ["subject", "action", "outcome"]) if (form[name].value.trim()) query.set(name, form[name].value.trim());
  for (const name of ["from", "to"]) if (form[name].value) query.set(name, fromBeijing(form[name].value));
  const entries = await api("GET", `/audit?${query}`);
  fill(document.querySelector("#audit tbody"), entries.map(e => row([
    when(e.at), e.subject, textOr(`common.role.${e.role}`, e.role), e.action, e.resource, stateBadge(e.outcome === "ok" ? "Ok" : "Failed"),
  ], { id: String(e.id) })), t("console.noAudit"));
}
