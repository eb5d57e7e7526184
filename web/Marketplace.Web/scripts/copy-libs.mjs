// Copies the dashboards' browser libraries from node_modules into wwwroot/lib (not committed; run by scripts/lib.sh).
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const project = join(dirname(fileURLToPath(import.meta.url)), "..");
const target = join(project, "wwwroot", "lib");

// The map of China is taken from echarts 4, the last release that shipped one; the charts are drawn by the current echarts.
const files = {
  "echarts.min.js": "echarts/dist/echarts.min.js",
  "china.json": "echarts4/map/json/china.json",
  "signalr.min.js": "@microsoft/signalr/dist/browser/signalr.min.js",
  // The typed API client: one ES module that imports nothing (its types, for tsc, stay in node_modules: tsconfig.json).
  "openapi-fetch.js": "openapi-fetch/dist/index.mjs",
};

mkdirSync(target, { recursive: true });
for (const [name, source] of Object.entries(files)) {
  copyFileSync(join(project, "node_modules", source), join(target, name));
}
console.log(`copied ${Object.keys(files).length} libraries into wwwroot/lib`);
