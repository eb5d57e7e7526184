// The login page: sign-in with an account (the code flow with PKCE), and why the last session ended, if it ended by itself.

import { showProblem } from "./session.js";
import { startSignIn } from "./account.js";
import { t, translate, languageSwitch } from "./i18n.js";
import "./strings/pages.js";
import "./strings/login.js";

translate();
languageSwitch();
if (new URLSearchParams(location.search).has("expired")) {
  showProblem(t("common.sessionExpired"));
}

const account = /** @type {HTMLButtonElement} */ (document.getElementById("account-sign-in"));
account.addEventListener("click", () => startSignIn());
// Enabled only now: a click before the handler is attached would do nothing.
account.disabled = false;
