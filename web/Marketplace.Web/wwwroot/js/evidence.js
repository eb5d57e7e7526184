// Evidence packs: a voucher's ZIP (or a programme's), fetched with the session's token and saved under its own name.

import { session, ApiError } from "./session.js";

export async function downloadEvidence(path, fileName) {
  const response = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${session()?.token}` } });
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
