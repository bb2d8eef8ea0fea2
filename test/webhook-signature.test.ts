/** signWebhook / verifyWebhook (src/client/webhook.ts): what a receiver accepts and what it rejects, and why. */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signWebhook, verifyWebhook } from "../src/client/webhook.js";

const secret = `whsec_${"ab".repeat(32)}`;
const body = JSON.stringify({ id: "00000000000000000042:0000000003:0x00000000000000000000000000000000000000aa", kind: "liquidatable", healthFactor: "990000000000000000" });
const t = 1_800_000_000;
const now = new Date(t * 1000 + 20_000);

describe("webhook signatures", () => {
  it("signs Stripe-style: t=<seconds>,v1=<hex HMAC-SHA256(secret, '<t>.<body>')>", () => {
    const header = signWebhook(secret, body, t);
    const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
    expect(header).toBe(`t=${t},v1=${expected}`);
    // String and bytes sign the same.
    expect(signWebhook(secret, Buffer.from(body), t)).toBe(header);
    expect(() => signWebhook("", body, t)).toThrow(/secret/);
    expect(() => signWebhook(secret, body, 1.5)).toThrow(/timestamp/);
  });

  it("accepts a genuine delivery (string or raw bytes, header as Node or fetch gives it)", () => {
    const header = signWebhook(secret, body, t);
    expect(verifyWebhook({ secret, body, header, now })).toEqual({ ok: true, timestamp: t });
    expect(verifyWebhook({ secret, body: new TextEncoder().encode(body), header: [header], now })).toEqual({ ok: true, timestamp: t });
    // A rotated secret: several v1 signatures, one of which matches.
    const other = signWebhook("whsec_old", body, t).split(",v1=")[1];
    expect(verifyWebhook({ secret, body, header: `${header},v1=${other}`, now }).ok).toBe(true);
    // Unknown schemes are ignored.
    expect(verifyWebhook({ secret, body, header: `${header},v0=whatever`, now }).ok).toBe(true);
  });

  it("rejects a tampered body", () => {
    const header = signWebhook(secret, body, t);
    const r = verifyWebhook({ secret, body: body.replace("990000000000000000", "980000000000000000"), header, now });
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(/does not match/) });
    expect(verifyWebhook({ secret, body: `${body} `, header, now }).ok).toBe(false);
  });

  it("rejects the wrong secret", () => {
    const header = signWebhook(`whsec_${"cd".repeat(32)}`, body, t);
    expect(verifyWebhook({ secret, body, header, now })).toEqual({ ok: false, reason: expect.stringMatching(/wrong secret/) });
  });

  it("rejects a stale (replayed) or future timestamp, and a timestamp re-signed by nobody", () => {
    const header = signWebhook(secret, body, t);
    const late = verifyWebhook({ secret, body, header, now: new Date((t + 301) * 1000) });
    expect(late).toEqual({ ok: false, reason: expect.stringMatching(/301 s old.*300 s tolerance/) });
    expect(verifyWebhook({ secret, body, header, now: new Date((t + 301) * 1000), toleranceSeconds: 600 }).ok).toBe(true);
    expect(verifyWebhook({ secret, body, header, now: new Date((t - 400) * 1000) })).toEqual({ ok: false, reason: expect.stringMatching(/400 s in the future/) });
    // Moving the timestamp forward without the secret breaks the signature.
    const forged = header.replace(`t=${t}`, `t=${t + 250}`);
    expect(verifyWebhook({ secret, body, header: forged, now: new Date((t + 300) * 1000) })).toEqual({ ok: false, reason: expect.stringMatching(/does not match/) });
  });

  it("rejects malformed headers with a clear reason", () => {
    const sig = signWebhook(secret, body, t).split(",v1=")[1]!;
    const cases: [string | string[] | null | undefined, RegExp][] = [
      [undefined, /missing salvage-signature/],
      [null, /missing salvage-signature/],
      [[], /missing salvage-signature/],
      [["a", "b"], /more than one salvage-signature/],
      ["", /malformed/],
      ["garbage", /not key=value/],
      [`v1=${sig}`, /no t= timestamp/],
      [`t=${t}`, /no v1= signature/],
      [`t=${t},v1=xyz`, /v1 must be 64 lower-case hex digits/],
      [`t=${t},v1=${sig.toUpperCase()}`, /v1 must be 64 lower-case hex digits/],
      [`t=soon,v1=${sig}`, /t must be unix seconds/],
      [`t=-5,v1=${sig}`, /t must be unix seconds/],
      [`t=${t},t=${t},v1=${sig}`, /more than one t=/],
    ];
    for (const [header, reason] of cases) {
      const r = verifyWebhook({ secret, body, header, now });
      expect(r.ok, JSON.stringify(header)).toBe(false);
      if (!r.ok) expect(r.reason, JSON.stringify(header)).toMatch(reason);
    }
    expect(verifyWebhook({ secret: "", body, header: signWebhook(secret, body, t), now })).toEqual({ ok: false, reason: "no secret to verify with" });
  });
});
