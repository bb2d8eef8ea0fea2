/**
 * Which salvage app the benchmarks run: the working tree (default), or a committed snapshot (`--app-ref REF`:
 * `git archive REF` into a temporary directory with node_modules linked), so figures can name a commit even
 * while the tree is being edited.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./ponder.js";

export interface App {
  root: string;
  commit: string;
  /** Uncommitted changes in the working tree's app files (only for the working tree). */
  dirty: boolean;
  label: string;
  cleanup(): void;
}

const git = (...args: string[]) => execFileSync("git", args, { cwd: REPO_ROOT, encoding: "utf8" }).trim();

export function selectApp(ref: string | undefined): App {
  if (!ref) {
    const commit = git("rev-parse", "HEAD");
    const dirty = git("status", "--porcelain", "--", "src", "ponder.config.ts", "ponder.schema.ts", "abis").length > 0;
    return { root: REPO_ROOT, commit, dirty, label: `working tree at ${commit.slice(0, 8)}${dirty ? " (with uncommitted changes)" : ""}`, cleanup() {} };
  }
  const commit = git("rev-parse", ref);
  const dir = mkdtempSync(join(tmpdir(), "salvage-app-"));
  execFileSync("sh", ["-c", `git archive ${commit} | tar -x -C "${dir}"`], { cwd: REPO_ROOT });
  symlinkSync(join(REPO_ROOT, "node_modules"), join(dir, "node_modules"));
  return { root: dir, commit, dirty: false, label: `commit ${commit.slice(0, 8)}`, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
