// The pages' languages: Simplified Chinese first, English as a choice the browser remembers.
// Each module registers its own strings (keys prefixed by the module's name) with strings(); t() looks a key up in the
// current language; translate() fills the static markup marked with data-i18n attributes.

import common from "./strings/common.js";

/** Where the reader's choice of language is kept. */
const storageKey = "marketplace.lang";
const languages = ["zh", "en"];
const tables = { zh: {}, en: {} };

/** The current language: "zh" unless the reader chose English. */
export function lang() {
  try {
    return localStorage.getItem(storageKey) === "en" ? "en" : "zh";
  } catch {
    return "zh";
  }
}

/** Keeps the choice and shows the page again in that language. */
export function setLang(code) {
  localStorage.setItem(storageKey, code === "en" ? "en" : "zh");
  location.reload();
}

/** Registers a module's strings: { zh: { key: text }, en: { key: text } }. */
export function strings(table) {
  for (const code of languages) Object.assign(tables[code], table[code] ?? {});
}

/** The text of a key in the current language with its {name} placeholders filled from vars; an unknown key is itself. */
export function t(key, vars = {}) {
  const text = tables[lang()][key];
  if (text === undefined) return key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** Whether a key is known in the current language. */
export function has(key) {
  return tables[lang()][key] !== undefined;
}

const attributes = { i18nPlaceholder: "placeholder", i18nAriaLabel: "aria-label", i18nTitle: "title" };

/** Fills the text of [data-i18n] elements and the attributes named by data-i18n-placeholder, -aria-label and -title. */
export function translate(root = document) {
  const scope = root.querySelectorAll ? root : document;
  for (const element of /** @type {NodeListOf<HTMLElement>} */ (scope.querySelectorAll("[data-i18n]"))) element.textContent = t(element.dataset.i18n);
  for (const [name, attribute] of Object.entries(attributes)) {
    const selector = `[data-${name.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)}]`;
    for (const element of /** @type {NodeListOf<HTMLElement>} */ (scope.querySelectorAll(selector))) element.setAttribute(attribute, t(element.dataset[name]));
  }
  document.documentElement.lang = lang() === "zh" ? "zh-CN" : "en";
}

/** The text of an API problem: its stable code's text when there is one, else its title, else a general failure. */
export function problemText(problem, status) {
  const code = problem?.code;
  if (code && has(`problem.${code}`)) return t(`problem.${code}`);
  if (problem?.title) return problem.title;
  return t("common.requestFailed", { status: status ?? problem?.status ?? "" });
}

/** Wires the header's language switch ([data-lang-switch]): it names the other language and turns the page to it. */
export function languageSwitch(root = document) {
  for (const button of /** @type {NodeListOf<HTMLElement>} */ (root.querySelectorAll("[data-lang-switch]"))) {
    const other = lang() === "zh" ? "en" : "zh";
    button.textContent = other === "en" ? "English" : "中文";
    button.lang = other === "en" ? "en" : "zh-CN";
    button.title = t("common.switchLanguage");
    button.addEventListener("click", () => setLang(other));
  }
}

strings(common);
