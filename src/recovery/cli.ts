/**
 * `salvage relay`: the relayer for operators. Structured logs (pino, JSON on stdout), keys from the environment
 * (SALVAGE_TAKER_KEY, SALVAGE_VERIFIER_KEY). With --metrics-port, an HTTP server on 127.0.0.1:PORT serves
 *   GET /metrics                 Prometheus metrics
 *   GET /health                  "ok"
 *   GET /recoveries[?recent=N]   the relayer's report as JSON (src/recovery/report.ts): recoveries by state and
 *                                the N (0..100, default 20) most recently updated; 400 on a bad N
 * SIGINT/SIGTERM stop it after the current step; every recovery resumes from the database next time.
 */
import { createHash } from "node:crypto";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { type Logger, pino } from "pino";
import { z } from "zod";
import { ANVIL_DEV_KEYS } from "../chains/dev-keys.js";
import { type Manifest, hubChain, isLoopbackUrl, readManifest } from "../deployment/manifest.js";
import { type RelayerConfigInput, keysFromEnv } from "./config.js";
import { type Relayer, createRelayer } from "./relayer.js";
import { DEFAULT_RECENT, relayerReport } from "./report.js";
import type { Deployment } from "../protocol/deployment.js";
import { hubAccountedProtocol } from "../protocols/hub-accounted/index.js";
import type { LendingProtocol } from "./protocol.js";

export const RELAY_USAGE = `usage: salvage relay [--manifest PATH] [--database-url URL | --pglite-dir DIR | --memory] [--schema NAME]
                    [--indexer-url URL] [--max-feed-lag BLOCKS] [--executor ADDRESS]
                    [--worker-id ID] [--metrics-port PORT] [--min-profit-usd USD] [--max-exposure-usd USD] [--max-batch-orders N]
                    [--poll-ms MS] [--devnet-keys] [--no-deliver] [--no-backrun]
                    [--protocol reference|NAME] [--collateral withdraw|keep]
  keys: SALVAGE_TAKER_KEY (takes on the hub), SALVAGE_VERIFIER_KEY (delivers on local chains)
  database: --database-url, else DATABASE_URL, else a PGlite directory (--pglite-dir, default
            .salvage/relayer/<hub chain id>-<deployment>), or --memory for state that dies with the process
  detection: the indexer's opportunity feed at --indexer-url (SALVAGE_INDEXER_URL), the hub scanner when
             it is absent, unreachable or more than --max-feed-lag hub blocks behind; feed updates still in
             the hub's pool are backrun (taken in their own block) unless --no-backrun
  protocol: the reference protocol, or a protocol of the manifest's \`protocols\` by name (hub-accounted: its
            own scanner detects; seized collateral is withdrawn to its spoke, or kept on the hub with --collateral keep);
            its state goes to its own schema (salvage_relayer_NAME) or PGlite directory`;

/**
 * The default PGlite directory: one per deployment, so two devnets that reuse chain ids never share nonces, and
 * one per protocol of it (`protocol`: a name in the manifest's `protocols`; the reference protocol when absent).
 */
export function defaultPgliteDir(manifest: Manifest, cwd = process.cwd(), protocol?: string): string {
  const hub = hubChain(manifest);
  const id = createHash("sha256").update(`${manifest.createdAt}:${hub.chainId}:${hub.contracts.hub}`).digest("hex").slice(0, 12);
  return resolve(cwd, ".salvage", "relayer", `${hub.chainId}-${id}${protocol ? `-${protocol}` : ""}`);
}

/**
 * The protocol `--protocol` names: the reference protocol (`reference`, the default) or a name from the manifest's
 * `protocols`, with `--collateral` (hub-accounted only: `withdraw`, the default, or `keep`).
 */
export function chooseProtocol(manifest: Manifest, name: string | undefined, collateral: string | undefined): { name?: string; make?: (d: Deployment) => LendingProtocol } {
  if (collateral !== undefined && collateral !== "withdraw" && collateral !== "keep") throw new Error(`--collateral: must be withdraw or keep, got ${collateral}`);
  if (name === undefined || name === "reference") {
    if (collateral !== undefined) throw new Error("--collateral: only a hub-accounted protocol keeps or withdraws collateral (see --protocol)");
    return {};
  }
  const entry = manifest.protocols.find((p) => p.name === name);
  if (!entry) throw new Error(`--protocol: the manifest has no protocol named ${name} (reference${manifest.protocols.map((p) => `, ${p.name}`).join("")})`);
  return { name, make: (d) => hubAccountedProtocol(d, { name, collateral: collateral as "withdraw" | "keep" | undefined }) };
}

/** The most recent recoveries GET /recoveries lists at most. */
export const MAX_REPORT_RECENT = 100;

const RecoveriesQuery = z.object({
  recent: z
    .string()
    .regex(/^\d{1,3}$/)
    .transform(Number)
    .pipe(z.number().int().min(0).max(MAX_REPORT_RECENT))
    .default(String(DEFAULT_RECENT)),
});

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify(body));
}

/** The --metrics-port server's routes: /metrics, /health and /recoveries (see the module's comment). */
export function relayerHttpHandler(relayer: Pick<Relayer, "metrics" | "store" | "workerId">, log?: Logger): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      if (url.pathname === "/metrics") {
        res.setHeader("content-type", relayer.metrics.registry.contentType);
        res.end(await relayer.metrics.registry.metrics());
      } else if (url.pathname === "/health") {
        res.end("ok");
      } else if (url.pathname === "/recoveries") {
        if (req.method !== "GET" && req.method !== "HEAD") {
          res.setHeader("allow", "GET, HEAD");
          return sendJson(res, 405, { error: "method not allowed" });
        }
        const query = RecoveriesQuery.safeParse(Object.fromEntries(url.searchParams));
        if (!query.success) return sendJson(res, 400, { error: `recent must be an integer in [0, ${MAX_REPORT_RECENT}]` });
        sendJson(res, 200, await relayerReport(relayer, query.data.recent));
      } else {
        res.statusCode = 404;
        res.end();
      }
    } catch (error) {
      log?.error({ url: req.url, error: error instanceof Error ? error.message : String(error) }, "http request failed");
      if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
      else res.end();
    }
  };
}

export async function relayCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      manifest: { type: "string", default: ".devnet/manifest.json" },
      "database-url": { type: "string" },
      "pglite-dir": { type: "string" },
      memory: { type: "boolean" },
      "indexer-url": { type: "string" },
      "max-feed-lag": { type: "string" },
      executor: { type: "string" },
      "max-batch-orders": { type: "string" },
      schema: { type: "string" },
      "worker-id": { type: "string" },
      "metrics-port": { type: "string" },
      "min-profit-usd": { type: "string" },
      "max-exposure-usd": { type: "string" },
      "poll-ms": { type: "string" },
      "devnet-keys": { type: "boolean" },
      "no-deliver": { type: "boolean" },
      "no-backrun": { type: "boolean" },
      protocol: { type: "string" },
      collateral: { type: "string" },
    },
  });
  const log = pino({ base: { service: "salvage-relay" } });
  const manifest = readManifest(values.manifest!);
  const protocol = chooseProtocol(manifest, values.protocol, values.collateral);
  let keys = keysFromEnv();
  if (values["devnet-keys"]) {
    if (!manifest.chains.every((c) => isLoopbackUrl(c.rpcUrl))) throw new Error("--devnet-keys: refused, the manifest has a chain that is not on loopback");
    keys = { taker: keys.taker ?? ANVIL_DEV_KEYS.liquidator, verifier: keys.verifier ?? ANVIL_DEV_KEYS.relayer };
  }
  const databaseUrl = values["database-url"] ?? process.env.DATABASE_URL;
  let pgliteDir = values["pglite-dir"];
  if (!databaseUrl && !pgliteDir && !values.memory) {
    pgliteDir = defaultPgliteDir(manifest, process.cwd(), protocol.name);
    mkdirSync(pgliteDir, { recursive: true });
  }
  if (databaseUrl) log.info({ database: "postgres", schema: values.schema ?? "salvage_relayer" }, "relayer state in PostgreSQL");
  else if (pgliteDir) log.info({ database: "pglite", dir: pgliteDir }, "relayer state in a PGlite directory");
  else log.warn({ database: "memory" }, "relayer state in memory only (--memory): a restart forgets every recovery");
  const killAt = process.env.SALVAGE_KILL_AT;
  const relayer = await createRelayer(
    {
      manifest,
      // One relayer database per protocol: recoveries, nonces and the executor are the protocol's.
      database: { url: databaseUrl, pgliteDir, memory: values.memory ?? false, schema: values.schema ?? (protocol.name ? `salvage_relayer_${protocol.name.replaceAll("-", "_")}` : undefined) },
      indexerUrl: values["indexer-url"] ?? process.env.SALVAGE_INDEXER_URL,
      maxFeedLagBlocks: values["max-feed-lag"] ? Number(values["max-feed-lag"]) : undefined,
      executor: values.executor,
      maxBatchOrders: values["max-batch-orders"] ? Number(values["max-batch-orders"]) : undefined,
      // Missing keys are reported by the config schema as keys.taker / keys.verifier.
      keys: keys as RelayerConfigInput["keys"],
      workerId: values["worker-id"],
      policy: {
        ...(values["min-profit-usd"] ? { minProfitUsd: values["min-profit-usd"] } : {}),
        ...(values["max-exposure-usd"] ? { maxExposureUsd: values["max-exposure-usd"] } : {}),
      },
      pollIntervalMs: values["poll-ms"] ? Number(values["poll-ms"]) : undefined,
      deliver: values["no-deliver"] ? false : undefined,
      backrun: values["no-backrun"] ? false : undefined,
    },
    {
      log,
      protocol: protocol.make,
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
    if (e.type === "failed" || e.type === "rejected" || e.type === "reorged") log.warn({ guid: e.packet.guid, status: e.type, attempts: e.packet.attempts, error: e.packet.lastError }, "packet");
  });

  let server: ReturnType<typeof createServer> | undefined;
  if (values["metrics-port"]) {
    server = createServer(relayerHttpHandler(relayer, log));
    server.listen(Number(values["metrics-port"]), "127.0.0.1");
  }

  relayer.start();
  log.info({ worker: relayer.workerId, hub: relayer.deployment.hub.name, executor: relayer.executor, detection: relayer.detection() }, "relayer started");
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await relayer.close();
  server?.close();
  log.info({}, "relayer stopped");
}
