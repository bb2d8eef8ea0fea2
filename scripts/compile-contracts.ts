/** Writes abis/ from contracts/ (see src/contracts/compile.ts). Usage: npm run compile */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compileContracts, renderAbis } from "../src/contracts/compile.js";

const root = join(import.meta.dirname, "..");
const outDir = join(root, "abis");
const files = renderAbis(compileContracts(join(root, "contracts")));
mkdirSync(outDir, { recursive: true });
for (const stale of readdirSync(outDir)) if (!(stale in files)) rmSync(join(outDir, stale));
for (const [name, text] of Object.entries(files)) writeFileSync(join(outDir, name), text);
console.log(`abis/: ${Object.keys(files).length} files`);
