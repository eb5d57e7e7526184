// Evidence packs: a voucher's ZIP (or a programme's), fetched with the session's token and saved under its own name.

import { authorizedFetch, api, attempt, ApiError } from "./session.js";
import { el, row, fill } from "./format.js";

export async function downloadEvidence(path, fileName) {
  const response = await authorizedFetch(path);
  if (!response.ok) {
    throw new ApiError(response.status, await response.json().catch(() => null));
  }
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: fileName });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

const verified = new Map(); // programme id -> the last verification's { words, intact }, kept across redraws of the table

/** The regulator's card: per programme, verify its sealed ledger and download every voucher's evidence pack. */
export function showProgrammeEvidence(programs) {
  const tbody = document.querySelector("#evidence tbody");
  if (!tbody) return;
  fill(tbody, programs.map(p => {
    const verify = el("button", "secondary", "核验账本 · Verify ledger");
    verify.type = "button";
    verify.dataset.verify = p.programId;
    const result = el("span", null, verified.get(p.programId)?.words ?? "—");
    result.setAttribute("role", "status");
    verify.addEventListener("click", () => attempt(async () => {
      result.textContent = "核验中… · Verifying…";
      const answer = await api("POST", "/evidence/verify", { programId: p.programId });
      const words = answer.intact
        ? `完整 · Intact: ${answer.sealsChecked} 笔已封存 sealed`
        : `发现 ${answer.problems.length} 处不符 · ${answer.problems.length} differ: ${answer.problems.map(x => `${x.transactionId} (${x.problem})`).join("; ")}`;
      verified.set(p.programId, { words, intact: String(answer.intact) });
      // The table may have been drawn again while the answer was on its way: show it on the row that is on the page.
      const shown = document.querySelector(`#evidence tr[data-program="${CSS.escape(p.programId)}"]`);
      for (const tr of new Set([result.closest("tr"), shown].filter(Boolean))) {
        tr.dataset.intact = String(answer.intact);
        tr.querySelector("[role=status]").textContent = words;
      }
    }));
    const download = el("button", "secondary", "下载证据包 · Evidence packs");
    download.type = "button";
    download.dataset.download = p.programId;
    download.addEventListener("click", () => attempt(() =>
      downloadEvidence(`/programs/${encodeURIComponent(p.programId)}/evidence`, `evidence-${p.programId}.zip`)));
    const known = verified.get(p.programId);
    return row([p.name, verify, result, download], known ? { program: p.programId, intact: known.intact } : { program: p.programId });
  }), "No voucher programs yet.");
}
