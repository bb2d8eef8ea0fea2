/**
 * A JSON-RPC endpoint that can go down: an HTTP proxy on 127.0.0.1 in front of a node, forwarding every request as
 * is while up, and resetting every connection (new and open) while down. What a client sees when its provider or
 * the network to it fails, while the chain itself goes on: the node keeps its mempool, its blocks and their
 * receipts, as a real node does. (Restarting anvil from a state file instead lost blocks' receipts under load: the
 * node came back with the relayer's batch nonce consumed and no receipt for it, which no real node does.)
 */
import { type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface RpcOutage {
  readonly url: string;
  down(): void;
  up(): void;
  close(): Promise<void>;
}

export async function startRpcOutageProxy(target: string): Promise<RpcOutage> {
  let isDown = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res: ServerResponse) => {
    if (isDown) return void req.socket.destroy();
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      try {
        const answer = await fetch(target, { method: req.method, headers: { "content-type": "application/json" }, body: req.method === "POST" ? Buffer.concat(chunks) : undefined });
        if (isDown) return void req.socket.destroy();
        res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" });
        res.end(Buffer.from(await answer.arrayBuffer()));
      } catch {
        req.socket.destroy();
      }
    });
  });
  server.on("connection", (s: Socket) => {
    if (isDown) return void s.destroy();
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    down() {
      isDown = true;
      for (const s of sockets) s.destroy();
    },
    up() {
      isDown = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
