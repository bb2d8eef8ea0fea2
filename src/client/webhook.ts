/**
 * Webhook signatures, for receivers of salvage's opportunity webhooks (and for the dispatcher that signs them).
 *
 * Each delivery is a POST whose body is one feed event as JSON, with
 *
 *   salvage-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *
 * (Stripe's scheme: the timestamp is signed with the body, so a captured request cannot be replayed later
 * than the tolerance). The key is the hook's secret exactly as shown at registration (`whsec_…`, UTF-8).
 * Verify the raw body bytes as received, before parsing JSON.
 *
 *   const result = verifyWebhook({ secret: process.env.SALVAGE_WEBHOOK_SECRET!, body: rawBody, header: req.headers["salvage-signature"] });
 *   if (!result.ok) return res.writeHead(400).end(result.reason);
 *
 * Nothing here runs on import.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** The headers of a delivery. */
export const WEBHOOK_HEADERS = {
  signature: "salvage-signature",
  eventId: "salvage-event-id",
  deliveryId: "salvage-delivery-id",
  attempt: "salvage-attempt",
} as const;

/** Default tolerance between the signed timestamp and the receiver's clock, in seconds. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

type Body = string | Uint8Array;

const bytesOf = (body: Body): Buffer => (typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body.buffer, body.byteOffset, body.byteLength));

function hmacHex(secret: string, body: Body, timestamp: number): string {
  return createHmac("sha256", secret).update(`${timestamp}.`, "utf8").update(bytesOf(body)).digest("hex");
}

/** The `salvage-signature` header value for `body` signed at `timestamp` (unix seconds). */
export function signWebhook(secret: string, body: Body, timestamp: number): string {
  if (typeof secret !== "string" || secret.length === 0) throw new TypeError("signWebhook: secret must be a non-empty string");
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new TypeError(`signWebhook: timestamp must be whole unix seconds, got ${timestamp}`);
  return `t=${timestamp},v1=${hmacHex(secret, body, timestamp)}`;
}

export interface VerifyWebhookOptions {
  /** The hook's secret (`whsec_…`), as returned when it was registered. */
  secret: string;
  /** The raw request body, byte for byte (not re-serialized JSON). */
  body: Body;
  /** The `salvage-signature` header (Node gives string | string[] | undefined; fetch gives string | null). */
  header: string | readonly string[] | null | undefined;
  /** Largest accepted distance between the signed timestamp and `now`, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The receiver's clock (default: now). */
  now?: Date | number;
}

export type VerifyWebhookResult = { ok: true; timestamp: number } | { ok: false; reason: string };

const HEX_SIGNATURE = /^[0-9a-f]{64}$/;

/**
 * Checks a delivery's signature: the header is well formed, its timestamp is within `toleranceSeconds` of
 * `now` (either side), and one of its `v1` signatures is the HMAC of "<t>.<body>" under `secret`
 * (compared in constant time). Never throws on bad input; says why it rejected.
 */
export function verifyWebhook(options: VerifyWebhookOptions): VerifyWebhookResult {
  const { secret, body } = options;
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (typeof secret !== "string" || secret.length === 0) return { ok: false, reason: "no secret to verify with" };
  if (typeof body !== "string" && !(body instanceof Uint8Array)) return { ok: false, reason: "body must be the raw request body (string or bytes)" };
  if (!(Number.isFinite(tolerance) && tolerance >= 0)) return { ok: false, reason: "toleranceSeconds must be a non-negative number" };

  const raw = Array.isArray(options.header) ? options.header : options.header === null || options.header === undefined ? [] : [options.header];
  if (raw.length === 0) return { ok: false, reason: `missing ${WEBHOOK_HEADERS.signature} header` };
  if (raw.length > 1) return { ok: false, reason: `more than one ${WEBHOOK_HEADERS.signature} header` };
  const header = String(raw[0]).trim();
  if (header.length === 0 || header.length > 4_096) return { ok: false, reason: `malformed ${WEBHOOK_HEADERS.signature} header: expected t=<unix seconds>,v1=<hex>` };

  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) return { ok: false, reason: `malformed ${WEBHOOK_HEADERS.signature} header: "${part.trim().slice(0, 20)}" is not key=value` };
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t") {
      if (timestamp !== undefined) return { ok: false, reason: `malformed ${WEBHOOK_HEADERS.signature} header: more than one t=` };
      if (!/^\d{1,12}$/.test(value)) return { ok: false, reason: `malformed ${WEBHOOK_HEADERS.signature} header: t must be unix seconds` };
      timestamp = Number(value);
    } else if (key === "v1") {
      if (!HEX_SIGNATURE.test(value)) return { ok: false, reason: `malformed ${WEBHOOK_HEADERS.signature} header: v1 must be 64 lower-case hex digits` };
      signatures.push(value);
    }
    // Other schemes (v0, future versions) are ignored, as Stripe does.
  }
  if (timestamp === undefined) return { ok: false, reason: `malformed ${WEBHOOK_HEADERS.signature} header: no t= timestamp` };
  if (signatures.length === 0) return { ok: false, reason: `malformed ${WEBHOOK_HEADERS.signature} header: no v1= signature` };

  const nowMs = options.now === undefined ? Date.now() : typeof options.now === "number" ? options.now : options.now.getTime();
  const age = Math.floor(nowMs / 1000) - timestamp;
  if (Math.abs(age) > tolerance) {
    return { ok: false, reason: age > 0 ? `timestamp is ${age} s old, more than the ${tolerance} s tolerance (replayed or delayed)` : `timestamp is ${-age} s in the future, more than the ${tolerance} s tolerance` };
  }

  const expected = Buffer.from(hmacHex(secret, body, timestamp), "hex");
  let match = false;
  // Compare against every v1 given (no early exit), each in constant time.
  for (const s of signatures) if (timingSafeEqual(expected, Buffer.from(s, "hex"))) match = true;
  return match ? { ok: true, timestamp } : { ok: false, reason: "signature does not match: wrong secret, or the body was altered" };
}
