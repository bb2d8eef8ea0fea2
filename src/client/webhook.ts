/**
 * Standard Webhooks (https://www.standardwebhooks.com) signatures, for receivers of salvage's opportunity
 * webhooks and for the dispatcher that signs them.
 *
 * Each delivery is a POST whose body is one feed event as JSON, with
 *
 *   webhook-id         the message id: the feed event's id, the same on every retry (an idempotency key)
 *   webhook-timestamp  unix seconds of this attempt
 *   webhook-signature  "v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>", space-separated when several
 *                      (during a secret rotation the new and the previous secret both sign)
 *
 * The secret is `whsec_<base64>`; the HMAC key is the base64-decoded part after `whsec_` (24 to 64 bytes).
 * Verify the raw body bytes as received, before parsing JSON:
 *
 *   const check = verifyWebhook({ secret: process.env.SALVAGE_WEBHOOK_SECRET!, body: rawBody, headers: req.headers });
 *   if (!check.ok) return res.writeHead(400).end(check.reason);
 *
 * Any Standard Webhooks verifier works too (the `standardwebhooks` npm package: new Webhook(secret).verify(body, headers)).
 * Nothing here has side effects on import (it only builds zod schemas).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "zod";

/** The Standard Webhooks headers of a delivery. */
export const WEBHOOK_HEADERS = {
  id: "webhook-id",
  timestamp: "webhook-timestamp",
  signature: "webhook-signature",
} as const;

/** Default tolerance between the signed timestamp and the receiver's clock, in seconds (the spec's 5 minutes). */
export const DEFAULT_TOLERANCE_SECONDS = 300;

export const SECRET_PREFIX = "whsec_";
const SECRET_MIN_BYTES = 24;
const SECRET_MAX_BYTES = 64;
/** Canonical (padded) base64. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** A v1 signature: base64 of the 32 bytes of an HMAC-SHA256. */
const V1_SIGNATURE = /^[A-Za-z0-9+/]{43}=$/;
const SECRET_FORMAT = `must be ${SECRET_PREFIX}<base64 of ${SECRET_MIN_BYTES} to ${SECRET_MAX_BYTES} bytes>`;

export type WebhookBody = string | Uint8Array;

/** The three headers of a signed delivery (a type, not an interface: it fits Record<string, string> and HeadersInit). */
export type SignedWebhookHeaders = {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
};

/** Headers as Node gives them (IncomingHttpHeaders) or as fetch gives them (Headers). */
export type WebhookHeaderSource = { get(name: string): string | null } | Readonly<Record<string, string | readonly string[] | undefined>>;

/** The HMAC key of a `whsec_…` secret, or undefined when it is not one. */
function secretKey(secret: unknown): Buffer | undefined {
  if (typeof secret !== "string" || !secret.startsWith(SECRET_PREFIX)) return undefined;
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!BASE64.test(encoded)) return undefined;
  const key = Buffer.from(encoded, "base64");
  return key.length >= SECRET_MIN_BYTES && key.length <= SECRET_MAX_BYTES ? key : undefined;
}

/** A new secret: `whsec_` + base64 of `bytes` random bytes (default 32). */
export function createWebhookSecret(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < SECRET_MIN_BYTES || bytes > SECRET_MAX_BYTES) throw new RangeError(`bytes: must be an integer in [${SECRET_MIN_BYTES}, ${SECRET_MAX_BYTES}]`);
  return `${SECRET_PREFIX}${randomBytes(bytes).toString("base64")}`;
}

const bytesOf = (body: WebhookBody): Buffer => (typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body.buffer, body.byteOffset, body.byteLength));

function hmac(key: Buffer, id: string, timestamp: number, body: WebhookBody): Buffer {
  return createHmac("sha256", key).update(`${id}.${timestamp}.`, "utf8").update(bytesOf(body)).digest();
}

const secretSchema = z.string({ required_error: "required", invalid_type_error: SECRET_FORMAT }).refine((s) => secretKey(s) !== undefined, SECRET_FORMAT);

const signInput = z.object({
  secret: z.union([secretSchema, z.array(secretSchema).min(1, "must list at least one secret")]),
  // The spec: ids must not contain "."; a header value: printable ASCII, no spaces.
  id: z.string({ required_error: "required", invalid_type_error: "must be a string" }).regex(/^[\x21-\x2d\x2f-\x7e]{1,256}$/, "must be 1 to 256 printable ASCII characters, without spaces or '.'"),
  timestamp: z.number({ required_error: "required", invalid_type_error: "must be unix seconds" }).int("must be whole unix seconds").nonnegative("must be whole unix seconds"),
  body: z.union([z.string(), z.instanceof(Uint8Array)], { errorMap: () => ({ message: "must be the exact body sent (string or bytes)" }) }),
});

export interface SignWebhookInput {
  /** The hook's secret, or several (the new one first during a rotation): one signature each. */
  secret: string | readonly string[];
  /** The message id (`webhook-id`). */
  id: string;
  /** Unix seconds of this attempt (`webhook-timestamp`). */
  timestamp: number;
  /** The body, byte for byte as sent. */
  body: WebhookBody;
}

/** The Standard Webhooks headers of `body`. Throws a TypeError naming the field on bad input. */
export function signWebhook(input: SignWebhookInput): SignedWebhookHeaders {
  const parsed = signInput.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new TypeError(`signWebhook: ${issue.path.join(".") || "input"}: ${issue.message}`);
  }
  const { id, timestamp, body } = parsed.data;
  const secrets = typeof parsed.data.secret === "string" ? [parsed.data.secret] : parsed.data.secret;
  const signatures = secrets.map((s) => `v1,${hmac(secretKey(s)!, id, timestamp, body).toString("base64")}`);
  return { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": signatures.join(" ") };
}

export interface VerifyWebhookInput {
  /** The hook's secret (`whsec_…`), as returned when it was registered or rotated. */
  secret: string;
  /** The raw request body, byte for byte (not re-serialized JSON). */
  body: WebhookBody;
  /** The request's headers: Node's `req.headers` or fetch's `request.headers`. */
  headers: WebhookHeaderSource;
  /** Largest accepted distance between `webhook-timestamp` and `now`, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The receiver's clock (default: now). */
  now?: Date | number;
}

export type VerifyWebhookResult = { ok: true; id: string; timestamp: number } | { ok: false; reason: string };

/** One header's value; `undefined` when absent, an array when it came more than once. */
function header(headers: WebhookHeaderSource, name: string): string | readonly string[] | undefined {
  if (typeof (headers as { get?: unknown }).get === "function") return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  if (name in record) return record[name];
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : record[key];
}

function single(headers: WebhookHeaderSource, name: string): { value: string } | { reason: string } {
  const raw = header(headers, name);
  const values = raw === undefined ? [] : typeof raw === "string" ? [raw] : [...raw];
  if (values.length === 0 || (values.length === 1 && values[0]!.trim() === "")) return { reason: `${name}: missing header` };
  if (values.length > 1) return { reason: `${name}: more than one header` };
  return { value: values[0]!.trim() };
}

/**
 * Checks a delivery: the three headers are present, `webhook-timestamp` is within `toleranceSeconds` of `now`
 * (either side), and one of the `v1` signatures in `webhook-signature` is the HMAC of "<id>.<timestamp>.<body>"
 * under the secret's key (each compared in constant time; other versions, e.g. `v1a`, are ignored).
 * Never throws on bad input: says why it rejected, naming the field or header.
 */
export function verifyWebhook(input: VerifyWebhookInput): VerifyWebhookResult {
  const key = secretKey(input.secret);
  if (!key) return { ok: false, reason: `secret: ${SECRET_FORMAT}` };
  const { body } = input;
  if (typeof body !== "string" && !(body instanceof Uint8Array)) return { ok: false, reason: "body: must be the raw request body (string or bytes)" };
  const tolerance = input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (!(Number.isFinite(tolerance) && tolerance >= 0)) return { ok: false, reason: "toleranceSeconds: must be a non-negative number" };
  if (typeof input.headers !== "object" || input.headers === null) return { ok: false, reason: "headers: must be the request's headers" };

  const id = single(input.headers, WEBHOOK_HEADERS.id);
  if ("reason" in id) return { ok: false, reason: id.reason };
  const ts = single(input.headers, WEBHOOK_HEADERS.timestamp);
  if ("reason" in ts) return { ok: false, reason: ts.reason };
  const sig = single(input.headers, WEBHOOK_HEADERS.signature);
  if ("reason" in sig) return { ok: false, reason: sig.reason };
  if (!/^\d{1,12}$/.test(ts.value)) return { ok: false, reason: `${WEBHOOK_HEADERS.timestamp}: must be unix seconds` };
  const timestamp = Number(ts.value);

  const nowMs = input.now === undefined ? Date.now() : typeof input.now === "number" ? input.now : input.now.getTime();
  const age = Math.floor(nowMs / 1000) - timestamp;
  if (Math.abs(age) > tolerance) {
    return {
      ok: false,
      reason: age > 0
        ? `${WEBHOOK_HEADERS.timestamp}: ${age} s old, more than the ${tolerance} s tolerance (replayed or delayed)`
        : `${WEBHOOK_HEADERS.timestamp}: ${-age} s in the future, more than the ${tolerance} s tolerance`,
    };
  }

  const v1 = sig.value.split(" ").filter((s) => s.startsWith("v1,")).map((s) => s.slice(3));
  if (v1.length === 0) return { ok: false, reason: `${WEBHOOK_HEADERS.signature}: no v1 signature` };
  const expected = hmac(key, id.value, timestamp, body);
  let match = false;
  // Every v1 signature is compared (no early exit), each in constant time.
  for (const s of v1) if (V1_SIGNATURE.test(s) && timingSafeEqual(expected, Buffer.from(s, "base64"))) match = true;
  return match
    ? { ok: true, id: id.value, timestamp }
    : { ok: false, reason: `${WEBHOOK_HEADERS.signature}: no signature matches: wrong secret, or the id, timestamp or body was altered` };
}
