// The SME console: the tenant's vouchers and what each paid, quotes and bids with a start picked in Beijing time, and
// reservations with their provider and site, cancellable before they start. Bids, reservations and vouchers are pushed live.

import { requireRole, client, idempotencyKey, attempt, onSubmit, showProblem } from "./session.js";
import { connectPush, probe } from "./push.js";
import {
  cny, percent, reliability, when, day, shortId, el, row, fill, badge, values, options, hourFromNow, beijingField, fromBeijingField, isWholeHour, saveFile,
} from "./format.js";
import { provinceNames, label } from "./provinces.js";
import { t, has, translate, languageSwitch } from "./i18n.js";
import "./strings/sme.js";

const bids = new Map();
const reservations = new Map();
const vouchers = new Map();
const finalStates = ["Filled", "PartiallyFilled", "Cancelled", "Expired", "Rejected"];
/** Programme names by id, from GET /programs: a programme is shown by its name, never its id. */
const programNames = new Map();

let live = null;

translate();
languageSwitch();
const me = requireRole("sme");
if (me) {
  start().catch(e => showProblem(e.message));
}

async function start() {
  wireForms();
  const [{ data: programs }, { data: models }, { data: accelerators }] = await Promise.all([
    client.GET("/api/v1/programs"), client.GET("/api/v1/markets"), client.GET("/api/v1/accelerators")]);
  const vendors = [...new Set(accelerators.map(a => a.vendor))];
  options(document.getElementById("vendors"), vendors.map(v => [v, has(`sme.vendor.${v}`) ? t(`sme.vendor.${v}`) : v]), t("sme.anyVendor"));
  programs.forEach(p => programNames.set(p.id, p.name));
  options(document.getElementById("programs"), programs.map(p => [p.id, `${p.name} (${label(p.province)})`]), programs.length ? null : t("sme.noPrograms"));
  options(document.getElementById("models"), models.map(m => [m, m]));
  options(document.getElementById("tenant-province"), provinceNames.map(p => [p, label(p)]));
  await showTenant();
  live = await connectPush({
    bids: list => {
      for (const b of list) {
        // A try of a resting compute bid is shown through that bid: when the try changes (its fill interrupted, say), the
        // compute bid is read again, as the server shows it.
        if (!b.computeBidId) bids.set(b.id, b);
        else if (bids.has(b.computeBidId)) attempt(() => refreshBid(b.computeBidId));
      }
      showBids();
    },
    reservations: list => { list.forEach(r => reservations.set(r.id, r)); showReservations(); refreshStatement(); attempt(showCash); },
    vouchers: list => { list.forEach(v => vouchers.set(v.id, v)); showVouchers(); showReservations(); refreshStatement(); },
  });
  showBids();
  showReservations();
  showVouchers();
}

async function showTenant() {
  const text = document.getElementById("tenant");
  const form = document.getElementById("register-tenant");
  try {
    const { data: tenant } = await client.GET("/api/v1/tenants/me");
    const r = tenant.registration;
    text.textContent = t("sme.tenantShown", {
      name: r.name, kind: t(`sme.kind.${r.kind}`), province: label(r.province), code: r.creditCode ? ` · ${r.creditCode}` : "",
    });
    form.hidden = true;
    await showCash();
  } catch (e) {
    if (e.status !== 404) throw e;
    text.textContent = t("sme.notRegistered", { id: me.tenantId });
    form.hidden = false;
  }
}

/** The company's prepaid cash (rule 8): every fill holds its cash share from it, so a bid needs it. */
async function showCash() {
  const { data: cash } = await client.GET("/api/v1/tenants/me/cash");
  const line = document.getElementById("cash");
  line.textContent = t("sme.cash", { available: cny(cash.availableFen), held: cny(cash.heldFen), unsettled: cny(cash.unsettledFen), cap: cny(cash.maxUnsettledFen) });
  line.dataset.available = String(cash.availableFen);
  line.dataset.held = String(cash.heldFen);
  line.dataset.unsettled = String(cash.unsettledFen);
  line.hidden = false;
}

function wireForms() {
  onSubmit("register-tenant", async v => {
    await client.POST("/api/v1/tenants", { body: {
      name: v.name, kind: v.kind, province: v.province, creditCode: v.creditCode || null,
      relatedPartyCreditCodes: [], credibilityStatement: v.credibilityStatement || null,
    } });
    await showTenant();
  });

  onSubmit("claim", async v => {
    const { data: voucher } = await client.POST("/api/v1/programs/{id}/vouchers", { params: { path: { id: v.programId } },
      body: { amountFen: v.amount ? Math.round(v.amount * 100) : null } });
    live?.offer("vouchers", voucher);
  });

  onSubmit("activity", async (v, form) => {
    const { data: voucher } = await client.POST("/api/v1/vouchers/{id}/activity", { params: { path: { id: v.voucherId } },
      body: { title: v.title, description: v.description, plannedGpuHours: Number(v.plannedGpuHours) } });
    live?.offer("vouchers", voucher);
    form.reset();
  });

  const start = /** @type {HTMLInputElement} */ (document.getElementById("bid-start"));
  start.value = beijingField(hourFromNow(0));
  start.addEventListener("input", checkStart);
  checkStart();

  onSubmit("cancel-reservation", async (v, form, key) => {
    const dialog = /** @type {HTMLDialogElement} */ (document.getElementById("cancel-dialog"));
    try {
      const { data: reservation } = await client.POST("/api/v1/reservations/{id}/cancel", { params: { path: { id: dialog.dataset.reservation } },
        middleware: [idempotencyKey(key)] });
      live?.offer("reservations", reservation);
    } finally {
      dialog.close();
    }
    // The voucher's hold is back: show it now rather than when the push arrives.
    (await client.GET("/api/v1/tenants/me/vouchers")).data.forEach(v => live?.offer("vouchers", v));
  });
  for (const button of document.querySelectorAll("dialog [data-close]")) {
    button.addEventListener("click", () => button.closest("dialog").close());
  }

  // One submission is one bid: its idempotency key and client order id are made once, and onSubmit ignores a second
  // submission (a double click) while the first is on its way.
  onSubmit("bid", async (v, form, key) => {
    const { data: bid } = await client.POST("/api/v1/bids", { body: { ...order(v), clientOrderId: key }, middleware: [idempotencyKey(key)] });
    live?.offer("bids", bid);
  });

  // By model or by compute: only the chosen half of the form is sent (a disabled fieldset is neither checked nor sent).
  for (const radio of document.querySelectorAll("#bid [name=by]")) {
    radio.addEventListener("change", () => {
      const compute = /** @type {HTMLInputElement} */ (document.querySelector("#bid [name=by][value=compute]")).checked;
      const byModel = /** @type {HTMLFieldSetElement} */ (document.getElementById("by-model"));
      const byCompute = /** @type {HTMLFieldSetElement} */ (document.getElementById("by-compute"));
      byModel.disabled = byModel.hidden = compute;
      byCompute.disabled = byCompute.hidden = !compute;
    });
  }

  document.getElementById("quote").addEventListener("click", () => attempt(async () => {
    const form = /** @type {HTMLFormElement} */ (document.getElementById("bid"));
    if (!form.reportValidity()) return;
    const { data: quote } = await client.POST("/api/v1/quotes", { body: { ...order(values(form)), timeInForce: "Ioc", goodUntil: null } });
    const result = document.getElementById("quote-result");
    result.hidden = false;
    result.textContent = quote.available
      ? t("sme.quoteAvailable", {
        province: label(quote.province), reliability: reliability(quote.providerReliabilityBasisPoints), start: when(quote.startsAt),
        price: cny(quote.fenPerGpuHour),
        cost: cny(quote.costFen), voucher: cny(quote.voucherFen), cash: cny(quote.cashFen),
      })
      : t("sme.quoteUnavailable", { reason: reasonText(quote.reasonCode, quote.reason) });
    // A compute quote lists every qualifying model, cheapest per PFLOPS-hour first, with both prices.
    const list = document.getElementById("quote-models");
    list.hidden = !quote.models;
    list.replaceChildren(...(quote.models ?? []).map(m => {
      const item = el("li", null, m.quote.available
        ? t("sme.quoteModel", { model: m.gpuModel, count: m.accelerators, hours: m.durationHours, perGpu: cny(m.quote.fenPerGpuHour), perPflops: cny(m.fenPerPflopsHour) })
        : t("sme.quoteModelNone", { model: m.gpuModel, count: m.accelerators, hours: m.durationHours, reason: reasonText(m.quote.reasonCode, m.quote.reason) }));
      item.dataset.model = m.gpuModel;
      return item;
    }));
  }));
}

/** Reads a bid again and shows it, if it is newer than the one shown. */
async function refreshBid(id) {
  live?.offer("bids", (await client.GET("/api/v1/bids/{id}", { params: { path: { id } } })).data);
}

/** Why a quote or bid found nothing: the reason code's words in Chinese, the API's own words otherwise. */
function reasonText(code, reason) {
  const key = `sme.reason.${code}`;
  return code && has(key) ? t(key) : reason ?? code ?? "";
}

/** Reservations start on the hour: a start that is not a whole hour is refused here, with the reason by the field. */
function checkStart() {
  const start = /** @type {HTMLInputElement} */ (document.getElementById("bid-start"));
  const note = document.getElementById("start-note");
  const wrong = start.value !== "" && !isWholeHour(start.value);
  start.setCustomValidity(wrong ? t("sme.startNotOnTheHour") : "");
  note.textContent = t(wrong ? "sme.startNotOnTheHour" : "sme.startOnTheHour");
  note.classList.toggle("wrong", wrong);
  note.setAttribute("role", wrong ? "alert" : "note");
}

/** The bid form as the API's bid body: the earliest and latest start as instants in Beijing time (+08:00). */
function order(v) {
  const earliestStart = fromBeijingField(v.start);
  const latestStart = fromBeijingField(beijingField(Date.parse(earliestStart) + Number(v.window) * 3600_000));
  if (v.by === "compute") {
    return {
      pflopsHours: Number(v.pflopsHours), minMemoryGb: v.minMemoryGb ? Number(v.minMemoryGb) : null, maxFenPerPflopsHour: Math.round(Number(v.maxPricePflops) * 100),
      vendors: v.vendor ? [v.vendor] : null, durationHours: Number(v.durationHours), earliestStart, latestStart, voucherId: v.voucherId || null,
      // A good-till-cancelled compute bid lasts until its latest start: it takes no good-until time.
      timeInForce: v.timeInForce, goodUntil: null, minReliabilityBasisPoints: minReliability(v),
    };
  }
  return {
    gpuModel: v.gpuModel, gpuCount: Number(v.gpuCount), durationHours: Number(v.durationHours), earliestStart, latestStart,
    maxFenPerGpuHour: Math.round(Number(v.maxPrice) * 100), voucherId: v.voucherId || null, timeInForce: v.timeInForce,
    goodUntil: v.timeInForce === "Gtc" ? latestStart : null, minReliabilityBasisPoints: minReliability(v),
  };
}

/** The optional minimum reliability, entered in percent, as basis points (null when left empty). */
const minReliability = v => (v.minReliability === "" || v.minReliability === undefined ? null : Math.round(Number(v.minReliability) * 100));

function showBids() {
  const list = [...bids.values()].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  fill(document.querySelector("#bids tbody"), list.map(b => {
    const o = b.order;
    const f = b.fills[0];
    const cancel = el("button", "danger", t("sme.cancel"));
    cancel.type = "button";
    cancel.setAttribute("aria-label", t("sme.cancelBid", { id: shortId(b.id) }));
    cancel.hidden = finalStates.includes(b.state);
    cancel.addEventListener("click", () => attempt(async () => {
      live?.offer("bids", (await client.DELETE("/api/v1/bids/{id}", { params: { path: { id: b.id } } })).data);
    }));
    return row([
      shortId(b.id), orderText(b), b.computeOrder ? t("sme.perPflopsHour", { price: cny(b.computeOrder.maxFenPerPflopsHour) }) : cny(o.maxFenPerGpuHour),
      badge(b.state),
      f ? t("sme.fill", { province: label(f.province), start: when(f.startsAt), price: cny(f.fenPerGpuHour) }) : reasonText(b.reasonCode, b.reason), cancel,
    ], { bid: b.id, state: b.state });
  }), t("sme.noBids"));
  for (const b of list) {
    if (b.state === "Filled" && !probe.rendered[b.id]) probe.rendered[b.id] = Date.now();
  }
}

/**
 * What a bid asks for: GPUs of a model, or compute (PFLOPS·时) for a compute bid, with the model and gang it filled as.
 * A resting compute bid names no model: it fills in whichever offers the compute cheapest.
 */
function orderText(b) {
  const o = b.order;
  if (!b.computeOrder) return t("sme.order", { count: o.gpuCount, model: o.gpuModel, hours: o.durationHours });
  const compute = { pflops: b.computeOrder.pflopsHours, hours: b.computeOrder.durationHours };
  return b.fills.length ? t("sme.computeFilledAs", { ...compute, count: o.gpuCount, model: o.gpuModel }) : t("sme.computeOrder", compute);
}

/** A programme by its name (its id only while the list of programmes does not have it). */
const programName = id => programNames.get(id) ?? id;

/** The programme whose voucher pays for a reservation: "—" for one paid in cash. */
function programOf(r) {
  const voucher = r.plan.voucherId ? vouchers.get(r.plan.voucherId) : null;
  return r.plan.voucherId ? (voucher ? programName(voucher.programId) : shortId(r.plan.voucherId)) : t("sme.cashOnly");
}

const providerOf = r => r.plan.providerName ?? r.plan.providerId;
const siteOf = r => r.plan.siteName ?? r.plan.siteId;

/** Only a confirmed reservation that has not started can be cancelled (the server's rule; its quote has the last word). */
const cancellable = r => r.state === "Confirmed" && Date.parse(r.plan.startsAt) > Date.now();

function showReservations() {
  const list = [...reservations.values()].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  fill(document.querySelector("#reservations tbody"), list.map(r => row([
    providerOf(r), siteOf(r), reliability(r.plan.providerReliabilityBasisPoints), label(r.plan.province), programOf(r), when(r.plan.startsAt), t("sme.gpuHours", { gpus: r.plan.gpus, hours: r.plan.hours }),
    cny(r.voucherFen), cny(r.cashFen), badge(r.state), cancelButton(r),
  ], { reservation: r.id, state: r.state })), t("sme.noReservations"));
}

function cancelButton(r) {
  const button = el("button", "danger", t("sme.cancelReservation"));
  button.type = "button";
  button.hidden = !cancellable(r);
  button.dataset.cancel = r.id;
  button.setAttribute("aria-label", t("sme.cancelReservationOf", { provider: providerOf(r), start: when(r.plan.startsAt) }));
  button.addEventListener("click", () => attempt(() => askToCancel(r)));
  return button;
}

/** Asks the server what cancelling would give back now, and shows it before the tenant confirms. */
async function askToCancel(r) {
  const { data: quote } = await client.GET("/api/v1/reservations/{id}/cancellation", { params: { path: { id: r.id } } });
  if (!quote.cancellable) {
    showProblem(t("sme.cannotCancel", { reason: reasonText(quote.refusalCode, quote.refusal) }));
    return;
  }
  const dialog = /** @type {HTMLDialogElement} */ (document.getElementById("cancel-dialog"));
  dialog.dataset.reservation = r.id;
  document.getElementById("cancel-what").textContent = t("sme.cancelWhat", {
    provider: providerOf(r), site: siteOf(r), start: when(r.plan.startsAt), gpus: r.plan.gpus, hours: r.plan.hours,
  });
  document.getElementById("cancel-voucher").textContent = cny(quote.voucherRefundFen);
  document.getElementById("cancel-cash").textContent = cny(quote.cashRefundFen);
  document.getElementById("cancel-charge").textContent = cny(quote.chargeFen);
  document.getElementById("cancel-as-of").textContent = t("sme.quotedAt", { time: when(quote.asOf) });
  dialog.showModal();
}

/** The voucher's evidence pack for auditors: claim, activity, rentals, ledger and a printable statement. */
function evidenceButton(v) {
  const button = el("button", "secondary", t("sme.evidence"));
  button.type = "button";
  button.dataset.evidence = v.id;
  button.setAttribute("aria-label", t("sme.evidenceOf", { id: v.id }));
  button.addEventListener("click", () => attempt(async () => {
    const { data } = await client.GET("/api/v1/vouchers/{id}/evidence", { params: { path: { id: v.id } }, parseAs: "blob" });
    saveFile(data, `evidence-${v.id}.zip`);
  }));
  return button;
}

function statementButton(v) {
  const button = el("button", "secondary", t("sme.statement"));
  button.type = "button";
  button.dataset.statement = v.id;
  button.setAttribute("aria-label", t("sme.statementOf", { id: v.id }));
  button.addEventListener("click", () => showStatement(v.id));
  return button;
}

/** What a reservation's voucher share is now: paid at settlement, held until then, or back on the voucher. */
function voucherUse(r) {
  if (r.state === "Cancelled" || r.state === "Failed") return { fen: r.voucherFen, use: "returned" };
  if (r.settlement) return { fen: r.settlement.voucherFen, use: "paid" };
  return { fen: r.voucherFen, use: "held" };
}

/** The voucher's statement: its totals and, per reservation it pays for, the hours, the provider and site, and the amount. */
function showStatement(voucherId) {
  const v = vouchers.get(voucherId);
  const dialog = /** @type {HTMLDialogElement} */ (document.getElementById("statement"));
  dialog.dataset.voucher = voucherId;
  document.getElementById("statement-title").textContent = t("sme.statementTitle", { program: programName(v.programId), id: shortId(v.id) });
  document.getElementById("statement-face").textContent = cny(v.faceValueFen);
  document.getElementById("statement-held").textContent = cny(v.heldFen);
  document.getElementById("statement-spent").textContent = cny(v.capturedFen);
  document.getElementById("statement-returned").textContent = cny(v.returnedFen);
  document.getElementById("statement-available").textContent = cny(available(v));
  const paid = [...reservations.values()].filter(r => r.plan.voucherId === voucherId)
    .sort((a, b) => Date.parse(a.plan.startsAt) - Date.parse(b.plan.startsAt));
  fill(document.querySelector("#statement-rows tbody"), paid.map(r => {
    const { fen, use } = voucherUse(r);
    // The hours the voucher pays for: those used once settled, else those booked (a cancelled reservation's end is its start).
    const hours = use === "paid" ? r.settlement.usedHours : r.plan.hours;
    return row([
      t("sme.span", { from: when(r.plan.startsAt), to: when(new Date(Date.parse(r.plan.startsAt) + hours * 3600_000).toISOString()) }), t("sme.gpuHours", { gpus: r.plan.gpus, hours }), providerOf(r), siteOf(r),
      badge(r.state), cny(fen), t(`sme.use.${use}`),
    ], { reservation: r.id, use });
  }), t("sme.noStatementRows"));
  if (!dialog.open) dialog.showModal();
}

const available = v => v.faceValueFen - v.heldFen - v.capturedFen - v.returnedFen;

function showVouchers() {
  const list = [...vouchers.values()].sort((a, b) => Date.parse(b.claimedAt) - Date.parse(a.claimedAt));
  const deadline = v => (v.state === "Claimed" ? t("sme.registerBy", { time: when(v.registrationDeadline) })
    : v.state === "Active" ? t("sme.validUntil", { time: when(v.expiresAt) }) : "—");
  fill(document.querySelector("#vouchers tbody"), list.map(v => row([
    shortId(v.id), programName(v.programId), badge(v.state), cny(v.faceValueFen), cny(available(v)), cny(v.heldFen), cny(v.capturedFen),
    percent(v.coverageBasisPoints), deadline(v), statementButton(v), evidenceButton(v),
  ], { voucher: v.id, state: v.state })), t("sme.noVouchers"));

  const open = list.filter(v => v.state === "Active" || v.state === "Claimed");
  document.getElementById("available").textContent = cny(open.reduce((n, v) => n + available(v), 0));
  document.getElementById("held").textContent = cny(open.reduce((n, v) => n + v.heldFen, 0));
  document.getElementById("spent").textContent = cny(list.reduce((n, v) => n + v.capturedFen, 0));
  const next = open.map(v => (v.state === "Claimed" ? v.registrationDeadline : v.expiresAt)).filter(Boolean).sort()[0];
  document.getElementById("deadline").textContent = day(next);

  options(document.getElementById("claimed-vouchers"), list.filter(v => v.state === "Claimed").map(v => [v.id, `${shortId(v.id)} (${programName(v.programId)})`]),
    t("sme.chooseClaimed"));
  options(document.getElementById("active-vouchers"), list.filter(v => v.state === "Active").map(v => [v.id, `${shortId(v.id)} · ${cny(available(v))}`]),
    t("sme.noVoucher"));
}

/** An open statement follows its voucher and its reservations as they change. */
function refreshStatement() {
  const statement = /** @type {HTMLDialogElement} */ (document.getElementById("statement"));
  if (statement.open && vouchers.has(statement.dataset.voucher)) showStatement(statement.dataset.voucher);
}
