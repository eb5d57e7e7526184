// What the pages use without importing it, for tsc (tsconfig.json): the libraries their HTML loads as classic scripts
// from wwwroot/lib (copied from npm by scripts/copy-libs.mjs), typed by the same npm packages.

declare global {
  const echarts: typeof import("echarts");
  const signalR: typeof import("@microsoft/signalr");

  interface Window {
    /** Counters and arrival times the browser tests read (push.js). */
    __marketplace?: {
      connected: boolean;
      snapshots: number;
      applied: number;
      skipped: number;
      rendered: Record<string, number>;
      /** What a page last drew, for its tests (forecasts, calendar, map). */
      [drawn: string]: unknown;
    };
  }
}

export {};
