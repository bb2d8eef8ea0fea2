/**
 * The page at GET `/`: chains and their sync status (/salvage/status), the at-risk accounts (atRiskAccounts
 * under HF 1.1, refreshed every 2.5 s) and the live opportunity feed (the `opportunities` subscription over
 * SSE, resuming after the last event id it saw). One static file beside this module (`page.html`: HTML,
 * inline CSS and plain JS, no build step, nothing loaded from elsewhere), read once when the API starts.
 *
 * The page's script puts API values into the DOM only as text (textContent, setAttribute), never as markup;
 * the Content-Security-Policy allows exactly its own inline script and style (by hash) and same-origin
 * requests, so even a value that slipped through could not run or load anything.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Hono } from "hono";

const html = readFileSync(new URL("./page.html", import.meta.url), "utf8");

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
    `script-src ${inlineHashes("script")}`,
    `style-src ${inlineHashes("style")}`,
    "connect-src 'self'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; "),
};

/** Serves the page at GET `/` (and HEAD); mount it with `app.route("/", page)`. */
export const page = new Hono();
page.get("/", (c) => c.body(html, 200, headers));
