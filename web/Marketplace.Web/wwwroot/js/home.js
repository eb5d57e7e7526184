// The home page: the consoles in the reader's language.

import { translate, languageSwitch } from "./i18n.js";
import "./strings/pages.js";

translate();
languageSwitch();
