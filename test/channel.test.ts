/** A subscription's queue (src/api/channel.ts): bounded in values and in bytes; the overflow ends it with the producer's error. */
import { describe, expect, it } from "vitest";
import { Channel } from "../src/api/channel.js";

describe("subscription channel", () => {
  it("ends a subscriber whose waiting values pass the byte bound, after delivering what was queued; reading frees bytes", async () => {
    let closed = 0;
    const c = new Channel<string>(1_000, () => new Error("too slow: resume with since"), () => closed++, { max: 10, of: (v) => Buffer.byteLength(v) });
    expect(c.push("abcd")).toBe(true); // 4 bytes
    expect(c.push("efgh")).toBe(true); // 8
    expect(c.pendingBytes).toBe(8);
    expect(await c.next()).toEqual({ value: "abcd", done: false }); // read: 4 left
    expect(c.pendingBytes).toBe(4);
    expect(c.push("ijklmn")).toBe(true); // 10: at the bound, still queued
    expect(c.ended).toBe(false);
    expect(c.push("o")).toBe(false); // 11: over it
    expect(c.ended).toBe(true); // a replay feeding it stops here (src/api/feed.ts)
    expect(c.closed).toBe(false); // not closed before the subscriber reads the error
    expect(c.push("p")).toBe(false); // failed: nothing more is queued
    expect(await c.next()).toEqual({ value: "efgh", done: false });
    expect(await c.next()).toEqual({ value: "ijklmn", done: false });
    await expect(c.next()).rejects.toThrow("too slow: resume with since");
    expect(closed).toBe(1);
  });

  it("counts values alone without a byte bound", async () => {
    const c = new Channel<string>(2, () => new Error("full"), () => undefined);
    expect([c.push("a".repeat(1_000_000)), c.push("b"), c.push("c")]).toEqual([true, true, false]);
    expect(c.pendingBytes).toBe(0);
  });
});
