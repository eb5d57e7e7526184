// The signed-in user (a development token kept for this browser tab) and calls to the API on its behalf.

import { values } from "./format.js";

const key = "marketplace.session";

export const homeOf = { sme: "sme.html", provider: "provider.html", regulator: "regulator.html", admin: "regulator.html" };

export function session() {
  const text = sessionStorage.getItem(key);
  return text ? JSON.parse(text) : null;
}

export function signIn(value) {
  sessionStorage.setItem(key, JSON.stringify(value));
}

export function signOut() {
  const current = session();
  sessionStorage.removeItem(key);
  // An account's sign-in session lives at the provider too: end it there, or the next sign-in would not ask for the password.
  location.href = current?.account ? "/connect/endsession" : "login.html";
}

/** The session if its role may use this page; otherwise off to the login page (or a message saying why not). */
export function requireRole(...roles) {
  const current = session();
  if (!current) {
    location.replace("login.html");
    return null;
  }
  if (!roles.includes(current.role)) {
    showProblem(`This page is for ${roles.join(" or ")} users; you are signed in as ${current.role}.`);
    return null;
  }
  document.querySelectorAll("[data-signed-in]").forEach(e => { e.textContent = `${current.role} · ${current.tenantId ?? current.providerId ?? "oversight"}`; });
  document.querySelectorAll("[data-sign-out]").forEach(e => e.addEventListener("click", signOut));
  return current;
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(describe(status, problem));
    this.status = status;
    this.problem = problem;
  }
}

function describe(status, problem) {
  if (status === 401) return "Your sign-in has expired or is not valid. Sign in again.";
  if (status === 403) return "Your role may not do this.";
  const errors = problem?.errors ? Object.entries(problem.errors).map(([field, messages]) => `${field}: ${[].concat(messages).join(", ")}`) : [];
  return [problem?.title ?? `The request failed (${status})`, problem?.detail, ...errors].filter(Boolean).join(" — ");
}

/** Calls the API with the session's token. POSTs carry a fresh idempotency key, so a retried click is never applied twice. */
export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${session()?.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method === "POST") headers["Idempotency-Key"] = crypto.randomUUID();
  const response = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const value = text ? JSON.parse(text) : null;
  if (!response.ok) {
    if (response.status === 401) showProblem(describe(401), true);
    throw new ApiError(response.status, value);
  }
  return value;
}

/** Shows a problem in the page's banner; a 401 also offers the way back to the login page. */
export function showProblem(message, signInAgain = false) {
  const banner = document.getElementById("problem");
  if (!banner) return;
  banner.textContent = message;
  if (signInAgain) {
    const link = document.createElement("a");
    link.href = "login.html";
    link.textContent = " Sign in";
    banner.append(link);
  }
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
    showProblem(e.message);
    return undefined;
  }
}

/** Runs the action with the form's values (and the form) each time it is submitted, through attempt. */
export function onSubmit(id, action) {
  document.getElementById(id).addEventListener("submit", event => {
    event.preventDefault();
    attempt(() => action(values(event.target), event.target));
  });
}
