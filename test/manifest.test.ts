/** The manifest schema accepts what the devnet writes and names the field of anything it refuses. */
import { describe, expect, it } from "vitest";
import { parseManifest, serializeManifest } from "../src/deployment/manifest.js";
import { cascadeParams, parseDevnetOptions } from "../src/devnet/run.js";
import { deliveryChains } from "../src/layerzero/deliverer.js";

const addr = (n: number) => `0x${n.toString(16).padStart(40, "0")}`;
const chain = (i: number, role: "hub" | "spoke") => ({
  name: i === 0 ? "hub" : `spoke${i}`, role, chainId: 31_400 + i, rpcUrl: `http://127.0.0.1:${8_545 + i}`, eid: 40_400 + i, startBlock: 0,
  contracts: { endpoint: addr(1 + i * 10), messageLib: addr(2 + i * 10), [role]: addr(3 + i * 10) },
  tokens: { "10": addr(4 + i * 10) }, feeds: role === "hub" ? { "10": addr(5) } : {},
});
const valid = () => ({
  version: 1, createdAt: "2026-11-25T00:00:00Z",
  assets: [{ id: 10, symbol: "WETH", decimals: 18, kind: "collateral", feedDecimals: 8, ltv: "800000000000000000", liquidationThreshold: "850000000000000000", heartbeat: 86_400 }],
  auction: { closeFactor: "500000000000000000", minBonus: "20000000000000000", maxBonus: "120000000000000000", auctionDuration: "600", auctionTail: "3600" },
  chains: [chain(0, "hub"), chain(1, "spoke")], roles: {},
});

describe("manifest", () => {
  it("parses, turns WAD strings into bigints and round-trips", () => {
    const m = parseManifest(valid());
    expect(m.assets[0]!.liquidationThreshold).toBe(850_000_000_000_000_000n);
    expect(parseManifest(JSON.parse(serializeManifest(m)))).toEqual(m);
  });

  it("names the bad field", () => {
    const badUrl = valid();
    badUrl.chains[1]!.rpcUrl = "not a url";
    expect(() => parseManifest(badUrl)).toThrow(/chains\.1\.rpcUrl/);
    const badAddress = valid();
    badAddress.chains[0]!.contracts.endpoint = "0x1234";
    expect(() => parseManifest(badAddress)).toThrow(/chains\.0\.contracts\.endpoint: must be a 20-byte hex address/);
    const twoHubs = valid();
    twoHubs.chains[1]!.role = "hub";
    expect(() => parseManifest(twoHubs)).toThrow(/needs exactly one hub chain/);
    const sameEid = valid();
    sameEid.chains[1]!.eid = 40_400;
    expect(() => parseManifest(sameEid)).toThrow(/chains\.1\.eid: duplicate eid 40400/);
  });

  it("lists each asset's heartbeat (seconds, a uint32 of at least 1) and names it when absent or out of range", () => {
    expect(parseManifest(valid()).assets[0]!.heartbeat).toBe(86_400);
    const { heartbeat: _, ...without } = valid().assets[0]!;
    expect(() => parseManifest({ ...valid(), assets: [without] })).toThrow(/assets\.0\.heartbeat: Required/);
    for (const heartbeat of [0, 2 ** 32, 1.5, "86400"]) {
      expect(() => parseManifest({ ...valid(), assets: [{ ...valid().assets[0]!, heartbeat }] })).toThrow(/assets\.0\.heartbeat: /);
    }
  });

  it("lzConfirmations: 0 when absent, read per chain into the deliverer's chains, a bad one named", () => {
    const m = valid();
    expect(parseManifest(m).chains.map((c) => c.lzConfirmations)).toEqual([0, 0]);
    const withDelay = { ...m, chains: [m.chains[0]!, { ...m.chains[1]!, lzConfirmations: 15 }] };
    expect(deliveryChains(parseManifest(withDelay)).map((c) => c.confirmations)).toEqual([0, 15]);
    expect(() => parseManifest({ ...m, chains: [m.chains[0]!, { ...m.chains[1]!, lzConfirmations: -1 }] })).toThrow(/chains\.1\.lzConfirmations/);
    expect(parseDevnetOptions({ lzConfirmations: "5" }).lzConfirmations).toBe(5);
    expect(parseDevnetOptions({}).lzConfirmations).toBe(0);
    expect(() => parseDevnetOptions({ lzConfirmations: "1.5" })).toThrow(/--lz-confirmations: /);
  });

  it("devnet options name the bad flag", () => {
    expect(parseDevnetOptions({ spokes: "3", seed: "7", scenario: "crash" })).toMatchObject({ spokes: 3, seed: 7, scenario: "crash", accounts: 200 });
    expect(() => parseDevnetOptions({ spokes: "0" })).toThrow(/spokes/);
    expect(() => parseDevnetOptions({ scenario: "meltdown" })).toThrow(/scenario/);
  });

  it("cascade options: defaults filled in, the second leg only when asked for, bad ones named by their flag", () => {
    expect(cascadeParams(parseDevnetOptions({ scenario: "cascade" }))).toEqual({ declineBps: 100, blocks: 20, noiseBps: 50 });
    expect(cascadeParams(parseDevnetOptions({ scenario: "cascade", cascadeBlocks: "8", cascadeSecondLegAfter: "4" }))).toEqual({
      declineBps: 100, blocks: 8, noiseBps: 50, secondLeg: { after: 4, crashBps: 1_000, blocks: 8 },
    });
    expect(() => parseDevnetOptions({ scenario: "calm", cascadeNoiseBps: "10" })).toThrow(/--cascade-noise-bps: only with --scenario cascade/);
    expect(() => parseDevnetOptions({ scenario: "cascade", cascadeSecondLegBlocks: "3" })).toThrow(/--cascade-second-leg-blocks: needs --cascade-second-leg-after/);
  });

  it("a cascade record whose blocks do not match its steps is refused, naming the field", () => {
    const m = {
      ...valid(),
      devnet: {
        seed: 1, scenario: "cascade",
        cascade: {
          params: { declineBps: 100, blocks: 1, noiseBps: 0 }, steps: 2, firstBlock: 10, lastBlock: 11, blocks: [10], phases: ["crash", "decline"],
          startAnswers: { "10": "300000000000" }, endAnswers: { "10": "200000000000" }, liquidatable: [],
        },
      },
    };
    expect(() => parseManifest(m)).toThrow(/devnet\.cascade\.blocks: has 1 entries for 2 steps/);
    m.devnet.cascade.blocks = [10, 11];
    expect(parseManifest(m).devnet!.cascade!.endAnswers["10"]).toBe(200_000_000_000n);
  });
});
