/**
 * The API's read of a relayer's report (src/api/relayer-report.ts) against real HTTP servers on loopback: a
 * relayer's own handler (src/recovery/cli.ts, over an in-memory PGlite store) read whole; and a server that
 * answers an error, one that answers something that is not a report, one that does not answer in time, and a port
 * nobody listens on: each said in `error`, never thrown. A malformed SALVAGE_RELAYER_URL is refused naming it.
 */
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../src/chains/anvil.js";
import { relayerRecoveries, relayerUrl } from "../src/api/relayer-report.js";
import { relayerHttpHandler } from "../src/recovery/cli.js";
import { openDatabase } from "../src/recovery/db.js";
import { createRelayerMetrics } from "../src/recovery/metrics.js";
import { RecoveryStore } from "../src/recovery/store.js";

const servers: Server[] = [];
async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const read = (url: string) => relayerRecoveries({ SALVAGE_RELAYER_URL: url })!;

describe("the relayer's report, read by the API", () => {
  it("is null without SALVAGE_RELAYER_URL, and a malformed one is refused naming the variable", () => {
    expect(relayerRecoveries({})).toBeNull();
    expect(() => relayerUrl({ SALVAGE_RELAYER_URL: "ftp://relayer" })).toThrow(/SALVAGE_RELAYER_URL/);
    expect(() => relayerUrl({ SALVAGE_RELAYER_URL: "not a url" })).toThrow(/SALVAGE_RELAYER_URL/);
    expect(relayerUrl({ SALVAGE_RELAYER_URL: "http://127.0.0.1:9464/" })).toBe("http://127.0.0.1:9464");
  });

  it("reads what a relayer's own server answers (its store's recoveries by state)", async () => {
    const store = new RecoveryStore(await openDatabase({ schema: "report_test" }));
    const accounts = ["0x00000000000000000000000000000000000000aa", "0x00000000000000000000000000000000000000bb"] as const;
    expect(await store.detectMany(31400, accounts)).toHaveLength(2);
    const url = await serve((req, res) => void relayerHttpHandler({ store, workerId: "w1", metrics: createRelayerMetrics(store) })(req, res));
    const { report, error } = await read(url);
    expect(error).toBeNull();
    expect(report!.worker).toBe("w1");
    expect(report!.states.detected).toBe(2);
    expect(Object.values(report!.states).reduce((a, b) => a + b, 0)).toBe(2);
    expect(report!.recent.map((r) => r.account).sort()).toEqual([...accounts]);
  });

  it("keeps every field of a recovery as served, a skip reason included", async () => {
    const report = {
      worker: "w1",
      states: { detected: 2, seized: 5, skipped: 1 },
      recent: [{ id: 3, account: "0x00000000000000000000000000000000000000aa", state: "skipped", reason: "no inventory of asset 1", takeId: null, guid: null, takeTx: null, deliverTx: null, updatedAt: "2026-11-27T03:55:56.710Z" }],
    };
    let asked = "";
    const url = await serve((req, res) => {
      asked = req.url ?? "";
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(report));
    });
    expect(await read(url)).toEqual({ report, error: null });
    expect(asked).toBe("/recoveries?recent=10");
  });

  it("says why when the relayer answers an error, something else, nothing in time, or nobody listens", async () => {
    const failing = await serve((_, res) => {
      res.statusCode = 500;
      res.end("{}");
    });
    expect(await read(failing)).toEqual({ report: null, error: "the relayer answered HTTP 500" });

    const other = await serve((_, res) => res.end(JSON.stringify({ worker: "w1", states: { seized: -1 }, recent: [] })));
    expect((await read(other)).error).toMatch(/malformed at states\.seized/);

    const silent = await serve(() => undefined);
    expect((await read(silent)).error).toBe("the relayer did not answer within 1000 ms");

    const nobody = `http://127.0.0.1:${await freePort()}`;
    expect((await read(nobody)).error).toMatch(/^the relayer is unreachable: /);
  });
});
