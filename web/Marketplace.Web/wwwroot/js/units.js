// The unit capacity is read in: GPUs, or compute in PFLOPS of dense BF16/FP16 from the accelerator catalogue. The browser
// remembers the choice, as it does the language; a page redraws what it shows in the unit when it changes.

import { strings, t, lang } from "./i18n.js";

strings({
  zh: {
    "units.toPflops": "按算力（PFLOPS）",
    "units.toGpus": "按 GPU",
    "units.switch": "切换容量单位：GPU 数量或算力 PFLOPS",
  },
  en: {
    "units.toPflops": "In PFLOPS",
    "units.toGpus": "In GPUs",
    "units.switch": "Switch the unit of capacity: GPUs or PFLOPS",
  },
});

/** Where the reader's choice of unit is kept. */
const storageKey = "marketplace.unit";

/** The current unit: "gpus" unless the reader chose "pflops". */
export function unit() {
  try {
    return localStorage.getItem(storageKey) === "pflops" ? "pflops" : "gpus";
  } catch {
    return "gpus";
  }
}

/** Wires every [data-unit-switch] button: it names the other unit, keeps the choice and calls onChange(unit). */
export function unitSwitch(onChange, root = document) {
  const buttons = /** @type {NodeListOf<HTMLElement>} */ (root.querySelectorAll("[data-unit-switch]"));
  const label = () => {
    for (const button of buttons) {
      button.textContent = unit() === "gpus" ? t("units.toPflops") : t("units.toGpus");
      button.title = t("units.switch");
      button.dataset.unit = unit();
    }
  };
  for (const button of buttons) {
    button.addEventListener("click", () => {
      localStorage.setItem(storageKey, unit() === "gpus" ? "pflops" : "gpus");
      label();
      onChange(unit());
    });
  }
  label();
}

/** TFLOPS (thousandths of a PFLOPS) as PFLOPS, to three decimals at most, in the page's language. */
export function pflops(tflops) {
  return (tflops / 1000).toLocaleString(lang() === "zh" ? "zh-CN" : "en-US", { maximumFractionDigits: 3 });
}
