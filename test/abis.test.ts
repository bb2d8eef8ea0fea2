/** abis/ must be exactly what `npm run compile` makes from contracts/ and the LayerZero package. */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { compileContracts, renderAbis } from "../src/contracts/compile.js";

const root = join(import.meta.dirname, "..");

it("abis/ is up to date with contracts/ (run `npm run compile` if this fails)", () => {
  const expected = renderAbis(compileContracts(join(root, "contracts")));
  const onDisk = Object.fromEntries(readdirSync(join(root, "abis")).map((f) => [f, readFileSync(join(root, "abis", f), "utf8")]));
  expect(Object.keys(onDisk).sort()).toEqual(Object.keys(expected).sort());
  for (const [file, text] of Object.entries(expected)) expect(onDisk[file], `abis/${file} is stale`).toBe(text);
}, 180_000);
