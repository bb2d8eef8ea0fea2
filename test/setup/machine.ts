/**
 * What `npm test` needs from the machine beyond `npm ci`, provided before any test file runs (vitest globalSetup),
 * so a fresh machine needs nothing installed by hand:
 * - PostgreSQL on 127.0.0.1:5432: started with Debian's `pg_ctlcluster` when it is installed but down;
 * - Chromium at /usr/bin/chromium for the page's browser test: Debian's package, installed with apt-get when the
 *   tests run as root (as CI does; `apt-get update` only when the package lists cannot install it). Where that is
 *   impossible the page test is skipped with one line saying why (test/page.test.ts), never failed.
 * Each step says what it did in one line; nothing is done when all is there.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";

export const CHROMIUM = "/usr/bin/chromium";

const have = (bin: string) => ["/usr/bin", "/usr/sbin", "/bin", "/sbin"].some((d) => existsSync(`${d}/${bin}`));

function run(cmd: string, args: string[], timeoutMs: number): boolean {
  try {
    execFileSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"], timeout: timeoutMs, env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    return true;
  } catch {
    return false;
  }
}

function ensurePostgres(): void {
  if (!have("pg_isready") || run("pg_isready", ["-h", "127.0.0.1", "-p", "5432"], 10_000)) return;
  if (!have("pg_ctlcluster") || !existsSync("/etc/postgresql")) return console.log("[machine] PostgreSQL is down and pg_ctlcluster is missing: the PostgreSQL tests will fail");
  const version = readdirSync("/etc/postgresql").sort().at(-1);
  const started = version !== undefined && run("pg_ctlcluster", ["--skip-systemctl-redirect", version, "main", "start"], 60_000);
  console.log(`[machine] PostgreSQL was down: ${started ? `started cluster ${version}/main` : "could not start it"}`);
}

function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  if (process.getuid?.() !== 0 || !have("apt-get")) return console.log(`[machine] ${CHROMIUM} is missing and apt-get cannot run here (not root, or not Debian): the page test is skipped`);
  const install = () => run("apt-get", ["install", "-y", "chromium"], 600_000);
  const ok = install() || (run("apt-get", ["update"], 600_000) && install());
  console.log(`[machine] ${CHROMIUM} was missing: ${ok ? "installed Debian's chromium" : "apt-get could not install it; the page test is skipped"}`);
}

export default function setup(): void {
  ensurePostgres();
  ensureChromium();
  // CI (.ci/run sets CI=true) runs as root on Debian: there a skipped page test would be a silent gap.
  if (process.env.CI === "true" && !existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing in CI and apt-get could not install it`);
}
