// The signed-in user (an account's tokens from the code flow, kept for this browser tab) and calls to the API on its behalf.
// The access token's expiry is kept with it: a token about to expire is renewed with the refresh token before it is used,
// and a session that cannot be renewed ends with one clear message on the login page, never with a stream of 401s.

import createClient from "/lib/openapi-fetch.js";
import { values } from "./format.js";
import { t, problemText, lang } from "./i18n.js";

const key = "marketplace.session";
/** The dashboards' OpenID Connect client (public: authorization code with PKCE, refresh tokens). */
export const dashboardClient = "marketplace-dashboards";

/** A token this close to its expiry is renewed first: a request sent with it could arrive after it expired. */
const renewBeforeMs = 30_000;

export const homeOf = { sme: "sme.html", provider: "provider.html", regulator: "regulator.html", admin: "regulator.html" };

/** The login page's address after a session ended by itself; the login page says why. */
export const expiredSignIn = "login.html?expired=1";

/** Set once the session has ended and the page is on its way to the login page: nothing more is shown or asked. */
let ending = false;

/** The renewal under way, shared by every caller that needs a token meanwhile (a refresh token is used once). */
let renewing = null;

/** The renewal due at the token's expiry, so a page left open renews (or ends) its session when it expires, not on the next click. */
let renewal = null;

function scheduleRenewal(current) {
  clearTimeout(renewal);
  renewal = setTimeout(() => freshToken().catch(e => { if (!(e instanceof SessionEnded)) showProblem(e.message); }),
    Math.max(0, current.expiresAt - renewBeforeMs - Date.now()));
}

export function session() {
  const text = sessionStorage.getItem(key);
  return text ? JSON.parse(text) : null;
}

/** Keeps the token response of /connect/token: the access token's claims say who it is, expires_in when it ends. */
export function signIn(tokens) {
  const claims = JSON.parse(atob(tokens.access_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  const value = {
    token: tokens.access_token,
    refreshToken: tokens.refresh_token ?? null,
    expiresAt: Date.now() + tokens.expires_in * 1000,
    role: claims.role,
    tenantId: claims.tenant_id ?? null,
    providerId: claims.provider_id ?? null,
  };
  sessionStorage.setItem(key, JSON.stringify(value));
  return value;
}

export function signOut() {
  sessionStorage.removeItem(key);
  ending = true;
  // The sign-in session lives at the provider too: end it there, or the next sign-in would not ask for the password.
  location.href = "/connect/endsession";
}

/** Ends a session that expired or was refused: back to the login page, which says so. */
export function expire() {
  sessionStorage.removeItem(key);
  if (!ending) {
    ending = true;
    location.replace(expiredSignIn);
  }
  return new SessionEnded();
}

/** Thrown to callers once the session has ended; the login page explains, so no page shows it. */
export class SessionEnded extends Error {
  constructor() {
    super(t("common.sessionExpired"));
  }
}

async function renew(current) {
  if (!current.refreshToken) throw expire();
  const response = await fetch("/connect/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", client_id: dashboardClient, refresh_token: current.refreshToken }),
  });
  // Refused (revoked, expired, the account locked): the user signs in again. A fault on the way (a 503 while the
  // database restarts, a 429) keeps the session: the next call or the scheduled renewal tries again.
  if (response.status === 400 || response.status === 401) throw expire();
  if (!response.ok) throw new Error(t("common.renewFailed", { status: response.status }));
  const renewed = signIn(await response.json());
  scheduleRenewal(renewed);
  return renewed;
}

/** The access token to send now, renewed first if it expires within renewBeforeMs; throws SessionEnded if it cannot be. */
export async function freshToken() {
  const current = session();
  if (!current) throw expire();
  if (Date.now() < current.expiresAt - renewBeforeMs) return current.token;
  renewing ??= renew(current).finally(() => { renewing = null; });
  return (await renewing).token;
}

/** The session if its role may use this page; otherwise off to the login page (or a message saying why not). */
export function requireRole(...roles) {
  const current = session();
  if (!current) {
    location.replace("login.html");
    return null;
  }
  if (Date.now() >= current.expiresAt && !current.refreshToken) {
    expire();
    return null;
  }
  if (!roles.includes(current.role)) {
    showProblem(t("common.wrongRole", { roles: roles.map(roleName).join(t("common.or")), role: roleName(current.role) }));
    return null;
  }
  scheduleRenewal(current);
  /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("[data-signed-in]")).forEach(e => {
    e.textContent = `${roleName(current.role)} · ${organisationOf(current)}`;
    e.dataset.role = current.role;
  });
  document.querySelectorAll("[data-sign-out]").forEach(e => e.addEventListener("click", signOut));
  return current;
}

/** Whom the session acts for: its tenant, its provider, or the programme office. */
function organisationOf(current) {
  return current.tenantId ?? current.providerId ?? t("common.programmeOffice");
}

/** A role as the reader calls it: 企业, 算力服务商, ... in Chinese; the role's own name in English. */
function roleName(role) {
  return lang() === "en" ? role : t(`common.role.${role}`);
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(describe(status, problem));
    this.status = status;
    this.problem = problem;
  }
}

/** A problem's text in the reader's language: its code's text (the fields named), or the API's own English words. */
function describe(status, problem) {
  if (status === 403 && !problem?.title) return t("common.forbidden");
  const text = problemText(problem, status);
  const fields = problem?.errors ? Object.entries(problem.errors) : [];
  if (text !== problem?.title) return [text, fields.map(([field]) => field).join(", ")].filter(Boolean).join(" — ");
  const errors = fields.map(([field, messages]) => `${field}: ${[].concat(messages).join(", ")}`);
  return [text, problem?.detail, ...errors].filter(Boolean).join(" — ");
}

/**
 * Sends a request of the API client with a fresh token; a token the API refuses is renewed once and the request sent
 * again, then the session ends. The body is read once, as bytes, so that it can be sent twice.
 * @param {Request} request
 */
async function authorizedFetch(request) {
  const body = request.body === null ? undefined : await request.arrayBuffer();
  let sent;
  const send = async () => {
    sent = await freshToken();
    const headers = new Headers(request.headers);
    headers.set("Authorization", `Bearer ${sent}`);
    return fetch(request.url, { method: request.method, headers, body });
  };
  let response = await send();
  if (response.status === 401) {
    renewBeforeUse(sent);
    response = await send();
    if (response.status === 401) throw expire();
  }
  return response;
}

/**
 * A token refused before its expiry (revoked, or signed with a key the server no longer has) is renewed once before the
 * next use: the caller tries once more, and a second refusal ends the session. Requests refused together renew once:
 * a refused token that is no longer the session's was renewed already. Without a refresh token the session ends now.
 */
export function renewBeforeUse(refusedToken) {
  const current = session();
  if (!current?.refreshToken) throw expire();
  if (current.token !== refusedToken) return;
  current.expiresAt = 0;
  sessionStorage.setItem(key, JSON.stringify(current));
}

/**
 * The API, typed from its OpenAPI document (openapi.json; npm run check), called with the session's token. Each call
 * names its path as the document does, its parameters and its body: `client.GET("/api/v1/programs/{id}", { params: {
 * path: { id } } })`. A non-2xx answer throws an ApiError (its problem in the reader's language), so a call answers its
 * data or throws, as attempt() expects. POSTs carry an idempotency key, so a retried request is never applied twice: a
 * fresh one unless the call passes its submission's (idempotencyKey below, one per form submission).
 * @type {import("/lib/openapi-fetch.js").Client<import("../../types/api-schema").paths>}
 */
export const client = createClient({ fetch: authorizedFetch });
client.use({
  onRequest({ request }) {
    if (request.method === "POST" && !request.headers.has("Idempotency-Key")) request.headers.set("Idempotency-Key", crypto.randomUUID());
    return request;
  },
  async onResponse({ response }) {
    if (response.ok) return response;
    const text = await response.text();
    throw new ApiError(response.status, text ? JSON.parse(text) : null);
  },
});

/**
 * A call's middleware that sends the key of its action (one per form submission, as onSubmit gives it), so that the
 * same submission sent again is applied once: `client.POST(path, { body, middleware: [idempotencyKey(key)] })`.
 * @param {string} key
 * @returns {import("/lib/openapi-fetch.js").Middleware}
 */
export function idempotencyKey(key) {
  return { onRequest({ request }) { request.headers.set("Idempotency-Key", key); return request; } };
}

/**
 * A call's middleware that sends the version a change was made from: the server refuses it (412) when the thing has
 * changed since.
 * @param {string | number} version
 * @returns {import("/lib/openapi-fetch.js").Middleware}
 */
export function ifMatch(version) {
  return { onRequest({ request }) { request.headers.set("If-Match", `"${version}"`); return request; } };
}

/** Shows a problem in the page's banner (nothing once the session has ended: the login page says why). */
export function showProblem(message) {
  const banner = document.getElementById("problem");
  if (!banner || ending) return;
  banner.textContent = message;
  banner.hidden = false;
}

export function clearProblem() {
  const banner = document.getElementById("problem");
  if (banner) banner.hidden = true;
}

/** Runs a form's action, showing its error (if any) in the banner instead of losing it. */
export async function attempt(action) {
  clearProblem();
  try {
    return await action();
  } catch (e) {
    if (!(e instanceof SessionEnded)) showProblem(e.message);
    return undefined;
  }
}

/**
 * Runs the action with the form's values, the form and the submission's idempotency key each time it is submitted,
 * through attempt. While it runs the form's submit buttons are disabled and a second submission is ignored, so a double
 * click acts once.
 */
export function onSubmit(id, action) {
  const form = document.getElementById(id);
  let busy = false;
  form.addEventListener("submit", async event => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    const buttons = [.../** @type {NodeListOf<HTMLButtonElement>} */ (form.querySelectorAll("button[type=submit], button:not([type])"))];
    buttons.forEach(b => { b.disabled = true; });
    try {
      await attempt(() => action(values(form), form, crypto.randomUUID()));
    } finally {
      busy = false;
      buttons.forEach(b => { b.disabled = false; });
    }
  });
}
