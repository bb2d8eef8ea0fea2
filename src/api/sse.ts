/**
 * Yoga's Server-Sent Events, with event ids: the same wire format as yoga's own processor (and graphql-sse's
 * "distinct connections" mode: `event: next` / `data: <result>` ... `event: complete`), plus an `id:` line
 * when the result carries a feed event id. A browser EventSource then resumes after a dropped connection
 * by itself: it sends Last-Event-ID, and the `opportunities` subscription replays from there.
 */
import type { ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";
import { FEED_EVENT_ID } from "../indexer/feed-log.js";

const PING_MS = 12_000;

/** The feed event id of a result whose single root field is an event (`{ data: { opportunities: { id } } }`). */
function eventId(result: ExecutionResult): string | undefined {
  const data = result.data as Record<string, unknown> | null | undefined;
  if (!data) return undefined;
  const roots = Object.values(data);
  const id = roots.length === 1 ? (roots[0] as { id?: unknown } | null)?.id : undefined;
  return typeof id === "string" && FEED_EVENT_ID.test(id) ? id : undefined;
}

function isAsyncIterable(v: unknown): v is AsyncIterable<ExecutionResult> {
  return typeof v === "object" && v !== null && Symbol.asyncIterator in v;
}

function sseResponse(result: unknown, fetchAPI: { ReadableStream: typeof ReadableStream; Response: typeof Response; TextEncoder: typeof TextEncoder }): Response {
  const encoder = new fetchAPI.TextEncoder();
  let iterator: AsyncIterator<ExecutionResult> | undefined;
  let ping: NodeJS.Timeout | undefined;
  const stream = new fetchAPI.ReadableStream<Uint8Array>({
    start(controller) {
      // A comment first: some clients wait for the first bytes before they consider the stream open.
      controller.enqueue(encoder.encode(":\n\n"));
      ping = setInterval(() => {
        if (!controller.desiredSize) return clearInterval(ping);
        controller.enqueue(encoder.encode(":\n\n"));
      }, PING_MS);
      iterator = isAsyncIterable(result) ? result[Symbol.asyncIterator]() : (async function* () { yield result as ExecutionResult; })();
    },
    async pull(controller) {
      try {
        const next = await iterator!.next();
        if (next.value != null) {
          const id = eventId(next.value);
          controller.enqueue(encoder.encode(`${id ? `id: ${id}\n` : ""}event: next\ndata: ${JSON.stringify(next.value)}\n\n`));
        }
        if (next.done) {
          clearInterval(ping);
          controller.enqueue(encoder.encode("event: complete\ndata:\n\n"));
          controller.close();
        }
      } catch (error) {
        clearInterval(ping);
        controller.error(error);
      }
    },
    async cancel() {
      clearInterval(ping);
      await iterator?.return?.();
    },
  });
  return new fetchAPI.Response(stream, {
    status: 200,
    headers: { "content-type": "text/event-stream", connection: "keep-alive", "cache-control": "no-cache", "content-encoding": "none" },
  });
}

/** Replaces yoga's SSE result processor with `sseResponse` (yoga's own plugin has already chosen SSE by then). */
export const sseWithEventIds: Plugin = {
  onResultProcess({ request, setResultProcessor }) {
    const accept = request.headers.get("accept") ?? "";
    if (accept.includes("text/event-stream")) setResultProcessor((result, fetchAPI) => sseResponse(result, fetchAPI as never), "text/event-stream");
  },
};
