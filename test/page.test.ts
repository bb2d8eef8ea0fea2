/**
 * The page at `/` (src/api/page.ts) in headless Chromium — Debian's chromium at /usr/bin/chromium, driven by
 * playwright-core — against real Ponder indexing a real devnet (hub + 2 spokes on anvil, 30 seeded borrowers):
 * every chain of the manifest appears with its chain id, indexed block and head; after a crash the at-risk table
 * lists exactly the accounts atRiskAccounts(maxHealthFactor: "1.1") returns, in order, with their health factors
 * formatted to 4 decimals, and the live feed (the SSE subscription) shows a `liquidatable` row from the crash's
 * blocks for every account the crash made liquidatable, each event once. No console errors, and no request
 * leaves the API's origin. The pathways panel shows exactly what the `pathways` query returns. The solvency panel shows, per debt asset, exactly what the `solvency` query returns
 * (written off, uncovered, reserve, under-water debt) and the accounts under water, before and after an account
 * is taken until the hub writes its debt off. The liquidation levels chart (uPlot, served from the API's origin)
 * draws exactly the liquidationLevels answer for each asset chosen, bin for bin, with the 20 % danger zone marked.
 * The recoveries panel lists the hub's Take events newest first with the seizure block of each from the spokes'
 * Seized events, and counts takes by state, before and after the SEIZE packets are delivered. The screenshot goes to test-results/page.png
 * (SALVAGE_PAGE_SCREENSHOT=FILE elsewhere; docs/page.png is one such run).
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Page } from "playwright-core";
import type { Address } from "viem";
import { hubAbi, spokeAbi } from "../abis/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM } from "./setup/machine.js";
import { type OpenPage, hf4, noChromium, openPage, tableRows, until } from "./helpers/browser.js";
import type { Network } from "../src/devnet/network.js";
import { Rng } from "../src/devnet/rng.js";
import { MarketSimulator } from "../src/devnet/simulate.js";
import { WAD } from "../src/health/wad.js";
import type { Deployment } from "../src/protocol/deployment.js";
import { type SeededNetwork, startSeededNetwork } from "./helpers/network.js";
import { type PonderApp, startPonder } from "./helpers/ponder.js";
import { fundLiquidator, openPosition, takeUntilWrittenOff } from "./helpers/bad-debt.js";

const ACCOUNTS = 30;
const SEED = 41;
const SCREENSHOT = process.env.SALVAGE_PAGE_SCREENSHOT ?? "test-results/page.png";

let net: SeededNetwork | undefined;
let network: Network;
let deployment: Deployment;
let accounts: Address[];
let ponder: PonderApp | undefined;
let browser: OpenPage | undefined;
let page: Page;
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

const rows = (table: string) => tableRows(page, table);
if (noChromium) console.log(`[page] skipped: ${CHROMIUM} is missing and could not be installed (apt-get install chromium, as root)`);

beforeAll(async () => {
  if (noChromium) return;
  net = await startSeededNetwork({ accounts: ACCOUNTS, seed: SEED });
  ({ network, deployment, accounts } = net);
  console.log(`[page] devnet seeded with ${ACCOUNTS} borrowers at ${elapsed()}`);

  ponder = await startPonder({ manifest: network.manifest, env: { SALVAGE_FEED_POLL_MS: "50" } });
  // /ready means the backfill is done; Ponder indexes the newest blocks live after it: wait for the head.
  await ponder.indexed(deployment.hub.name, await deployment.hubClients.public.getBlockNumber({ cacheTime: 0 }));
  console.log(`[page] ponder ready at ${elapsed()}`);

  browser = await openPage(ponder.url);
  ({ page } = browser);
}, 400_000);

afterAll(async () => {
  await browser?.close();
  await ponder?.stop();
  await net?.stop();
}, 60_000);

describe.skipIf(noChromium)("the page at /", () => {
  it("is one self-contained HTML document; POST / is still Ponder's GraphQL", async () => {
    const res = await ponder!.api("/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.headers.get("content-security-policy")).toMatch(/default-src 'none'; script-src 'self' 'sha256-[^']+'; style-src 'self' 'sha256-[^']+'; connect-src 'self'/);
    const html = await res.text();
    // No markup from data, nothing from elsewhere (no CDN, no fonts): the one library (uPlot) comes from this origin.
    expect(html).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
    expect(html).not.toMatch(/https?:\/\/|@import|url\(/);
    const links = [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
    expect(links.sort()).toEqual(["assets/uplot.css", "assets/uplot.js", "data:,"]);
    for (const [path, type] of [["/assets/uplot.js", /^text\/javascript/], ["/assets/uplot.css", /^text\/css/]] as const) {
      const asset = await ponder!.api(path);
      expect(asset.status, path).toBe(200);
      expect(asset.headers.get("content-type")).toMatch(type);
      expect((await asset.text()).length).toBeGreaterThan(1_000);
    }
    const gql = await ponder!.api("/", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ accountHealths { totalCount } }" }) });
    expect(await gql.json()).toEqual({ data: { accountHealths: { totalCount: ACCOUNTS } } });
  });

  it("shows every chain of the manifest with its chain id, indexed block, head and lag", async () => {
    const chains = await until("a row per chain with its indexed block and head", async () => {
      const r = await rows("chains");
      const complete = r.length === network.manifest.chains.length && r.every((c) => /^\d+$/.test(c.data.indexedBlock ?? "") && /^\d+$/.test(c.data.headBlock ?? ""));
      return complete ? r : undefined;
    }, 30_000, () => rows("chains"));
    for (const c of network.manifest.chains) {
      const row = chains.find((r) => r.data.chainId === String(c.chainId));
      expect(row, c.name).toBeDefined();
      const [name, role, chainId, eid, indexed, head, lag] = row!.cells;
      expect({ name, role, chainId, eid }).toEqual({ name: c.name, role: c.role, chainId: String(c.chainId), eid: String(c.eid) });
      const indexedBlock = BigInt(row!.data.indexedBlock!);
      expect(indexedBlock).toBeGreaterThanOrEqual(BigInt(c.startBlock));
      expect(indexedBlock).toBeLessThanOrEqual(BigInt(row!.data.headBlock!));
      expect(indexed!.replace(/,/g, "")).toBe(row!.data.indexedBlock);
      expect(head!.replace(/,/g, "")).toBe(row!.data.headBlock);
      expect(lag).toMatch(/^(synced|[\d,]+ behind)$/);
    }
    await until("sync: caught up", async () => ((await page.getAttribute("#sync", "data-ready")) === "ready" ? true : undefined), 30_000);
    await until("feed connected", async () => ((await page.getAttribute("#feed-status", "data-state")) === "connected" ? true : undefined), 30_000);
  });

  it("after a crash: the at-risk table is exactly atRiskAccounts, and the feed shows every account the crash made liquidatable", async () => {
    const hub = deployment.hubClients.public;
    const before = await hub.getBlockNumber({ cacheTime: 0 });
    const crash = await new MarketSimulator(deployment, new Rng(SEED + 1)).crash(accounts, 0.3);
    const crashBlocks = { from: before + 1n, to: await hub.getBlockNumber({ cacheTime: 0 }) };
    expect(crash.liquidatable.length).toBeGreaterThan(2);
    const crashedAt = Date.now();
    await ponder!.indexed(deployment.hub.name, crashBlocks.to);

    type Item = { address: string; healthFactor: string; debtValue: string; collateralValue: string; dominantCollateral: { symbol: string | null } | null };
    const r = await ponder!.gql<{ atRiskAccounts: { totalCount: number; items: Item[] } }>(
      `{ atRiskAccounts(maxHealthFactor: "1.1", first: 50) { totalCount items { address healthFactor debtValue collateralValue dominantCollateral { symbol } } } }`,
    );
    expect(r.errors).toBeUndefined();
    const expected = r.data!.atRiskAccounts.items;
    expect(r.data!.atRiskAccounts.totalCount).toBe(expected.length);
    const liquidatable = crash.liquidatable.map((a) => a.toLowerCase());
    // The bound is 1.1: every liquidatable account is listed, and maybe a few more.
    expect(expected.filter((i) => BigInt(i.healthFactor) < WAD).map((i) => i.address.toLowerCase()).sort()).toEqual([...liquidatable].sort());

    const table = await until("the at-risk table to equal atRiskAccounts", async () => {
      const t = await rows("at-risk");
      return t.map((x) => x.data.address?.toLowerCase()).join() === expected.map((i) => i.address.toLowerCase()).join() ? t : undefined;
    }, 30_000, () => rows("at-risk"));
    for (const [i, item] of expected.entries()) {
      const [address, healthFactor, debt, collateral, dominant] = table[i]!.cells;
      expect(address).toBe(`${item.address.slice(0, 8)}…${item.address.slice(-6)}`);
      expect(healthFactor).toBe(hf4(BigInt(item.healthFactor)));
      expect(debt).toMatch(/^\$[\d,]+\.\d{2}$/);
      expect(collateral).toMatch(/^\$[\d,]+\.\d{2}$/);
      expect(dominant).toBe(item.dominantCollateral?.symbol ?? "—");
    }
    const liquidatableShown = liquidatable.length;
    expect(await page.textContent("#at-risk-count")).toBe(`${expected.length} accounts · ${liquidatableShown} liquidatable`);

    const feed = await until("a liquidatable feed row for every account the crash made liquidatable", async () => {
      const f = await rows("feed");
      const shown = new Set(f.filter((x) => x.data.kind === "liquidatable").map((x) => x.data.address!.toLowerCase()));
      return liquidatable.every((a) => shown.has(a)) ? f : undefined;
    }, 30_000, () => rows("feed"));
    console.log(`[page] feed shows all ${liquidatable.length} liquidatable accounts ${Date.now() - crashedAt} ms after the crash's price updates were mined`);
    // Each event once, newest first; each crossing comes from the crash's blocks.
    const ids = feed.map((x) => x.data.id!);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([...ids].sort().reverse());
    for (const a of liquidatable) {
      const row = feed.find((x) => x.data.kind === "liquidatable" && x.data.address!.toLowerCase() === a)!;
      const block = BigInt(row.data.id!.slice(0, 20));
      expect(block >= crashBlocks.from && block <= crashBlocks.to, `${a} at block ${block}`).toBe(true);
      expect(row.cells[1]!.replace(/,/g, "")).toBe(block.toString());
      expect(row.cells[2]).toBe("liquidatable");
    }
    const status = await page.textContent("#feed-status");
    expect(status).toMatch(new RegExp(`^feed: connected · ${feed.length} events? · last block `));
    expect(await page.getAttribute("#feed-status", "data-events")).toBe(String(feed.length));

    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.waitForTimeout(1_600); // let the new-row highlight fade
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`[page] screenshot ${SCREENSHOT} at ${elapsed()}`);
  });

  it("the liquidation levels chart draws exactly what liquidationLevels returns, per asset, with the danger zone", async () => {
    type Totals = { accounts: number; collateralUsd: string; debtUsd: string; assetAmount: string };
    type Levels = { assetId: number; symbol: string; holders: number; block: { number: string }; now: Totals; bins: (Totals & { index: number; toDropWad: string; priceWad: string; dangerZone: boolean; cumulative: Totals })[] };
    const collateralIds = deployment.collateralAssets.map((a) => a.id).sort((a, b) => a - b);
    expect(await page.$$eval("#levels-asset option", (os) => os.map((o) => Number((o as HTMLOptionElement).value)))).toEqual(collateralIds);
    let drawnSomething = false;
    for (const assetId of [collateralIds[0]!, collateralIds.at(-1)!]) {
      await page.selectOption("#levels-asset", String(assetId));
      const want = await until(`the levels panel for asset ${assetId} at the query's block`, async () => {
        const r = await ponder!.gql<{ liquidationLevels: Levels }>(
          `{ liquidationLevels(assetId: ${assetId}, bins: 50, maxDrop: "0.5") { assetId symbol holders block { number } now { accounts collateralUsd debtUsd assetAmount }
             bins { index toDropWad priceWad dangerZone accounts collateralUsd debtUsd assetAmount cumulative { accounts collateralUsd debtUsd assetAmount } } } }`,
        );
        expect(r.errors).toBeUndefined();
        const l = r.data!.liquidationLevels;
        const shown = await page.getAttribute("#levels-chart", "data-asset-id");
        const block = await page.getAttribute("#levels-block", "data-block");
        return shown === String(assetId) && block === l.block.number ? l : undefined;
      }, 30_000);
      expect(want.bins).toHaveLength(50);
      // The chart's series are the answer's, bin for bin; the table (under "bins") the same with the exact figures.
      expect((await page.getAttribute("#levels-chart", "data-collateral-usd"))!.split(",")).toEqual(want.bins.map((b) => b.collateralUsd));
      expect((await page.getAttribute("#levels-chart", "data-cumulative-collateral-usd"))!.split(",")).toEqual(want.bins.map((b) => b.cumulative.collateralUsd));
      const table = await rows("levels");
      expect(table.map((r) => r.data)).toEqual(want.bins.map((b) => ({
        index: String(b.index), toDropWad: b.toDropWad, priceWad: b.priceWad, collateralUsd: b.collateralUsd, debtUsd: b.debtUsd, assetAmount: b.assetAmount,
        accounts: String(b.accounts), cumulativeCollateralUsd: b.cumulative.collateralUsd,
      })));
      // The danger zone: the bins within 20 % of the price are marked, in the table and on the canvas.
      const danger = await page.$$eval("#levels tbody tr.danger", (trs) => trs.length);
      expect(danger).toBe(want.bins.filter((b) => b.dangerZone).length);
      expect(danger).toBe(20);
      expect(await page.getAttribute("#levels-summary", "data-holders")).toBe(String(want.holders));
      expect(await page.$$eval("#levels-chart canvas", (cs) => cs.length)).toBe(1);
      drawnSomething ||= want.bins.some((b) => b.accounts > 0);
    }
    expect(drawnSomething).toBe(true);
    await page.$eval("#levels-panel", (e) => e.scrollIntoView());
    await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, "-levels.png"), fullPage: true });
    console.log(`[page] screenshot with the levels chart ${SCREENSHOT.replace(/\.png$/, "-levels.png")} at ${elapsed()}`);
  });

  it("the solvency panel shows exactly what the solvency query returns, before and after a write-off", async () => {
    type Solvency = {
      block: { number: string };
      writtenOffUsd: string;
      reserveUsd: string;
      assets: { assetId: number; symbol: string; decimals: number; writeOffs: number; writtenOff: string; writtenOffUsd: string; uncovered: string; reserve: string; reserveUsd: string; underWaterDebt: string }[];
      underWater: { accounts: number; debtUsd: string; collateralUsd: string; shortfallUsd: string };
    };
    const query = `{ solvency { block { number } writtenOffUsd reserveUsd
      assets { assetId symbol decimals writeOffs writtenOff writtenOffUsd uncovered reserve reserveUsd underWaterDebt }
      underWater { accounts debtUsd collateralUsd shortfallUsd } } }`;
    /** Base units as the page shows them: 2 decimals, rounded half up, thousands grouped. */
    const units = (v: string, decimals: number) => {
      const places = Math.min(2, decimals);
      const scale = 10n ** BigInt(decimals - places);
      const r = (BigInt(v) + scale / 2n) / scale;
      const whole = (r / 10n ** BigInt(places)).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
      return places ? `${whole}.${(r % 10n ** BigInt(places)).toString().padStart(places, "0")}` : whole;
    };
    const usd = (wad: string) => `$${units(wad, 18)}`;
    const hub = deployment.hubClients.public;

    /** Waits until the panel names the head block, then checks every cell against the query at that block. */
    const expectPanelEqualsQuery = async (): Promise<Solvency> => {
      const head = await hub.getBlockNumber({ cacheTime: 0 });
      await ponder!.indexed(deployment.hub.name, head);
      const r = await ponder!.gql<{ solvency: Solvency }>(query);
      expect(r.errors).toBeUndefined();
      const s = r.data!.solvency;
      await until(`the solvency panel at hub block ${s.block.number}`, async () => ((await page.getAttribute("#solvency-block", "data-block")) === s.block.number ? true : undefined), 30_000);
      const table = await rows("solvency");
      expect(table.map((x) => x.data.assetId ?? "total")).toEqual([...s.assets.map((a) => String(a.assetId)), "total"]);
      for (const [i, a] of s.assets.entries()) {
        const row = table[i]!;
        expect(row.data).toMatchObject({ writtenOff: a.writtenOff, writtenOffUsd: a.writtenOffUsd, uncovered: a.uncovered, reserve: a.reserve, reserveUsd: a.reserveUsd, underWaterDebt: a.underWaterDebt });
        expect(row.cells).toEqual([
          a.symbol, String(a.writeOffs), `${units(a.writtenOff, a.decimals)} ${a.symbol}`, usd(a.writtenOffUsd), `${units(a.uncovered, a.decimals)} ${a.symbol}`,
          `${units(a.reserve, a.decimals)} ${a.symbol}`, usd(a.reserveUsd), `${units(a.underWaterDebt, a.decimals)} ${a.symbol}`,
        ]);
      }
      expect(table.at(-1)!.cells).toEqual(["all, USD", "", "", usd(s.writtenOffUsd), "", "", usd(s.reserveUsd), ""]);
      const u = s.underWater;
      expect(await page.$eval("#underwater", (e) => ({ ...(e as HTMLElement).dataset }))).toEqual({
        accounts: String(u.accounts), debtUsd: u.debtUsd, collateralUsd: u.collateralUsd, shortfallUsd: u.shortfallUsd,
      });
      expect(await page.textContent("#underwater")).toBe(
        `under water now (collateral below debt): ${u.accounts} account${u.accounts === 1 ? "" : "s"} · debt ${usd(u.debtUsd)} · collateral ${usd(u.collateralUsd)} · shortfall ${usd(u.shortfallUsd)}`,
      );
      return s;
    };

    const before = await expectPanelEqualsQuery();
    expect(before.assets.every((a) => a.writeOffs === 0)).toBe(true);

    // A USDC borrower at 75 % of its WETH's value; WETH then falls to 40 % of its price: under water. Taken until its
    // collateral is gone, the hub writes the rest of its debt off against the USDC reserve.
    const WETH = 10;
    const USDC = 1;
    const price = (await deployment.answers()).get(WETH)!;
    const collateral = 10n ** 19n; // 10 WETH
    const debt = (collateral * price * 75n) / 100n / 10n ** 8n / 10n ** 12n; // 75 % of its USD value, in USDC base units
    const victim = await openPosition(net!, { collateralAssetId: WETH, collateral, debtAssetId: USDC, debt });
    await new MarketSimulator(deployment, new Rng(SEED + 2)).applyAnswers(new Map([[WETH, (price * 40n) / 100n]]));
    const underWater = await expectPanelEqualsQuery();
    expect(underWater.underWater.accounts).toBeGreaterThanOrEqual(1);
    expect(BigInt(underWater.underWater.shortfallUsd)).toBeGreaterThan(0n);

    await fundLiquidator(net!, USDC, debt);
    await takeUntilWrittenOff(net!, victim);
    const after = await expectPanelEqualsQuery();
    const usdcRow = after.assets.find((a) => a.assetId === USDC)!;
    expect(usdcRow.writeOffs).toBe(1);
    expect(BigInt(usdcRow.writtenOff)).toBeGreaterThan(0n);
    expect(BigInt(usdcRow.reserve)).toBe(BigInt(before.assets.find((a) => a.assetId === USDC)!.reserve) - BigInt(usdcRow.writtenOff));

    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.waitForTimeout(1_600); // let the new-row highlight fade
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`[page] screenshot with the solvency panel ${SCREENSHOT} at ${elapsed()}`);
  });

  it("the recoveries panel shows the hub's takes and the spokes' seizures, before and after the SEIZEs are delivered", async () => {
    const hub = deployment.hubClients.public;
    const takes = (await hub.getContractEvents({ address: deployment.hubAddress, abi: hubAbi, eventName: "Take", fromBlock: 0n })).map((l) => l.args);
    expect(takes.length).toBeGreaterThan(0); // the solvency test's takes
    const seizures = async () =>
      new Map(
        (await Promise.all(deployment.spokes.map((s) => deployment.clients(s).public.getContractEvents({ address: s.contracts.spoke!, abi: spokeAbi, eventName: "Seized", fromBlock: 0n }))))
          .flat()
          .map((l) => [l.args.takeId!, l.blockNumber] as const),
      );
    const expectPanel = async (phase: string) => {
      for (const c of network.manifest.chains) await ponder!.indexed(c.name, await deployment.clients(c).public.getBlockNumber({ cacheTime: 0 }));
      const seized = await seizures();
      const expected = [...takes].sort((a, b) => (a.takeId! > b.takeId! ? -1 : 1)).slice(0, 20).map((t) => ({
        takeId: String(t.takeId), repayAmount: String(t.repayAmount), seizeAmount: String(t.seizeAmount), seizeBlock: seized.has(BigInt(t.takeId!)) ? String(seized.get(BigInt(t.takeId!))) : "",
      }));
      const shown = () => rows("recoveries").then((r) => r.map(({ data }) => ({ takeId: data.takeId, repayAmount: data.repayAmount, seizeAmount: data.seizeAmount, seizeBlock: data.seizeBlock })));
      await until(`the recoveries panel ${phase}`, async () => (JSON.stringify(await shown()) === JSON.stringify(expected) ? true : undefined), 30_000, shown);
      const count = (state: string) => page.getAttribute(`#recovery-states [data-state="${state}"]`, "data-count").then(Number);
      const states = { taken: await count("taken"), verified: await count("verified"), delivered: await count("delivered"), seized: await count("seized"), failed: await count("failed") };
      expect(states.seized).toBe(takes.filter((t) => seized.has(BigInt(t.takeId!))).length);
      expect(Object.values(states).reduce((a, b) => a + b, 0)).toBe(takes.length);
      expect(await count("writeOffs")).toBe(1); // the solvency test's write-off
      for (const r of await rows("recoveries")) expect(r.data.state).toBe(r.data.seizeBlock ? "seized" : r.data.state === "verified" ? "verified" : "taken");
      expect(await page.getAttribute("#relayer-states", "data-relayer")).toBe("none");
      return states;
    };
    const before = await expectPanel("before delivery");
    expect(before.seized).toBe(0); // the SEIZE packets wait for the deliverer
    await net!.deliverer.drain();
    const after = await expectPanel("after delivery");
    expect(after.seized).toBe(takes.length);
    await page.$eval("#recoveries-panel", (e) => e.scrollIntoView());
    await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, "-recoveries.png"), fullPage: true });
  });

  it("the pathways panel shows exactly what the pathways query returns", async () => {
    type Pathway = { srcEid: number; dstEid: number; inFlight: number; oldestAgeSeconds: string | null; p50Seconds: string | null; p99Seconds: string | null; samples: number; failures: number; stallBoundSeconds: string; stalled: boolean };
    const secs = (v: string | null) => (v === null ? "–" : `${BigInt(v).toLocaleString("en-US")} s`);
    for (const c of network.manifest.chains) await ponder!.indexed(c.name, await deployment.clients(c).public.getBlockNumber({ cacheTime: 0 }));
    const r = await ponder!.gql<{ pathways: Pathway[] }>("{ pathways { srcEid dstEid inFlight oldestAgeSeconds p50Seconds p99Seconds samples failures stallBoundSeconds stalled } }");
    expect(r.errors).toBeUndefined();
    const list = r.data!.pathways;
    // The seeding's deposits crossed every spoke → hub pathway, and the takes hub → spoke.
    expect(list.length).toBeGreaterThanOrEqual(network.manifest.chains.length - 1);
    const expected = list.map((p) => ({
      data: { pathway: `${p.srcEid}-${p.dstEid}`, inFlight: String(p.inFlight), stalled: String(p.stalled) },
      cells: [`${p.srcEid} → ${p.dstEid}`, p.inFlight.toLocaleString("en-US"), secs(p.oldestAgeSeconds), secs(p.p50Seconds), secs(p.p99Seconds), p.samples.toLocaleString("en-US"),
        p.failures.toLocaleString("en-US"), secs(p.stallBoundSeconds), p.stalled ? "stalled" : p.inFlight > 0 ? "in flight" : "idle"],
    }));
    await until("the pathways panel equal to the query", async () => (JSON.stringify(await rows("pathways")) === JSON.stringify(expected) ? true : undefined), 30_000).catch(async (error) => {
      expect(await rows("pathways")).toEqual(expected);
      throw error;
    });
    expect(await page.textContent("#pathways-updated")).toBe(`${list.length} pathways`);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`[page] screenshot with the pathways panel ${SCREENSHOT} at ${elapsed()}`);
  });

  it("logged no console errors and loaded nothing from another origin", () => {
    expect(browser!.consoleErrors).toEqual([]);
    expect(browser!.foreignRequests).toEqual([]);
  });
});
