/**
 * signWebhook / verifyWebhook (src/client/webhook.ts) against the Standard Webhooks spec and its reference
 * implementation (the `standardwebhooks` npm package): what a receiver accepts, what it rejects, and why.
 */
import { createHmac, randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { createWebhookSecret, signWebhook, verifyWebhook } from "../src/client/webhook.js";

const secret = createWebhookSecret();
const other = createWebhookSecret();
const id = "00000000000000000042:0000000003:0x00000000000000000000000000000000000000aa";
const body = JSON.stringify({ id, kind: "liquidatable", healthFactor: "990000000000000000" });
const t = 1_800_000_000;
const now = new Date(t * 1000 + 20_000);
const sign = (s: string | string[] = secret, b: string | Uint8Array = body, ts = t) => signWebhook({ secret: s, id, timestamp: ts, body: b });
const keyOf = (s: string) => Buffer.from(s.slice("whsec_".length), "base64");

describe("webhook signatures (Standard Webhooks)", () => {
  it("secrets are whsec_ + base64 of random bytes (32 by default, 24 to 64 accepted)", () => {
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(keyOf(secret).length).toBe(32);
    expect(secret).not.toBe(other);
    expect(keyOf(createWebhookSecret(24)).length).toBe(24);
    expect(keyOf(createWebhookSecret(64)).length).toBe(64);
    expect(() => createWebhookSecret(16)).toThrow(/bytes/);
  });

  it("signs v1,<base64 HMAC-SHA256(base64-decoded key, '<id>.<timestamp>.<body>')>, as the reference implementation does", () => {
    const headers = sign();
    const expected = createHmac("sha256", keyOf(secret)).update(`${id}.${t}.${body}`).digest("base64");
    expect(headers).toEqual({ "webhook-id": id, "webhook-timestamp": String(t), "webhook-signature": `v1,${expected}` });
    expect(new Webhook(secret).sign(id, new Date(t * 1000), body)).toBe(headers["webhook-signature"]);
    // String and bytes sign the same.
    expect(sign(secret, Buffer.from(body))).toEqual(headers);
    // The reference implementation's own test vector (libraries/javascript/src/webhook.test.ts, "sign function works").
    const vector = signWebhook({ secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1614265330, body: '{"test": 2432232314}' });
    expect(vector["webhook-signature"]).toBe(new Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").sign("msg_p5jXN8AQM9LWM0D4loKWxJek", new Date(1614265330 * 1000), '{"test": 2432232314}'));
    expect(vector["webhook-signature"]).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("signs with several secrets (a rotation): one v1 signature each, space-separated, each verifying alone", () => {
    const both = sign([secret, other])["webhook-signature"];
    expect(both.split(" ")).toEqual([sign(secret)["webhook-signature"], sign(other)["webhook-signature"]]);
    // Signed at the current time: the reference verifier reads the clock.
    const fresh = signWebhook({ secret: [secret, other], id, timestamp: Math.floor(Date.now() / 1000), body });
    for (const s of [secret, other]) {
      expect(new Webhook(s).verify(body, fresh)).toEqual(JSON.parse(body));
      expect(verifyWebhook({ secret: s, body, headers: fresh })).toEqual({ ok: true, id, timestamp: Number(fresh["webhook-timestamp"]) });
    }
    expect(() => new Webhook(createWebhookSecret()).verify(body, fresh)).toThrow(/No matching signature/);
  });

  it("names the field at fault when signing with bad input", () => {
    expect(() => signWebhook({ secret: "whsec_test", id, timestamp: t, body })).toThrow(/^signWebhook: secret: must be whsec_<base64 of 24 to 64 bytes>/);
    expect(() => signWebhook({ secret: `whsec_${randomBytes(16).toString("base64")}`, id, timestamp: t, body })).toThrow(/secret: must be whsec_/);
    expect(() => signWebhook({ secret: [secret, "nope"], id, timestamp: t, body })).toThrow(/^signWebhook: secret\.1: /);
    expect(() => signWebhook({ secret: [], id, timestamp: t, body })).toThrow(/^signWebhook: secret: must list at least one secret/);
    expect(() => signWebhook({ secret, id: "a.b", timestamp: t, body })).toThrow(/^signWebhook: id: .*without spaces or '\.'/);
    expect(() => signWebhook({ secret, id: "", timestamp: t, body })).toThrow(/^signWebhook: id: /);
    expect(() => signWebhook({ secret, id, timestamp: 1.5, body })).toThrow(/^signWebhook: timestamp: must be whole unix seconds/);
    expect(() => signWebhook({ secret, id, timestamp: t, body: 42 as unknown as string })).toThrow(/^signWebhook: body: /);
  });

  it("accepts a genuine delivery: string or raw bytes; headers as Node gives them or as fetch gives them", () => {
    const headers = sign();
    expect(verifyWebhook({ secret, body, headers, now })).toEqual({ ok: true, id, timestamp: t });
    expect(verifyWebhook({ secret, body: new TextEncoder().encode(body), headers: new Headers(headers), now })).toEqual({ ok: true, id, timestamp: t });
    // Header names are case-insensitive.
    const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
    expect(verifyWebhook({ secret, body, headers: upper, now }).ok).toBe(true);
    // Other signature versions (v1a: asymmetric) and other secrets' signatures are skipped.
    const sig = headers["webhook-signature"];
    expect(verifyWebhook({ secret, body, headers: { ...headers, "webhook-signature": `v1a,AAAA ${sign(other)["webhook-signature"]} ${sig}` }, now }).ok).toBe(true);
  });

  it("rejects a tampered body, id or timestamp", () => {
    const headers = sign();
    const tampered = verifyWebhook({ secret, body: body.replace("990000000000000000", "980000000000000000"), headers, now });
    expect(tampered).toEqual({ ok: false, reason: expect.stringMatching(/^webhook-signature: no signature matches/) });
    expect(verifyWebhook({ secret, body: `${body} `, headers, now }).ok).toBe(false);
    expect(verifyWebhook({ secret, body, headers: { ...headers, "webhook-id": `${id}0` }, now }).ok).toBe(false);
    // Moving the timestamp without the secret breaks the signature.
    expect(verifyWebhook({ secret, body, headers: { ...headers, "webhook-timestamp": String(t + 10) }, now }).ok).toBe(false);
  });

  it("rejects the wrong secret", () => {
    expect(verifyWebhook({ secret, body, headers: sign(other), now })).toEqual({ ok: false, reason: expect.stringMatching(/wrong secret/) });
  });

  it("rejects a stale (replayed) or future timestamp, with a 5-minute tolerance by default", () => {
    const headers = sign();
    expect(verifyWebhook({ secret, body, headers, now: new Date((t + 300) * 1000) }).ok).toBe(true);
    expect(verifyWebhook({ secret, body, headers, now: new Date((t + 301) * 1000) })).toEqual({ ok: false, reason: expect.stringMatching(/^webhook-timestamp: 301 s old.*300 s tolerance/) });
    expect(verifyWebhook({ secret, body, headers, now: new Date((t + 301) * 1000), toleranceSeconds: 600 }).ok).toBe(true);
    expect(verifyWebhook({ secret, body, headers, now: new Date((t - 400) * 1000) })).toEqual({ ok: false, reason: expect.stringMatching(/^webhook-timestamp: 400 s in the future/) });
  });

  it("rejects malformed input with a reason naming the field or header", () => {
    const headers = sign();
    const without = (name: string) => Object.fromEntries(Object.entries(headers).filter(([k]) => k !== name));
    const cases: [Record<string, string | string[] | undefined>, RegExp][] = [
      [without("webhook-id"), /^webhook-id: missing header/],
      [without("webhook-timestamp"), /^webhook-timestamp: missing header/],
      [without("webhook-signature"), /^webhook-signature: missing header/],
      [{ ...headers, "webhook-id": [id, id] }, /^webhook-id: more than one header/],
      [{ ...headers, "webhook-id": "" }, /^webhook-id: missing header/],
      [{ ...headers, "webhook-timestamp": "soon" }, /^webhook-timestamp: must be unix seconds/],
      [{ ...headers, "webhook-timestamp": "-5" }, /^webhook-timestamp: must be unix seconds/],
      [{ ...headers, "webhook-signature": "v2,abc" }, /^webhook-signature: no v1 signature/],
      [{ ...headers, "webhook-signature": "v1,not-base64!" }, /^webhook-signature: no signature matches/],
      [{ ...headers, "webhook-signature": headers["webhook-signature"].slice(0, -2) }, /^webhook-signature: no signature matches/],
    ];
    for (const [h, reason] of cases) {
      const r = verifyWebhook({ secret, body, headers: h, now });
      expect(r.ok, JSON.stringify(h)).toBe(false);
      if (!r.ok) expect(r.reason, JSON.stringify(h)).toMatch(reason);
    }
    expect(verifyWebhook({ secret: "", body, headers, now })).toEqual({ ok: false, reason: expect.stringMatching(/^secret: must be whsec_/) });
    expect(verifyWebhook({ secret: "whsec_!!!!", body, headers, now })).toEqual({ ok: false, reason: expect.stringMatching(/^secret: must be whsec_/) });
    expect(verifyWebhook({ secret, body: 42 as unknown as string, headers, now })).toEqual({ ok: false, reason: expect.stringMatching(/^body: /) });
    expect(verifyWebhook({ secret, body, headers, now, toleranceSeconds: -1 })).toEqual({ ok: false, reason: expect.stringMatching(/^toleranceSeconds: /) });
  });
});
