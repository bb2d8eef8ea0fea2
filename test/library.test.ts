/** `import { createRelayer } from "salvage"` works from the built package, in plain Node. */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";

const root = join(import.meta.dirname, "..");

it("builds, and the package entry exports a validating createRelayer", () => {
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
  expect(out).toMatch(/function detected,kicking,kicked,taking,taken,verified,delivered,seized,abandoned,skipped/);
}, 120_000);
