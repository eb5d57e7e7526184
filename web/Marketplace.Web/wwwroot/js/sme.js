// The SME console: the tenant's vouchers, quotes and bids, with bid and reservation status pushed live.

import { requireRole, api, attempt, onSubmit, showProblem } from "./session.js";
import { connectPush, probe } from "./push.js";
import { cny, percent, when, day, shortId, el, row, fill, badge, values, options, hourFromNow } from "./format.js";
import { provinceNames, label } from "./provinces.js";
import { downloadEvidence } from "./evidence.js";
import { t, has, translate, languageSwitch } from "./i18n.js";
import "./strings/sme.js";

const bids = new Map();
const reservations = new Map();
const vouchers = new Map();
const finalStates = ["Filled", "PartiallyFilled", "Cancelled", "Expired", "Rejected"];

let live = null;

translate();
languageSwitch();
const me = requireRole("sme");
if (me) {
  start().catch(e => showProblem(e.message));
}

async function start() {
  wireForms();
  const [programs, models] = await Promise.all([api("GET", "/programs"), api("GET", "/markets")]);
  options(document.getElementById("programs"), programs.map(p => [p.id, `${p.name} (${label(p.province)})`]), programs.length ? null : t("sme.noPrograms"));
  options(document.getElementById("models"), models.map(m => [m, m]));
  options(document.getElementById("tenant-province"), provinceNames.map(p => [p, label(p)]));
  await showTenant();
  live = await connectPush({
    bids: list => { list.forEach(b => bids.set(b.id, b)); showBids(); },
    reservations: list => { list.forEach(r => reservations.set(r.id, r)); showReservations(); },
    vouchers: list => { list.forEach(v => vouchers.set(v.id, v)); showVouchers(); },
  });
  showBids();
  showReservations();
  showVouchers();
}

async function showTenant() {
  const text = document.getElementById("tenant");
  const form = document.getElementById("register-tenant");
  try {
    const tenant = await api("GET", "/tenants/me");
    const r = tenant.registration;
    text.textContent = t("sme.tenantShown", {
      name: r.name, kind: t(`sme.kind.${r.kind}`), province: label(r.province), code: r.creditCode ? ` · ${r.creditCode}` : "",
    });
    form.hidden = true;
  } catch (e) {
    if (e.status !== 404) throw e;
    text.textContent = t("sme.notRegistered", { id: me.tenantId });
    form.hidden = false;
  }
}

function wireForms() {
  onSubmit("register-tenant", async v => {
    await api("POST", "/tenants", {
      name: v.name, kind: v.kind, province: v.province, creditCode: v.creditCode || null,
      relatedPartyCreditCodes: [], credibilityStatement: v.credibilityStatement || null,
    });
    await showTenant();
  });

  onSubmit("claim", async v => {
    live?.offer("vouchers", await api("POST", `/programs/${encodeURIComponent(v.programId)}/vouchers`, { amountFen: v.amount ? Math.round(v.amount * 100) : null }));
  });

  onSubmit("activity", async (v, form) => {
    live?.offer("vouchers", await api("POST", `/vouchers/${encodeURIComponent(v.voucherId)}/activity`,
      { title: v.title, description: v.description, plannedGpuHours: Number(v.plannedGpuHours) }));
    form.reset();
  });

  // One submission is one bid: its idempotency key and client order id are made once, and onSubmit ignores a second
  // submission (a double click) while the first is on its way.
  onSubmit("bid", async (v, form, key) => {
    live?.offer("bids", await api("POST", "/bids", { ...order(v), clientOrderId: key }, { idempotencyKey: key }));
  });

  document.getElementById("quote").addEventListener("click", () => attempt(async () => {
    const form = document.getElementById("bid");
    if (!form.reportValidity()) return;
    const quote = await api("POST", "/quotes", { ...order(values(form)), timeInForce: "Ioc", goodUntil: null });
    const result = document.getElementById("quote-result");
    result.hidden = false;
    result.textContent = quote.available
      ? t("sme.quoteAvailable", {
        province: label(quote.province), start: when(quote.startsAt), price: cny(quote.fenPerGpuHour),
        cost: cny(quote.costFen), voucher: cny(quote.voucherFen), cash: cny(quote.cashFen),
      })
      : t("sme.quoteUnavailable", { reason: reasonText(quote.reasonCode, quote.reason) });
  }));
}

/** Why a quote or bid found nothing: the reason code's words in Chinese, the API's own words otherwise. */
function reasonText(code, reason) {
  const key = `sme.reason.${code}`;
  return code && has(key) ? t(key) : reason ?? code ?? "";
}

/** The bid form as the API's bid body. */
function order(v) {
  const earliestStart = hourFromNow(Number(v.startIn));
  const latestStart = new Date(Date.parse(earliestStart) + Number(v.window) * 3600_000).toISOString();
  return {
    gpuModel: v.gpuModel, gpuCount: Number(v.gpuCount), durationHours: Number(v.durationHours), earliestStart, latestStart,
    maxFenPerGpuHour: Math.round(Number(v.maxPrice) * 100), voucherId: v.voucherId || null, timeInForce: v.timeInForce,
    goodUntil: v.timeInForce === "Gtc" ? latestStart : null,
  };
}

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
      live?.offer("bids", await api("DELETE", `/bids/${encodeURIComponent(b.id)}`));
    }));
    return row([
      shortId(b.id), t("sme.order", { count: o.gpuCount, model: o.gpuModel, hours: o.durationHours }), cny(o.maxFenPerGpuHour), badge(b.state),
      f ? t("sme.fill", { province: label(f.province), start: when(f.startsAt), price: cny(f.fenPerGpuHour) }) : reasonText(b.reasonCode, b.reason), cancel,
    ], { bid: b.id, state: b.state });
  }), t("sme.noBids"));
  for (const b of list) {
    if (b.state === "Filled" && !probe.rendered[b.id]) probe.rendered[b.id] = Date.now();
  }
}

function showReservations() {
  const list = [...reservations.values()].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  fill(document.querySelector("#reservations tbody"), list.map(r => row([
    label(r.plan.province), when(r.plan.startsAt), t("sme.gpuHours", { gpus: r.plan.gpus, hours: r.plan.hours }), cny(r.voucherFen), cny(r.cashFen), badge(r.state),
  ], { reservation: r.id, state: r.state })), t("sme.noReservations"));
}

/** The voucher's evidence pack for auditors: claim, activity, rentals, ledger and a printable statement. */
function evidenceButton(v) {
  const button = el("button", "secondary", t("sme.evidence"));
  button.type = "button";
  button.dataset.evidence = v.id;
  button.setAttribute("aria-label", t("sme.evidenceOf", { id: v.id }));
  button.addEventListener("click", () => attempt(() => downloadEvidence(`/vouchers/${encodeURIComponent(v.id)}/evidence`, `evidence-${v.id}.zip`)));
  return button;
}

function showVouchers() {
  const list = [...vouchers.values()].sort((a, b) => Date.parse(b.claimedAt) - Date.parse(a.claimedAt));
  const available = v => v.faceValueFen - v.heldFen - v.capturedFen - v.returnedFen;
  const deadline = v => (v.state === "Claimed" ? t("sme.registerBy", { time: when(v.registrationDeadline) })
    : v.state === "Active" ? t("sme.validUntil", { time: when(v.expiresAt) }) : "—");
  fill(document.querySelector("#vouchers tbody"), list.map(v => row([
    shortId(v.id), v.programId, badge(v.state), cny(v.faceValueFen), cny(available(v)), cny(v.heldFen), cny(v.capturedFen),
    percent(v.coverageBasisPoints), deadline(v), evidenceButton(v),
  ], { voucher: v.id, state: v.state })), t("sme.noVouchers"));

  const open = list.filter(v => v.state === "Active" || v.state === "Claimed");
  document.getElementById("available").textContent = cny(open.reduce((n, v) => n + available(v), 0));
  document.getElementById("held").textContent = cny(open.reduce((n, v) => n + v.heldFen, 0));
  document.getElementById("spent").textContent = cny(list.reduce((n, v) => n + v.capturedFen, 0));
  const next = open.map(v => (v.state === "Claimed" ? v.registrationDeadline : v.expiresAt)).filter(Boolean).sort()[0];
  document.getElementById("deadline").textContent = day(next);

  options(document.getElementById("claimed-vouchers"), list.filter(v => v.state === "Claimed").map(v => [v.id, `${shortId(v.id)} (${v.programId})`]),
    t("sme.chooseClaimed"));
  options(document.getElementById("active-vouchers"), list.filter(v => v.state === "Active").map(v => [v.id, `${shortId(v.id)} · ${cny(available(v))}`]),
    t("sme.noVoucher"));
}
