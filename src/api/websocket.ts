/**
 * GraphQL over WebSocket (the graphql-ws protocol, `graphql-transport-ws`) on Ponder's own HTTP server, at
 * the same path as the HTTP endpoint (/salvage/graphql). Operations run through yoga's envelop
 * (`yoga.getEnveloped`), so the schema, the limits (depth, aliases, tokens) and error masking are the same
 * as over HTTP and SSE.
 *
 * Ponder 0.16 creates its HTTP server itself (`serve({ createServer: http.createServer })` in
 * ponder/dist/esm/server) and does not expose it. The API module is loaded before that server is created,
 * so `acceptWebSocketsOnPonderServer` wraps `http.createServer`: servers created from then on (Ponder's, and
 * the throwaway one Ponder opens to probe for a free port) also answer WebSocket upgrades on `path`.
 */
import type http from "node:http";
import { createRequire } from "node:module";
import type { Duplex } from "node:stream";
import { type ExecutionArgs, GraphQLError } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import type { YogaServerInstance } from "graphql-yoga";
import { WebSocketServer } from "ws";
import { clientOfUpgrade } from "./limits.js";

// Any yoga server: the operation's context comes from its own `context` factory (the transport is added here).
type AnyYoga = YogaServerInstance<any, any>;
type Enveloped = ReturnType<AnyYoga["getEnveloped"]>;
interface Root {
  execute: Enveloped["execute"];
  subscribe: Enveloped["subscribe"];
}

export function attachGraphQLWebSocket(server: http.Server, yoga: AnyYoga, path: string): WebSocketServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1_000_000 });
  server.on("upgrade", (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const pathname = new URL(request.url ?? "/", "http://localhost").pathname;
    if (pathname !== path) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit("connection", ws, request));
  });
  useServer(
    {
      execute: (args: ExecutionArgs) => (args.rootValue as Root).execute(args),
      subscribe: (args: ExecutionArgs) => (args.rootValue as Root).subscribe(args),
      onSubscribe: async (ctx, _id, payload) => {
        // The subscription resolvers refuse past the per-socket cap (src/api/limits.ts): an error thrown there is
        // this realm's GraphQLError, which graphql-ws's own copy of graphql would not take from onSubscribe.
        // graphql-ws has counted this operation in already.
        const client = clientOfUpgrade((ctx.extra as { request: http.IncomingMessage }).request);
        const socketSubscriptions = Object.keys(ctx.subscriptions).length;
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({ ...ctx, transport: "ws", client, socketSubscriptions, params: payload });
        let document;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [error instanceof GraphQLError ? error : new GraphQLError(String((error as Error).message ?? error))];
        }
        if (document instanceof Error) return [new GraphQLError(document.message)];
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        return {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } satisfies Root,
        };
      },
    },
    wss,
  );
  return wss;
}

/**
 * node:http's own exports object (what Ponder's `http.createServer` reads): vite-node, which runs this module,
 * hands ES imports of builtins a read-only proxy, so the object is taken through require.
 */
const nodeHttp = createRequire(import.meta.url)("node:http") as typeof http;

/** The current (yoga, path), kept on node:http itself so a re-executed API module (ponder dev) replaces it instead of wrapping twice. */
const SLOT = Symbol.for("salvage.graphql-websocket");
type Slot = { yoga: AnyYoga; path: string };

/** Makes HTTP servers created from now on in this process (Ponder's) serve GraphQL over WebSocket at `path`. */
export function acceptWebSocketsOnPonderServer(yoga: AnyYoga, path: string): void {
  const holder = nodeHttp as unknown as Record<symbol, Slot | undefined>;
  const armed = holder[SLOT] !== undefined;
  holder[SLOT] = { yoga, path };
  if (armed) return;
  const original = nodeHttp.createServer;
  nodeHttp.createServer = function createServer(this: unknown, ...args: unknown[]) {
    const server = (original as (...a: unknown[]) => http.Server).apply(this, args);
    const { yoga: current, path: at } = holder[SLOT]!;
    attachGraphQLWebSocket(server, current, at);
    return server;
  } as typeof nodeHttp.createServer;
}
