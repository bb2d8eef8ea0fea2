/**
 * `salvage relay`: the relayer for operators. Structured logs (pino, JSON on stdout), Prometheus metrics
 * at http://127.0.0.1:PORT/metrics, keys from the environment (SALVAGE_TAKER_KEY, SALVAGE_VERIFIER_KEY).
 * SIGINT/SIGTERM stop it after the current step; every recovery resumes from the database next time.
 */
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { DEVNET_KEYS } from "../devnet/accounts.js";
import { isLoopbackUrl, readManifest } from "../deployment/manifest.js";
import { type RelayerConfigInput, keysFromEnv } from "./config.js";
import { createRelayer } from "./relayer.js";

export const RELAY_USAGE = `usage: salvage relay [--manifest PATH] [--database-url URL | --pglite-dir DIR] [--schema NAME]
                    [--worker-id ID] [--metrics-port PORT] [--min-profit-usd USD] [--concurrency N]
                    [--poll-ms MS] [--devnet-keys] [--no-deliver]
  keys: SALVAGE_TAKER_KEY (takes on the hub), SALVAGE_VERIFIER_KEY (delivers on local chains)
  database: DATABASE_URL when --database-url is not given; PGlite otherwise`;

export async function relayCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      manifest: { type: "string", default: ".devnet/manifest.json" },
      "database-url": { type: "string" },
      "pglite-dir": { type: "string" },
      schema: { type: "string" },
      "worker-id": { type: "string" },
      "metrics-port": { type: "string" },
      "min-profit-usd": { type: "string" },
      concurrency: { type: "string" },
      "poll-ms": { type: "string" },
      "devnet-keys": { type: "boolean" },
      "no-deliver": { type: "boolean" },
    },
  });
  const log = pino({ base: { service: "salvage-relay" } });
  const manifest = readManifest(values.manifest!);
  let keys = keysFromEnv();
  if (values["devnet-keys"]) {
    if (!manifest.chains.every((c) => isLoopbackUrl(c.rpcUrl))) throw new Error("--devnet-keys: refused, the manifest has a chain that is not on loopback");
    keys = { taker: keys.taker ?? DEVNET_KEYS.liquidator, verifier: keys.verifier ?? DEVNET_KEYS.relayer };
  }
  const killAt = process.env.SALVAGE_KILL_AT;
  const relayer = await createRelayer(
    {
      manifest,
      database: { url: values["database-url"] ?? process.env.DATABASE_URL, pgliteDir: values["pglite-dir"], schema: values.schema },
      // Missing keys are reported by the config schema as keys.taker / keys.verifier.
      keys: keys as RelayerConfigInput["keys"],
      workerId: values["worker-id"],
      policy: values["min-profit-usd"] ? { minProfitUsd: values["min-profit-usd"] } : undefined,
      concurrency: values.concurrency ? Number(values.concurrency) : undefined,
      pollIntervalMs: values["poll-ms"] ? Number(values["poll-ms"]) : undefined,
      deliver: values["no-deliver"] ? false : undefined,
    },
    {
      log,
      // Fault injection for the crash-safety tests: die without any cleanup at the named checkpoint.
      checkpoint: killAt
        ? (point) => {
            if (point === killAt) {
              log.warn({ point }, "SALVAGE_KILL_AT reached: SIGKILL");
              process.kill(process.pid, "SIGKILL");
            }
          }
        : undefined,
    },
  );
  relayer.on("transition", (e) => {
    if (e.to === "seized") log.info({ recovery: e.recovery.id, account: e.recovery.account, takeId: String(e.recovery.takeId), seizeTx: e.recovery.deliverTx }, "recovered");
  });
  relayer.on("packet", (e) => {
    if (e.type === "failed" || e.type === "rejected") log.warn({ guid: e.packet.guid, status: e.type, attempts: e.packet.attempts, error: e.packet.lastError }, "packet");
  });

  let server: ReturnType<typeof createServer> | undefined;
  if (values["metrics-port"]) {
    server = createServer(async (req, res) => {
      if (req.url === "/metrics") {
        res.setHeader("content-type", relayer.metrics.registry.contentType);
        res.end(await relayer.metrics.registry.metrics());
      } else if (req.url === "/health") {
        res.end("ok");
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    server.listen(Number(values["metrics-port"]), "127.0.0.1");
  }

  relayer.start();
  log.info({ worker: relayer.workerId, hub: relayer.deployment.hub.name }, "relayer started");
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await relayer.close();
  server?.close();
  log.info({}, "relayer stopped");
}
