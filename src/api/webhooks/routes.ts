/**
 * Webhook administration, mounted at /salvage/webhooks (src/api/index.ts). Every route needs
 * `Authorization: Bearer <SALVAGE_ADMIN_TOKEN>`; without SALVAGE_ADMIN_TOKEN they answer 503.
 *
 *   POST   /salvage/webhooks                  {url, filter?, description?} → 201 {id, url, filter, description, secret, createdAt}
 *                                             (the secret `whsec_<base64>` is shown only here); a URL whose host is
 *                                             (or resolves to) a refused address is a 400 naming `url` (destination.ts)
 *   GET    /salvage/webhooks                  {hooks: [...]} (no secrets)
 *   GET    /salvage/webhooks/:id              the hook (disabled, disabledReason, previousSecretExpiresAt…) and its deliveries by status
 *   DELETE /salvage/webhooks/:id              disables it (its history is kept; pending deliveries are closed as failed)
 *   POST   /salvage/webhooks/:id/rotate-secret           {overlapSeconds?} → 200 the hook with its new `secret`; the previous
 *                                             one keeps signing beside it for overlapSeconds (default SALVAGE_WEBHOOK_SECRET_OVERLAP)
 *   GET    /salvage/webhooks/:id/deliveries   ?status=pending|delivered|failed&first=1..500&after=<delivery id>
 *                                             newest first, each with its attempts (status code, error, duration)
 *   POST   /salvage/webhooks/:id/deliveries/:deliveryId/resend   a failed delivery, once more → 202
 *   POST   /salvage/webhooks/:id/deliveries/resend               every failed delivery of the hook, once more → 202 {resent}
 *                                             (a disabled hook: 409; a delivery that is not failed: 409)
 *
 * The filter is the feed's (src/api/feed.ts): {kinds?, accounts?, chainId?, minProfitUsd?, minDebtUsd?}, decimals
 * as strings. A hook gets every event logged after its registration that passes the filter. Bad input → 400
 * {error: "<field>: <what is wrong>", field}.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { formatUnits } from "viem";
import { z } from "zod";
import { type FeedFilter, parseFeedFilter } from "../feed.js";
import { createWebhookSecret } from "../../client/webhook.js";
import { QueryError, latestEventId } from "../queries.js";
import { adminToken } from "./config.js";
import { log, webhookService } from "./service.js";
import { DELIVERY_STATUSES, type DeliveryStatus, type Hook } from "./store.js";

export { startWebhooks } from "./service.js";

const MAX_BODY_BYTES = 128 * 1024;

/** A 400: `message` names `field` ("url: must be an http(s) URL"). */
class BadRequest extends Error {
  constructor(
    readonly field: string,
    what: string,
    message = `${field}: ${what}`,
  ) {
    super(message);
  }
}

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest();
const sameToken = (given: string, expected: string) => timingSafeEqual(sha256(given), sha256(expected));

function isHttpUrl(raw: string): boolean {
  try {
    const u = new URL(raw);
    return (u.protocol === "http:" || u.protocol === "https:") && u.hostname.length > 0;
  } catch {
    return false;
  }
}

// fetch refuses URLs with credentials; say so at registration rather than fail every delivery.
const noCredentials = (raw: string) => {
  try {
    const u = new URL(raw);
    return u.username === "" && u.password === "";
  } catch {
    return true;
  }
};

const registration = z
  .object({
    url: z.string({ required_error: "required", invalid_type_error: "must be an http(s) URL" }).max(2_048, "must be at most 2048 characters").refine(isHttpUrl, "must be an http(s) URL").refine(noCredentials, "must not contain credentials (user:password@); authenticate the receiver by the signature"),
    filter: z.unknown().optional(),
    description: z.string({ invalid_type_error: "must be a string" }).max(500, "must be at most 500 characters").nullable().optional(),
  })
  .strict();

/** `raw` by a strict object schema; its first issue a BadRequest naming the field (an unknown one: `expected`). */
function parseStrict<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, raw: unknown, expected: string): T {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  if (issue.code === "unrecognized_keys") throw new BadRequest(issue.keys[0]!, `unknown field (expected ${expected})`);
  throw new BadRequest(issue.path.join(".") || "body", issue.message);
}

function parseRegistration(raw: unknown): { url: string; filter: FeedFilter; description: string | null } {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new BadRequest("body", "must be a JSON object {url, filter?, description?}");
  const body = parseStrict(registration, raw, "url, filter, description");
  let filter: FeedFilter;
  try {
    filter = parseFeedFilter(body.filter, "filter");
  } catch (error) {
    // The feed's own validation names the field: "filter.kinds.0: Invalid enum value…", "filter.minProfitUsd must be…".
    if (error instanceof QueryError) throw new BadRequest(error.argument ?? "filter", "", error.message);
    throw error;
  }
  return { url: new URL(body.url).href, filter, description: body.description ?? null };
}

/** The filter as stored and shown: the input form (decimal strings), normalized (checksummed accounts, canonical decimals). */
function filterJson(f: FeedFilter): Record<string, unknown> {
  return {
    ...(f.kinds ? { kinds: f.kinds } : {}),
    ...(f.accounts ? { accounts: f.accounts } : {}),
    ...(f.chainId !== undefined ? { chainId: f.chainId } : {}),
    ...(f.minProfitUsd !== undefined ? { minProfitUsd: formatUnits(f.minProfitUsd, 18) } : {}),
    ...(f.minDebtUsd !== undefined ? { minDebtUsd: formatUnits(f.minDebtUsd, 18) } : {}),
  };
}

const hookJson = (h: Hook) => ({
  id: h.id,
  url: h.url,
  filter: h.filter,
  description: h.description,
  createdAt: h.createdAt.toISOString(),
  disabled: h.disabled,
  disabledAt: h.disabledAt?.toISOString() ?? null,
  /** "deleted" (DELETE) or "gone" (the receiver answered 410 Gone). */
  disabledReason: h.disabledReason,
  secretRotatedAt: h.secretRotatedAt?.toISOString() ?? null,
  previousSecretExpiresAt: h.previousSecretExpiresAt?.toISOString() ?? null,
});

function hookId(raw: string): number {
  if (!/^[1-9]\d{0,8}$/.test(raw)) throw new BadRequest("id", "must be a hook id (a positive integer)");
  return Number(raw);
}

function deliveryId(raw: string): string {
  if (!/^[1-9]\d{0,17}$/.test(raw)) throw new BadRequest("deliveryId", "must be a delivery id (a positive integer)");
  return raw;
}

const MAX_OVERLAP_SECONDS = 30 * 86_400;

const rotation = z
  .object({
    overlapSeconds: z
      .number({ invalid_type_error: "must be a whole number of seconds" })
      .int("must be a whole number of seconds")
      .min(0, `must be in [0, ${MAX_OVERLAP_SECONDS}]`)
      .max(MAX_OVERLAP_SECONDS, `must be in [0, ${MAX_OVERLAP_SECONDS}]`)
      .optional(),
  })
  .strict();

/** The rotation body: empty, or {overlapSeconds?}. */
function parseRotation(text: string): { overlapSeconds?: number } {
  let raw: unknown = {};
  if (text.trim() !== "") {
    try {
      raw = JSON.parse(text);
    } catch {
      throw new BadRequest("body", "must be empty or a JSON object {overlapSeconds?}");
    }
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new BadRequest("body", "must be empty or a JSON object {overlapSeconds?}");
  return parseStrict(rotation, raw, "overlapSeconds");
}

const notFound = (id: number) => ({ error: `id: no webhook ${id}`, field: "id" });
const disabledHook = (h: Hook) => ({ error: `id: webhook ${h.id} is disabled (${h.disabledReason === "gone" ? "its receiver answered 410 Gone" : "deleted"}); register the URL again`, field: "id" });

function first(raw: string | undefined): number {
  if (raw === undefined) return 100;
  const n = Number(raw);
  if (!/^\d{1,3}$/.test(raw) || n < 1 || n > 500) throw new BadRequest("first", "must be an integer in [1, 500]");
  return n;
}

export const webhookRoutes = new Hono();

webhookRoutes.use("*", async (c, next) => {
  const token = adminToken();
  if (!token) {
    return c.json({ error: "webhooks are disabled: set SALVAGE_ADMIN_TOKEN in the API process's environment (then send Authorization: Bearer <token>) and restart" }, 503);
  }
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(c.req.header("authorization") ?? "");
  if (!match || !sameToken(match[1]!, token)) {
    return c.json({ error: "authorization: send Authorization: Bearer <SALVAGE_ADMIN_TOKEN>", field: "authorization" }, 401, { "www-authenticate": 'Bearer realm="salvage-webhooks"' });
  }
  await next();
});

webhookRoutes.use(
  "*",
  bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => c.json({ error: `body: larger than ${MAX_BODY_BYTES} bytes`, field: "body" }, 413) }),
);

webhookRoutes.onError((error, c) => {
  if (error instanceof BadRequest) return c.json({ error: error.message, field: error.field }, 400);
  log("error", "webhook route failed", { path: c.req.path, error: error.message.slice(0, 300) });
  return c.json({ error: "webhook store unavailable; see the API log" }, 503);
});

webhookRoutes.post("/", async (c) => {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw new BadRequest("body", "must be a JSON object {url, filter?, description?}");
  }
  const input = parseRegistration(raw);
  const { store, destinations } = await webhookService();
  const destination = await destinations.checkUrl(input.url);
  if (!destination.ok) throw new BadRequest("url", destination.reason);
  const secret = createWebhookSecret();
  // The hook gets what is logged from now on: events after the log's newest id.
  const hook = await store.createHook({ url: input.url, filter: filterJson(input.filter), description: input.description, secret, afterEventId: (await latestEventId()) ?? "" });
  log("info", "webhook registered", { hook: hook.id });
  const { id, url, filter, description, createdAt } = hookJson(hook);
  return c.json({ id, url, filter, description, createdAt, secret }, 201);
});

webhookRoutes.get("/", async (c) => {
  const { store } = await webhookService();
  return c.json({ hooks: (await store.listHooks()).map(hookJson) });
});

webhookRoutes.get("/:id", async (c) => {
  const id = hookId(c.req.param("id"));
  const { store } = await webhookService();
  const hook = await store.getHook(id);
  if (!hook) return c.json(notFound(id), 404);
  return c.json({ ...hookJson(hook), deliveries: await store.hookStats(id) });
});

webhookRoutes.post("/:id/rotate-secret", async (c) => {
  const id = hookId(c.req.param("id"));
  const input = parseRotation(await c.req.text());
  const { store, config } = await webhookService();
  const overlapMs = input.overlapSeconds === undefined ? config.secretOverlapMs : input.overlapSeconds * 1_000;
  const secret = createWebhookSecret();
  const rotated = await store.rotateSecret(id, secret, overlapMs);
  if (rotated === undefined) return c.json(notFound(id), 404);
  if (rotated === "disabled") return c.json(disabledHook((await store.getHook(id))!), 409);
  log("info", "webhook secret rotated", { hook: id, overlapMs });
  return c.json({ ...hookJson(rotated), secret });
});

webhookRoutes.post("/:id/deliveries/resend", async (c) => {
  const id = hookId(c.req.param("id"));
  const { store, dispatcher } = await webhookService();
  const result = await store.resend(id);
  if (result.status === "no-hook") return c.json(notFound(id), 404);
  if (result.status === "hook-disabled") return c.json(disabledHook(result.hook), 409);
  if (result.status !== "resent") throw new Error(`unexpected resend result ${result.status}`);
  dispatcher.wake();
  log("info", "webhook failed deliveries resent", { hook: id, resent: result.ids.length });
  return c.json({ resent: result.ids.length, deliveries: result.ids }, 202);
});

webhookRoutes.post("/:id/deliveries/:deliveryId/resend", async (c) => {
  const id = hookId(c.req.param("id"));
  const delivery = deliveryId(c.req.param("deliveryId"));
  const { store, dispatcher } = await webhookService();
  const result = await store.resend(id, delivery);
  switch (result.status) {
    case "no-hook":
      return c.json(notFound(id), 404);
    case "hook-disabled":
      return c.json(disabledHook(result.hook), 409);
    case "no-delivery":
      return c.json({ error: `deliveryId: webhook ${id} has no delivery ${delivery}`, field: "deliveryId" }, 404);
    case "not-failed":
      return c.json({ error: `deliveryId: delivery ${delivery} is ${result.deliveryStatus}; only failed deliveries are resent`, field: "deliveryId" }, 409);
    case "resent":
      dispatcher.wake();
      log("info", "webhook delivery resent", { hook: id, delivery });
      return c.json({ resent: 1, deliveries: result.ids }, 202);
  }
});

webhookRoutes.delete("/:id", async (c) => {
  const id = hookId(c.req.param("id"));
  const { store } = await webhookService();
  const result = await store.disableHook(id);
  if (!result) return c.json(notFound(id), 404);
  log("info", "webhook disabled", { hook: id, cancelled: result.cancelled });
  return c.json({ ...hookJson(result.hook), cancelledDeliveries: result.cancelled });
});

webhookRoutes.get("/:id/deliveries", async (c) => {
  const id = hookId(c.req.param("id"));
  const status = c.req.query("status");
  if (status !== undefined && !(DELIVERY_STATUSES as readonly string[]).includes(status)) throw new BadRequest("status", `must be one of ${DELIVERY_STATUSES.join(", ")}`);
  const after = c.req.query("after");
  if (after !== undefined && !/^[1-9]\d{0,17}$/.test(after)) throw new BadRequest("after", "must be a delivery id (the endCursor of the previous page)");
  const page = first(c.req.query("first"));
  const { store } = await webhookService();
  if (!(await store.getHook(id))) return c.json(notFound(id), 404);
  const result = await store.deliveries(id, { status: status as DeliveryStatus | undefined, first: page, after });
  return c.json({
    items: result.items.map((d) => ({
      ...d,
      nextAttemptAt: d.nextAttemptAt?.toISOString() ?? null,
      lastAttemptAt: d.lastAttemptAt?.toISOString() ?? null,
      deliveredAt: d.deliveredAt?.toISOString() ?? null,
      createdAt: d.createdAt.toISOString(),
      attemptLog: d.attemptLog.map((a) => ({ ...a, startedAt: a.startedAt.toISOString() })),
    })),
    pageInfo: { hasNextPage: result.hasNextPage, endCursor: result.items[result.items.length - 1]?.id ?? null },
  });
});
