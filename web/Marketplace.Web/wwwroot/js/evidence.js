// Evidence packs on the regulator's console: verify a programme's sealed ledger, download its evidence pack (a ZIP saved under its own name).

import { client, attempt } from "./session.js";
import { el, row, fill, saveFile } from "./format.js";
import { t } from "./i18n.js";
import "./strings/regulator.js";

const verified = new Map(); // programme id -> the last verification's { words, intact }, kept across redraws of the table

/** The regulator's card: per programme, verify its sealed ledger and download every voucher's evidence pack. */
export function showProgrammeEvidence(programs) {
  const tbody = document.querySelector("#evidence tbody");
  if (!tbody) return;
  fill(tbody, programs.map(p => {
    const verify = el("button", "secondary", t("regulator.verify"));
    verify.type = "button";
    verify.setAttribute("aria-label", t("regulator.verifyOf", { name: p.name }));
    verify.dataset.verify = p.programId;
    const result = el("span", null, verified.get(p.programId)?.words ?? "—");
    result.setAttribute("role", "status");
    verify.addEventListener("click", () => attempt(async () => {
      result.textContent = t("regulator.verifying");
      const { data: answer } = await client.POST("/api/v1/evidence/verify", { body: { programId: p.programId } });
      const words = answer.intact
        ? t("regulator.intact", { count: answer.sealsChecked })
        : t("regulator.differ", { count: answer.problems.length, list: answer.problems.map(x => `${x.transactionId} (${x.problem})`).join("; ") });
      verified.set(p.programId, { words, intact: String(answer.intact) });
      // The table may have been drawn again while the answer was on its way: show it on the row that is on the page.
      const shown = document.querySelector(`#evidence tr[data-program="${CSS.escape(p.programId)}"]`);
      for (const tr of new Set([result.closest("tr"), shown].filter(Boolean))) {
        tr.dataset.intact = String(answer.intact);
        tr.querySelector("[role=status]").textContent = words;
      }
    }));
    const download = el("button", "secondary", t("regulator.download"));
    download.type = "button";
    download.setAttribute("aria-label", t("regulator.downloadOf", { name: p.name }));
    download.dataset.download = p.programId;
    download.addEventListener("click", () => attempt(async () => {
      const { data } = await client.GET("/api/v1/programs/{id}/evidence", { params: { path: { id: p.programId } }, parseAs: "blob" });
      saveFile(data, `evidence-${p.programId}.zip`);
    }));
    const known = verified.get(p.programId);
    return row([p.name, verify, result, download], known ? { program: p.programId, intact: known.intact } : { program: p.programId });
  }), t("regulator.noPrograms"));
}
