/**
 * Reorg awareness: a take that a hub reorg removes sends the recovery back to `taking`, which resends the
 * same signed transaction (same nonce), never a second take.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { devnetAccounts } from "../src/devnet/accounts.js";
import type { TransitionEvent } from "../src/recovery/coordinator.js";
import { type Relayer, createRelayer } from "../src/recovery/relayer.js";
import { type CrashScenario, crashScenario, expectRecoveredExactlyOnce, waitUntilRecovered, scenarioRelayerConfig } from "./helpers/scenario.js";

let s: CrashScenario;
let relayer: Relayer;
const transitions: TransitionEvent[] = [];
let reorged: { takeTx: string; block: bigint } | undefined;
let reorging = false;

beforeAll(async () => {
  s = await crashScenario({ accounts: 20, seed: 31 });
  const hub = s.net.deployment.hubClients.public;
  relayer = await createRelayer(
    // No delivery yet: the first batch of takes is the hub's newest block when it is reorged out.
    scenarioRelayerConfig(s, { deliver: false }),
    {
      async checkpoint(point) {
        // Recoveries of one batch move to taken side by side: only the first checkpoint rolls the block back.
        if (point !== "taken" || reorging) return;
        reorging = true;
        const [r] = (await relayer.store.list()).filter((x) => x.state === "taken");
        const head = await hub.getBlockNumber();
        expect(r!.takeBlock).toBe(head);
        reorged = { takeTx: r!.takeTx!, block: head };
        await hub.request({ method: "anvil_rollback", params: [1] } as never);
      },
    },
  );
  relayer.on("transition", (e) => transitions.push(e));
}, 300_000);

afterAll(async () => {
  await relayer?.close();
  await s?.net.stop();
});

it("resends the same take after a reorg removes it, and completes once", async () => {
  relayer.start();
  // Deliver only once the reorg is done: a SEIZE delivered from the orphaned block would consume the spoke's
  // nonce with the orphaned amount (the deliverer has no confirmation depth; a real DVN waits for finality).
  const deadline = Date.now() + 60_000;
  while (!reorged && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(reorged).toBeDefined();
  s.net.deliverer.start();
  await waitUntilRecovered(s, () => relayer.store.list());
  await relayer.stop();
  await s.net.deliverer.stop();

  expect(reorged).toBeDefined();
  const back = transitions.find((t) => t.to === "taking" && t.from === "taken");
  expect(back?.detail).toMatch(/reorged out/);
  const recovery = (await relayer.store.list()).find((r) => r.id === back!.recovery.id)!;
  expect(recovery.state).toBe("seized");
  // The same signed transaction was mined again, in a new block.
  expect(recovery.takeTx).toBe(reorged!.takeTx);
  const receipt = await s.net.deployment.hubClients.public.getTransactionReceipt({ hash: recovery.takeTx! });
  expect(receipt.status).toBe("success");
  await expectRecoveredExactlyOnce(s, await relayer.store.list(), devnetAccounts.liquidator.address);
}, 240_000);
