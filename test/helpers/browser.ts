/**
 * The page in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core), for the page tests: a
 * browser opened on the API's `/`, the console errors and other-origin requests it saw, and the page's tables as
 * data attributes and cell texts.
 */
import { existsSync } from "node:fs";
import { type Browser, type Page, chromium } from "playwright-core";
import { CHROMIUM } from "../setup/machine.js";
import { sleep } from "./ponder.js";

/** test/setup/machine.ts installs Chromium before the tests where it can; where it cannot, it said why. */
export const noChromium = !existsSync(CHROMIUM);

export interface OpenPage {
  browser: Browser;
  page: Page;
  /** Console errors and uncaught exceptions, with where they came from. */
  consoleErrors: string[];
  /** Requests that left the API's origin (the page must make none). */
  foreignRequests: string[];
  close(): Promise<void>;
}

/** Chromium on `${origin}/`, 1600 px wide. */
export async function openPage(origin: string): Promise<OpenPage> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1600, height: 720 } });
  const consoleErrors: string[] = [];
  const foreignRequests: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(`${m.text()} (${m.location().url})`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`pageerror: ${e.message}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(`${origin}/`)) foreignRequests.push(r.url());
  });
  await page.goto(`${origin}/`);
  return { browser, page, consoleErrors, foreignRequests, close: () => browser.close() };
}

export interface Row {
  data: Record<string, string>;
  cells: string[];
}

/** The rows of table `#id` (not the placeholder row): their data attributes and cell texts. */
export const tableRows = (page: Page, id: string): Promise<Row[]> =>
  page.$$eval(`#${id} tbody tr:not(.empty)`, (trs) =>
    trs.map((tr) => ({ data: { ...(tr as HTMLElement).dataset } as Record<string, string>, cells: [...(tr as HTMLTableRowElement).cells].map((c) => c.textContent ?? "") })),
  );

/** Polls `fn` every 250 ms until it returns a value; the last value seen goes into the timeout message. */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000, last?: () => unknown): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(await last?.())?.slice(0, 2000)}`);
    await sleep(250);
  }
}

/** A WAD as the page shows a health factor: 4 decimals, truncated (0.99996 is 0.9999), thousands grouped. */
export function hf4(wad: bigint): string {
  const v = wad / 100_000_000_000_000n;
  return `${(v / 10_000n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",")}.${(v % 10_000n).toString().padStart(4, "0")}`;
}
