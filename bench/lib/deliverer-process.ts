/**
 * The devnet's LayerZero deliverer (our stand-in for LayerZero's DVNs and executor) in a process of its own, for
 * the crash benchmark: on a real network those are other parties' machines, so the relayer under measurement
 * runs with `--no-deliver` and does not pay for verifying and delivering every packet on its own event loop.
 *
 *   tsx bench/lib/deliverer-process.ts <manifest.json> <poll ms>
 *
 * Prints one JSON line `{"msg":"deliverer started"}` once it delivers, then one per packet that fails; SIGTERM
 * stops it after its rounds in flight settle.
 */
import { readManifest } from "../../src/deployment/manifest.js";
import { createDevnetDeliverer } from "../../src/devnet/network.js";

const [manifestPath, pollMs] = process.argv.slice(2);
if (!manifestPath) throw new Error("usage: deliverer-process.ts <manifest.json> [poll ms]");
const deliverer = createDevnetDeliverer(readManifest(manifestPath), {
  pollIntervalMs: Number(pollMs ?? 200),
  onEvent: (e) => {
    if (e.type === "failed" || e.type === "rejected" || e.type === "reorged") console.log(JSON.stringify({ msg: `packet ${e.type}`, guid: e.packet.guid, error: e.packet.lastError }));
  },
});
deliverer.start();
console.log(JSON.stringify({ msg: "deliverer started", pid: process.pid }));
const stop = async () => {
  await deliverer.stop();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
