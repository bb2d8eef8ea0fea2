/** `import { createRelayer } from "salvage"` works from the built package, in plain Node. */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";

const root = join(import.meta.dirname, "..");

it("builds; the package entry exports a validating createRelayer, and salvage/client the typed client and webhook checks", () => {
  execFileSync("npm", ["run", "build"], { cwd: root, stdio: "pipe" });
  const script = `
    import { createRelayer, parseRelayerConfig, RECOVERY_STATES } from "salvage";
    const manifest = ${JSON.stringify({ not: "a manifest" })};
    try { await createRelayer({ manifest, keys: { taker: "0x1234" } }); console.log("accepted"); }
    catch (error) { console.log(error.message); }
    console.log(typeof parseRelayerConfig, RECOVERY_STATES.join(","));
  `;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: root, encoding: "utf8" });
  expect(out).toMatch(/invalid relayer config/);
  expect(out).toMatch(/keys\.taker: must be a 32-byte hex private key/);
  expect(out).toMatch(/function detected,kicking,kicked,taking,taken,verified,delivered,stalled,seized,abandoned,skipped/);

  // The typed client and the webhook signature check, from "salvage/client".
  const client = `
    import { randomBytes } from "node:crypto";
    import { createSalvageClient, opportunityEventSchema, signWebhook, verifyWebhook } from "salvage/client";
    const c = createSalvageClient({ url: "http://127.0.0.1:1" });
    const body = JSON.stringify({ id: "x" });
    const [secret, other] = [0, 1].map(() => "whsec_" + randomBytes(24).toString("base64"));
    const headers = signWebhook({ secret, id: "x", timestamp: Math.floor(Date.now() / 1000), body });
    console.log(typeof c.opportunities, verifyWebhook({ secret, body, headers }).ok, verifyWebhook({ secret: other, body, headers }).ok);
    const e = opportunityEventSchema.safeParse({ id: "1", kind: "liquidatable", account: "0x12" });
    console.log(e.success ? "accepted" : e.error.issues.map((i) => i.path.join(".")).join(","));
  `;
  const clientOut = execFileSync(process.execPath, ["--input-type=module", "-e", client], { cwd: root, encoding: "utf8" });
  expect(clientOut).toMatch(/^function true false$/m);
  expect(clientOut).toMatch(/account/);
}, 120_000);
