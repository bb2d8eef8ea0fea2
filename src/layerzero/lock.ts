/**
 * The delivery lock: at most one PacketDeliverer on this machine delivers to a destination chain with a
 * verifier key. Two deliverers sharing a key race on its nonces and on the same packets (the devnet and
 * `salvage relay --devnet-keys` did: `LZ_PayloadHashNotFound`, "nonce too low"). Devnets are loopback-only,
 * so a machine-local lock is right: an exclusive file under os.tmpdir() per (chain id, rpc url, verifier)
 * holding the holder's pid and a per-instance token.
 *
 * - Acquire is atomic: the content is written to a private temp file and hard-linked into place
 *   (link fails with EEXIST when the lock exists), so a reader never sees a half-written lock.
 * - A lock whose pid is gone (`process.kill(pid, 0)` throws ESRCH) is stale and broken, under a short
 *   breaker file so two contenders cannot both break it and both hold it.
 * - A lock of this very process is live while its token is held by an instance in this module; one of
 *   a deliverer that was dropped without stop() is stale.
 * - Released on release() and, as a last resort, on process exit.
 */
import { createHash, randomUUID } from "node:crypto";
import { linkSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";

export interface DeliveryLockKey {
  chainId: number;
  rpcUrl: string;
  verifier: string;
}

const holderSchema = z.object({
  pid: z.number().int().positive(),
  token: z.string().min(1),
  chainId: z.number().int(),
  rpcUrl: z.string(),
  verifier: z.string(),
  since: z.string(),
});
export type LockHolder = z.infer<typeof holderSchema>;

/** Tokens of locks held by instances in this process (this module instance). */
const liveTokens = new Set<string>();
/** Lock files to remove if the process exits while holding them. */
const heldFiles = new Map<string, string>();
let exitHook = false;

/** A breaker older than this belongs to a process that died mid-break. */
const BREAKER_STALE_MS = 5_000;

export function deliveryLockPath(key: DeliveryLockKey, dir = tmpdir()): string {
  const id = createHash("sha256").update(`${key.chainId}\n${key.rpcUrl.toLowerCase()}\n${key.verifier.toLowerCase()}`).digest("hex").slice(0, 24);
  return join(dir, `salvage-deliverer-${key.chainId}-${id}.lock`);
}

function readHolder(path: string): LockHolder | undefined | "unreadable" {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    const parsed = holderSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : "unreadable";
  } catch {
    return "unreadable";
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function isStale(holder: LockHolder | "unreadable"): boolean {
  // Unreadable content cannot come from acquire (it links complete files): treat it as garbage.
  if (holder === "unreadable") return true;
  if (holder.pid === process.pid) return !liveTokens.has(holder.token);
  return !processAlive(holder.pid);
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}

function registerExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.once("exit", () => {
    for (const [path, token] of heldFiles) {
      try {
        const holder = readHolder(path);
        if (holder && holder !== "unreadable" && holder.token === token) unlinkSync(path);
      } catch {
        // Exiting: a lock left behind is stale (its pid is gone) and the next deliverer breaks it.
      }
    }
  });
}

export class DeliveryLock {
  readonly path: string;
  private readonly token = randomUUID();
  private holding = false;

  constructor(
    readonly key: DeliveryLockKey,
    dir?: string,
  ) {
    this.path = deliveryLockPath(key, dir);
  }

  /** Takes the lock if it is free or stale; true while this instance holds it. Never blocks. */
  tryAcquire(): boolean {
    if (this.holding) {
      if (this.stillHeld()) return true;
      this.forget();
    }
    for (let i = 0; i < 2; i++) {
      if (this.create()) {
        this.holding = true;
        liveTokens.add(this.token);
        heldFiles.set(this.path, this.token);
        registerExitHook();
        return true;
      }
      const holder = readHolder(this.path);
      if (holder === undefined) continue; // released meanwhile: try again
      if (!isStale(holder) || !this.breakStale(holder)) return false;
    }
    return false;
  }

  /** Whether this instance holds the lock, checked against the file (another process may have broken it). */
  held(): boolean {
    if (!this.holding) return false;
    if (this.stillHeld()) return true;
    this.forget();
    return false;
  }

  /** Who holds the lock now, if anyone. */
  holder(): LockHolder | undefined {
    const holder = readHolder(this.path);
    return holder === "unreadable" ? undefined : holder;
  }

  release(): void {
    if (!this.holding) return;
    if (this.stillHeld()) unlinkQuietly(this.path);
    this.forget();
  }

  private stillHeld(): boolean {
    const holder = readHolder(this.path);
    return holder !== undefined && holder !== "unreadable" && holder.token === this.token;
  }

  private forget(): void {
    this.holding = false;
    liveTokens.delete(this.token);
    if (heldFiles.get(this.path) === this.token) heldFiles.delete(this.path);
  }

  private create(): boolean {
    const content: LockHolder = {
      pid: process.pid,
      token: this.token,
      chainId: this.key.chainId,
      rpcUrl: this.key.rpcUrl,
      verifier: this.key.verifier,
      since: new Date().toISOString(),
    };
    const temp = `${this.path}.${process.pid}.${this.token}.tmp`;
    writeFileSync(temp, JSON.stringify(content));
    try {
      linkSync(temp, this.path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw error;
    } finally {
      unlinkQuietly(temp);
    }
  }

  /** Removes a stale lock under the breaker file; false when someone else is breaking it right now. */
  private breakStale(seen: LockHolder | "unreadable"): boolean {
    const breaker = `${this.path}.break`;
    try {
      writeFileSync(breaker, String(process.pid), { flag: "wx" });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      try {
        if (Date.now() - statSync(breaker).mtimeMs > BREAKER_STALE_MS) unlinkQuietly(breaker);
      } catch {
        // Gone meanwhile.
      }
      return false;
    }
    try {
      // Re-read under the breaker: break only the very lock that was seen stale.
      const now = readHolder(this.path);
      if (now === undefined) return true;
      const same = now === "unreadable" || seen === "unreadable" ? now === seen : now.token === seen.token;
      if (!same || !isStale(now)) return false;
      unlinkQuietly(this.path);
      return true;
    } finally {
      unlinkQuietly(breaker);
    }
  }
}
