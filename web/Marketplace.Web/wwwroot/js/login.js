// The login page: sign-in with an account, or (Development) a development token for the chosen role, kept in this tab's session storage.

import { signIn, homeOf, showProblem, clearProblem } from "./session.js";
import { startSignIn } from "./account.js";

const form = document.getElementById("login");
const role = document.getElementById("role");
const idField = document.getElementById("id-field");
const id = document.getElementById("id");

function showIdField() {
  const needsId = role.value === "sme" || role.value === "provider";
  idField.hidden = !needsId;
  id.required = needsId;
  idField.firstChild.textContent = role.value === "provider" ? "Provider id " : "Tenant id ";
  id.placeholder = role.value === "provider" ? "e.g. x-gansu-dc" : "e.g. t-acme";
}

const requested = new URLSearchParams(location.search).get("role");
if (requested && homeOf[requested]) role.value = requested;
role.addEventListener("change", showIdField);
showIdField();

form.addEventListener("submit", async event => {
  event.preventDefault();
  clearProblem();
  const body = { role: role.value };
  if (role.value === "sme") body.tenantId = id.value.trim();
  if (role.value === "provider") body.providerId = id.value.trim();
  const response = await fetch("/api/v1/auth/dev-token", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (response.status === 404) {
    showProblem("Development tokens are turned off on this server (they exist in the Development environment only).");
    return;
  }
  const value = await response.json();
  if (!response.ok) {
    showProblem([value.title, ...Object.values(value.errors ?? {}).flat()].join(" — "));
    return;
  }
  signIn(value);
  location.href = homeOf[value.role];
});

const account = document.getElementById("account-sign-in");
account.addEventListener("click", () => startSignIn());

// Enabled only now: a click before the handler is attached would submit the form to itself.
document.getElementById("sign-in").disabled = false;
account.disabled = false;
