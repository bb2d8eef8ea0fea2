/**
 * A counting JSON-RPC proxy on 127.0.0.1 for the benchmarks: every HTTP POST is forwarded to `target` as is
 * and its JSON-RPC requests counted (each element of a batch on its own), in total and per method.
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export interface RpcProxy {
  readonly url: string;
  /** JSON-RPC requests since the last reset (batch elements counted one by one). */
  requests(): number;
  /** HTTP requests since the last reset. */
  httpRequests(): number;
  byMethod(): Record<string, number>;
  reset(): void;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export async function startRpcProxy(target: string): Promise<RpcProxy> {
  let requests = 0;
  let http = 0;
  let methods = new Map<string, number>();
  const count = (method: unknown) => {
    requests++;
    const m = typeof method === "string" ? method : "(invalid)";
    methods.set(m, (methods.get(m) ?? 0) + 1);
  };
  const server = createServer(async (req, res) => {
    try {
      const body = await readBody(req);
      if (req.method === "POST") {
        http++;
        try {
          const parsed = JSON.parse(body.toString()) as unknown;
          for (const item of Array.isArray(parsed) ? parsed : [parsed]) count((item as { method?: unknown } | null)?.method);
        } catch {
          count(undefined);
        }
      }
      const upstream = await fetch(target, {
        method: req.method,
        headers: { "content-type": req.headers["content-type"] ?? "application/json" },
        body: req.method === "POST" ? new Uint8Array(body) : undefined,
      });
      const out = Buffer.from(await upstream.arrayBuffer());
      res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
      res.end(out);
    } catch (error) {
      // The chain is down (or stopping): the client sees what a dead RPC looks like.
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(`rpc proxy: ${(error as Error).message}`);
    }
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => requests,
    httpRequests: () => http,
    byMethod: () => Object.fromEntries([...methods.entries()].sort((a, b) => b[1] - a[1])),
    reset() {
      requests = 0;
      http = 0;
      methods = new Map();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
