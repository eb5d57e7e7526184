// The live connection to the market hub, shared by every page.
//
// Each pushed message is PushMessage { seq, at, data }: seq is the version of the thing that changed (or of the
// aggregate) and data is the whole thing. On every (re)connect the page takes a snapshot; from then on a thing is
// applied only when its version is higher than the one held, so an update that crossed the snapshot is never
// applied twice and an older one never overwrites a newer. Versions may skip (the server sends only the latest of
// several quick changes), which is not a gap: each update carries the whole thing.

import { freshToken, expire, renewBeforeUse, showProblem, clearProblem, SessionEnded } from "./session.js";
import { t } from "./i18n.js";

const entityKinds = {
  BidUpdated: "bids",
  ReservationUpdated: "reservations",
  VoucherUpdated: "vouchers",
  PoolUpdated: "pools",
};

/** What the page holds of each kind of thing, by id, at the version it holds. */
export class Held {
  constructor() {
    this.versions = new Map();
  }

  /** True when the thing is newer than the one held (it is then held). */
  accept(kind, id, version) {
    const key = `${kind}:${id}`;
    if ((this.versions.get(key) ?? -1) >= version) return false;
    this.versions.set(key, version);
    return true;
  }
}

/** Counters and arrival times the browser tests read (never used by the pages themselves). */
export const probe = (window.__marketplace ??= { connected: false, snapshots: 0, applied: 0, skipped: 0, rendered: {} });

/**
 * Connects to the hub and keeps connected. handlers: { bids(list), reservations(list), vouchers(list), pools(list),
 * utilization(snapshot), takeUp(list) } each called with the things that changed (and only those). Returns the
 * connection and offer(kind, thing), through which a page passes what an API call answered, under the same rule.
 */
export async function connectPush(handlers) {
  const held = new Held();
  let utilizationVersion = -1;
  let takeUpAt = -Infinity;

  const deliver = (kind, things) => {
    const fresh = things.filter(t => held.accept(kind, t.id, t.version));
    probe.applied += fresh.length;
    probe.skipped += things.length - fresh.length;
    if (fresh.length && handlers[kind]) handlers[kind](fresh);
  };
  const utilization = (snapshot, version) => {
    if (!snapshot || version <= utilizationVersion) return;
    utilizationVersion = version;
    handlers.utilization?.(snapshot);
  };
  const takeUp = (list, at) => {
    const time = Date.parse(at);
    if (!list || time < takeUpAt) return;
    takeUpAt = time;
    handlers.takeUp?.(list);
  };

  let offered; // the token the hub was last given
  const connection = new signalR.HubConnectionBuilder()
    .withUrl("/hubs/market", { accessTokenFactory: async () => (offered = await freshToken()) })
    .withAutomaticReconnect({ nextRetryDelayInMilliseconds: c => Math.min(1000 * 2 ** c.previousRetryCount, 10000) })
    .configureLogging(signalR.LogLevel.Warning)
    .build();

  for (const [method, kind] of Object.entries(entityKinds)) {
    connection.on(method, message => deliver(kind, [message.data]));
  }
  connection.on("UtilizationUpdated", message => utilization(message.data, message.seq));
  connection.on("TakeUpUpdated", message => takeUp(message.data, message.at));

  const loadSnapshot = async () => {
    const snapshot = await connection.invoke("Snapshot");
    for (const kind of Object.values(entityKinds)) {
      if (snapshot[kind]) deliver(kind, snapshot[kind]);
    }
    if (snapshot.utilization) utilization(snapshot.utilization, snapshot.utilization.version);
    if (snapshot.takeUp) takeUp(snapshot.takeUp, snapshot.takeUp[0]?.at ?? snapshot.at);
    probe.snapshots += 1;
    probe.connected = true;
    setStatus("live");
  };

  connection.onreconnecting(() => { probe.connected = false; setStatus("reconnecting"); });
  connection.onreconnected(() => loadSnapshot().catch(e => showProblem(t("common.reloadFailed", { message: e.message }))));
  connection.onclose(() => { probe.connected = false; setStatus("offline"); });

  const live = { connection, offer: (kind, thing) => deliver(kind, [thing]) };
  const refused = e => /401/.test(e.message);
  try {
    try {
      await connection.start();
    } catch (e) {
      // The hub refused a token before its expiry: renewed once, then a second refusal ends the session.
      if (!refused(e)) throw e;
      renewBeforeUse(offered);
      await connection.start();
    }
    clearProblem();
    await loadSnapshot();
  } catch (e) {
    setStatus("offline");
    // Refused twice, or renewing failed: the session is over, and the login page says so.
    if (refused(e)) expire();
    else if (!(e instanceof SessionEnded)) showProblem(t("common.noLive", { message: e.message }));
  }
  return live;
}

function setStatus(state) {
  /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("[data-live]")).forEach(e => {
    e.textContent = t(`common.live.${state}`);
    e.dataset.live = state;
  });
}
