// The page the sign-in returns to.

import { finishSignIn } from "./account.js";
import { translate, languageSwitch } from "./i18n.js";
import "./strings/pages.js";

translate();
languageSwitch();

finishSignIn();
