/**
 * The page at GET `/`: chains and their sync status (/salvage/status), solvency, LayerZero pathways, liquidation
 * levels (a chart per collateral asset), recoveries, the at-risk accounts and the live opportunity feed (the
 * `opportunities` subscription over SSE, resuming after the last event id it saw). One static file beside this
 * module (`page.html`: HTML, inline CSS and plain JS, no build step), read once when the API starts, and one
 * charting library served from this origin: uPlot (MIT, 50 KB, canvas; `uplot` from npm), at /assets/.
 * Nothing is loaded from elsewhere: the page works offline.
 *
 * The page's script puts API values into the DOM only as text (textContent, setAttribute), never as markup;
 * the Content-Security-Policy allows exactly its own inline script and style (by hash), uPlot's two files from
 * this origin and same-origin requests, so even a value that slipped through could not run or load anything.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Hono } from "hono";

const html = readFileSync(new URL("./page.html", import.meta.url), "utf8");
const uplotDist = join(dirname(createRequire(import.meta.url).resolve("uplot/package.json")), "dist");
/** The bundled library, by the path the page loads it from. */
const assets: Record<string, { body: string; type: string }> = {
  "/assets/uplot.js": { body: readFileSync(join(uplotDist, "uPlot.iife.min.js"), "utf8"), type: "text/javascript; charset=utf-8" },
  "/assets/uplot.css": { body: readFileSync(join(uplotDist, "uPlot.min.css"), "utf8"), type: "text/css; charset=utf-8" },
};

/** CSP source of each inline `<tag>` block (its sha256), so nothing but the page's own code runs. */
function inlineHashes(tag: "script" | "style"): string {
  const blocks = [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g"))].map((m) => m[1]!);
  if (blocks.length === 0) throw new Error(`page.html has no inline <${tag}>`);
  return blocks.map((b) => `'sha256-${createHash("sha256").update(b, "utf8").digest("base64")}'`).join(" ");
}

const headers = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-cache",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "content-security-policy": [
    "default-src 'none'",
    `script-src 'self' ${inlineHashes("script")}`,
    `style-src 'self' ${inlineHashes("style")}`,
    "connect-src 'self'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; "),
};

/** Serves the page at GET `/` (and HEAD) and its library at /assets/; mount it with `app.route("/", page)`. */
export const page = new Hono();
page.get("/", (c) => c.body(html, 200, headers));
for (const [path, a] of Object.entries(assets)) {
  page.get(path, (c) => c.body(a.body, 200, { "content-type": a.type, "cache-control": "public, max-age=3600", "x-content-type-options": "nosniff" }));
}
