/**
 * The solvency chart: bad debt over hub blocks for the three runs, one panel per confirmation setting, drawn as
 * SVG and rasterized to PNG by Debian's Chromium through playwright-core (no native npm module, no download).
 * Values arrive as WAD bigints and are turned into numbers here, for drawing only.
 */
import { existsSync, writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export interface ChartSeries {
  label: string;
  color: string;
  /** Bad debt (WAD USD) per hub block since the crash (index 0 = the crash block). */
  values: bigint[];
}

export interface ChartPanel {
  title: string;
  series: ChartSeries[];
  /** Blocks of the cascade (price moves); the rest of the horizon is the tail. */
  cascadeSteps: number;
}

const WIDTH = 560;
const HEIGHT = 360;
const M = { left: 78, right: 16, top: 40, bottom: 46 };

/** WAD USD → millions of USD, for drawing. */
const millions = (v: bigint) => Number(v / 10n ** 12n) / 1e6 / 1e6;

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function panelSvg(p: ChartPanel, x0: number, yMax: number): string {
  const w = WIDTH - M.left - M.right;
  const h = HEIGHT - M.top - M.bottom;
  const n = Math.max(...p.series.map((s) => s.values.length), 2);
  const X = (i: number) => x0 + M.left + (i / (n - 1)) * w;
  const Y = (v: number) => M.top + h - (v / yMax) * h;
  const parts: string[] = [];
  parts.push(`<text x="${x0 + M.left}" y="24" font-size="15" font-weight="600">${esc(p.title)}</text>`);
  // The cascade's blocks, shaded.
  parts.push(`<rect x="${X(0)}" y="${M.top}" width="${X(Math.min(p.cascadeSteps, n) - 1) - X(0)}" height="${h}" fill="#f3f0e8"/>`);
  for (let k = 0; k <= 5; k++) {
    const v = (yMax * k) / 5;
    const y = Y(v);
    parts.push(`<line x1="${x0 + M.left}" x2="${x0 + M.left + w}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    parts.push(`<text x="${x0 + M.left - 6}" y="${y + 4}" font-size="11" text-anchor="end">${v.toLocaleString("en-US", { maximumFractionDigits: 1 })}</text>`);
  }
  const step = n > 60 ? 20 : n > 24 ? 10 : 5;
  for (let i = 0; i < n; i += step) {
    parts.push(`<line x1="${X(i)}" x2="${X(i)}" y1="${M.top + h}" y2="${M.top + h + 4}" stroke="#555"/>`);
    parts.push(`<text x="${X(i)}" y="${M.top + h + 17}" font-size="11" text-anchor="middle">${i}</text>`);
  }
  parts.push(`<line x1="${x0 + M.left}" x2="${x0 + M.left + w}" y1="${M.top + h}" y2="${M.top + h}" stroke="#555"/>`);
  parts.push(`<line x1="${x0 + M.left}" x2="${x0 + M.left}" y1="${M.top}" y2="${M.top + h}" stroke="#555"/>`);
  parts.push(`<text x="${x0 + M.left + w / 2}" y="${HEIGHT - 8}" font-size="12" text-anchor="middle">hub blocks since the crash (shaded: the cascade)</text>`);
  parts.push(`<text transform="translate(${x0 + 16} ${M.top + h / 2}) rotate(-90)" font-size="12" text-anchor="middle">bad debt, million USD</text>`);
  p.series.forEach((s, k) => {
    const pts = s.values.map((v, i) => `${X(i).toFixed(1)},${Y(millions(v)).toFixed(1)}`).join(" ");
    parts.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2.2" stroke-linejoin="round"/>`);
    const ly = M.top + 14 + k * 16;
    parts.push(`<line x1="${x0 + M.left + 10}" x2="${x0 + M.left + 30}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="3"/>`);
    parts.push(`<text x="${x0 + M.left + 36}" y="${ly}" font-size="12">${esc(s.label)}</text>`);
  });
  return parts.join("\n");
}

/** One SVG with the panels side by side, on a shared y scale so the settings compare at a glance. */
export function chartSvg(panels: ChartPanel[], caption: string): string {
  const yMax = niceMax(Math.max(...panels.flatMap((p) => p.series.flatMap((s) => s.values.map(millions))), 0) * 1.05);
  const width = WIDTH * panels.length;
  // The caption wrapped to the width (about 6.2 px a character at 11 px).
  const perLine = Math.floor((width - 24) / 6.2);
  const lines: string[] = [];
  for (const word of caption.split(" ")) {
    if (lines.length && (lines[lines.length - 1]! + " " + word).length <= perLine) lines[lines.length - 1] += ` ${word}`;
    else lines.push(word);
  }
  const height = HEIGHT + 8 + 15 * lines.length;
  const body = panels.map((p, i) => panelSvg(p, i * WIDTH, yMax)).join("\n");
  const text = lines.map((l, i) => `<text x="12" y="${HEIGHT + 12 + 15 * i}" font-size="11" fill="#555">${esc(l)}</text>`).join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif">
<rect width="100%" height="100%" fill="white"/>
${body}
${text}
</svg>`;
}

/** Renders the SVG to a PNG with the system Chromium (headless, offline: no request leaves the page). */
export async function writePng(svg: string, path: string): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (the chart is drawn with it)`);
  const size = /width="(\d+)" height="(\d+)"/.exec(svg)!;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: Number(size[1]), height: Number(size[2]) }, deviceScaleFactor: 2 });
    await page.route("**/*", (route) => (route.request().url().startsWith("data:") || route.request().url() === "about:blank" ? route.continue() : route.abort()));
    await page.setContent(`<!doctype html><html><body style="margin:0">${svg}</body></html>`);
    writeFileSync(path, await page.locator("svg").screenshot({ type: "png" }));
  } finally {
    await browser.close();
  }
}
