// Sign-in with an account: the OpenID Connect authorization code flow with PKCE against this marketplace's own provider.
// The verifier stays in this tab's session storage until the provider sends the browser back to signed-in.html.

import { signIn, homeOf, showProblem, dashboardClient as client } from "./session.js";
import { t } from "./i18n.js";
import "./strings/pages.js";
const pending = "marketplace.pkce";

function base64Url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const redirectUri = () => new URL("signed-in.html", location.href).href;

/** Off to the provider's authorization endpoint; it shows its sign-in page when the browser has no session there. */
export async function startSignIn() {
  const verifier = base64Url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64Url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = base64Url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(pending, JSON.stringify({ verifier, state }));
  const query = new URLSearchParams({
    client_id: client, response_type: "code", scope: "openid offline_access marketplace", redirect_uri: redirectUri(),
    state, code_challenge: challenge, code_challenge_method: "S256",
  });
  location.href = `/connect/authorize?${query}`;
}

/** On signed-in.html: trades the code for tokens and opens the page of the account's role. */
export async function finishSignIn() {
  const params = new URLSearchParams(location.search);
  const started = JSON.parse(sessionStorage.getItem(pending) ?? "null");
  sessionStorage.removeItem(pending);
  if (params.get("error")) {
    showProblem(t("login.failed", { reason: params.get("error_description") ?? params.get("error") }));
    return;
  }
  if (!started || params.get("state") !== started.state) {
    showProblem(t("login.notStarted"));
    return;
  }
  const response = await fetch("/connect/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", client_id: client, code: params.get("code"), redirect_uri: redirectUri(), code_verifier: started.verifier,
    }),
  });
  const tokens = await response.json();
  if (!response.ok) {
    showProblem(t("login.failed", { reason: tokens.error_description ?? tokens.error }));
    return;
  }
  location.replace(homeOf[signIn(tokens).role]);
}
