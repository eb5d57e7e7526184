// The programme office's console: programmes and their money (budget, issued, held, spent, returned), take-up and burn
// over time per programme and region, approval notices, the ledger with filters and CSV export, and the audit trail.
// A regulator reads; an admin also creates programmes, raises budgets, closes claims early and publishes notices. The
// API decides who may act; the page shows its answer.

import { requireRole, client, idempotencyKey, attempt, onSubmit } from "./session.js";
import { cny, when, el, row, fill, badge, options, beijingTime, saveFile } from "./format.js";
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
  if (current.role === "admin") /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("[data-admin]")).forEach(e => { e.hidden = false; });
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
  const create = /** @type {HTMLFormElement} */ (document.getElementById("create"));
  create.claimOpensAt.value = toBeijingInput(now.toISOString());
  create.claimClosesAt.value = toBeijingInput(new Date(now.getTime() + 365 * 86_400_000).toISOString());
  /** @type {HTMLFormElement} */ (document.getElementById("notice")).effectiveFrom.value = toBeijingInput(now.toISOString());

  onSubmit("create", async (v, form, key) => {
    const kinds = /** @type {const} */ (["Sme", "StartupTeam"]).filter(kind => form[`kind${kind}`].checked);
    const { data: created } = await client.POST("/api/v1/programs", { body: {
      id: v.id, name: v.name, issuer: v.issuer, province: v.province,
      claimOpensAt: fromBeijing(v.claimOpensAt), claimClosesAt: fromBeijing(v.claimClosesAt),
      budgetFen: Math.round(Number(v.budget) * 100), voucherCapFen: Math.round(Number(v.cap) * 100),
      coverageBasisPoints: Math.round(Number(v.coverage) * 100), allowedTenantKinds: kinds,
      registrationDeadlineDays: Number(v.registrationDeadlineDays), validityDays: Number(v.validityDays),
    }, middleware: [idempotencyKey(key)] });
    done(t("console.created", { name: created.definition.name }));
    await loadProgrammes();
    await select(created.id);
  });
  onSubmit("raise", async (v, form, key) => {
    const { data: view } = await client.POST("/api/v1/programs/{id}/budget", { params: { path: { id: selected } },
      body: { amountFen: Math.round(Number(v.amount) * 100), reason: v.reason }, middleware: [idempotencyKey(key)] });
    form.reset();
    done(t("console.raised", { budget: cny(view.budgetFen) }));
    await refresh();
  });
  onSubmit("close", async (v, form, key) => {
    if (!confirm(t("console.closeConfirm", { name: document.getElementById("detail-title").textContent }))) return;
    await client.POST("/api/v1/programs/{id}/close", { params: { path: { id: selected } }, body: { reason: v.reason }, middleware: [idempotencyKey(key)] });
    form.reset();
    done(t("console.closed"));
    await refresh();
  });
  onSubmit("notice", async v => {
    const company = { id: selected, creditCode: v.creditCode.trim() };
    const effectiveFrom = fromBeijing(v.effectiveFrom);
    if (v.approved === "true") {
      await client.PUT("/api/v1/programs/{id}/companies/{creditCode}", { params: { path: company }, body: { batchId: v.batchId, effectiveFrom } });
    } else {
      await client.DELETE("/api/v1/programs/{id}/companies/{creditCode}", { params: { path: company, query: { batchId: v.batchId, effectiveFrom } } });
    }
    done(t("console.published", { batch: v.batchId }));
    await refresh();
  });
  onSubmit("top-up", async (v, form) => {
    const tenant = v.tenantId.trim();
    const { data: payment } = await client.POST("/api/v1/tenants/{id}/cash/top-ups", { params: { path: { id: tenant } },
      body: { amountFen: Math.round(Number(v.amount) * 100), paymentReference: v.paymentReference.trim() } });
    const { data: cash } = await client.GET("/api/v1/tenants/{id}/cash", { params: { path: { id: tenant } } });
    form.reset();
    done(t("console.toppedUp", { tenant, amount: cny(payment.amountFen), reference: payment.reference, available: cny(cash.availableFen) }));
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
  const [{ data: programmes }, { data: takeUps }] = await Promise.all([client.GET("/api/v1/programs"), client.GET("/api/v1/takeup")]);
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
  const { data: view } = await client.GET("/api/v1/programs/{id}", { params: { path: { id } } });
  const detail = document.getElementById("detail");
  detail.hidden = false;
  detail.dataset.programme = id;
  document.getElementById("detail-title").textContent = `${view.definition.name} (${view.id})`;
  document.getElementById("detail-state").textContent = view.closedAt
    ? t("console.closedNote", { at: when(view.closedAt), reason: view.closeReason })
    : t("console.openNote", { issuer: view.definition.issuer, budget: cny(view.budgetFen), first: cny(view.definition.budgetFen) });
  for (const form of ["raise", "close"]) {
    /** @type {NodeListOf<HTMLInputElement | HTMLButtonElement>} */ (document.getElementById(form).querySelectorAll("input, button")).forEach(e => { e.disabled = Boolean(view.closedAt); });
  }
  fill(document.querySelector("#notices tbody"), [...view.providerNotices].reverse().map(n => row([
    n.batchId, n.creditCode, stateBadge(n.approved ? "Approved" : "Removed"), when(n.effectiveFrom),
  ], { batch: n.batchId, creditCode: n.creditCode })), t("console.noNotices"));
  await loadLedger();
}

/** The ledger's filter as the API's query (a field left empty filters nothing). */
function ledgerQuery() {
  const form = /** @type {HTMLFormElement} */ (document.getElementById("ledger-filter"));
  return {
    kind: form.kind.value || undefined,
    from: form.from.value ? fromBeijing(form.from.value) : undefined,
    to: form.to.value ? fromBeijing(form.to.value) : undefined,
  };
}

async function loadLedger() {
  if (!selected) return;
  const { data: page } = await client.GET("/api/v1/programs/{id}/ledger", { params: { path: { id: selected }, query: { ...ledgerQuery(), pageSize } } });
  document.getElementById("ledger-count").textContent = t("console.ledgerCount", { shown: page.transactions.length, total: page.totalTransactions });
  fill(document.querySelector("#ledger tbody"), page.transactions.map(tx => row([
    String(tx.sequence), textOr(`console.ledgerKind.${tx.kind}`, tx.kind), when(tx.postedAt), tx.description,
    el("span", "entries", ...tx.entries.flatMap(e => [`${e.account} ${e.amountFen > 0 ? "+" : ""}${cny(e.amountFen)}`, el("br")])),
  ], { id: tx.id })), t("console.noLedger"));
}

/** Downloads the ledger the filter selects as CSV, through the API with the session's token. */
async function exportLedger() {
  if (!selected) return;
  const { data } = await client.GET("/api/v1/programs/{id}/ledger/export", { params: { path: { id: selected }, query: ledgerQuery() }, parseAs: "blob" });
  saveFile(data, `ledger-${selected}.csv`);
}

/** The text of a key, or the value itself when the pages do not know it (a role such as "none", a new ledger kind). */
function textOr(key, value) {
  const text = t(key);
  return text === key ? value : text;
}

async function loadAudit() {
  const form = document.getElementById("audit-filter");
  const text = name => form[name].value.trim() || undefined;
  const time = name => (form[name].value ? fromBeijing(form[name].value) : undefined);
  const query = { subject: text("subject"), action: text("action"), outcome: text("outcome"), from: time("from"), to: time("to"), pageSize };
  const { data: entries } = await client.GET("/api/v1/audit", { params: { query } });
  fill(document.querySelector("#audit tbody"), entries.map(e => row([
    when(e.at), e.subject, textOr(`common.role.${e.role}`, e.role), e.action, e.resource, stateBadge(e.outcome === "ok" ? "Ok" : "Failed"),
  ], { id: String(e.id) })), t("console.noAudit"));
}
