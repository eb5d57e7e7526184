// The login page: sign-in with an account (the code flow with PKCE), and why the last session ended, if it ended by itself.

import { showProblem } from "./session.js";
import { startSignIn } from "./account.js";

if (new URLSearchParams(location.search).has("expired")) {
  showProblem("登录已过期，请重新登录。 Your sign-in has expired; sign in again.");
}

const account = document.getElementById("account-sign-in");
account.addEventListener("click", () => startSignIn());
// Enabled only now: a click before the handler is attached would do nothing.
account.disabled = false;
