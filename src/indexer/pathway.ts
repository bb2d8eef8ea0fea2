/**
 * The feed's `stalled` / `cleared` events. A pathway can stall with no event on any chain (its oldest packet just
 * gets older), so the indexer judges the pathways with a clock: a block handler on every chain (`PathwayWatch` in
 * ponder.config.ts, from the head at start: it never runs on the backfill). Chains are indexed independently
 * (Ponder's multichain ordering), so a pathway's state can change at a block of any chain: its source's (a packet
 * sent), its destination's (verified, delivered, or only its clock moving). At each block the stall rule
 * (src/layerzero/stall.ts) is applied to every pathway with a packet in flight or last found stalled, with ages on
 * the destination's indexed clock as `pathways` counts them: this block when it is the destination's, else Ponder's
 * checkpoint of the destination chain. A pathway's state is a row of `pathway_stall`, written only on a change,
 * and each stalled / cleared transition is one row of `opportunity_event`, placed in the log at the hub block the
 * index stands at (this block on the hub, else the hub's checkpoint: every hub event up to it is already logged,
 * every later one sorts after), log index BLOCK_LOG_INDEX. So the log keeps one order (its ids stay a resume
 * cursor), every replica serves the event with one id, and a reorg of the block that logged it removes it.
 *
 * A block judges the pathways only when it must (src/indexer/pathway-watch.ts): after a packet event, or once its
 * clock reaches the earliest moment time alone can change a state (a packet in flight, or a blocked nonce, reaching
 * the rule's minimum age; the oldest packet reaching its pathway's bound). Any other block costs one cached row
 * read. A judgement reads the packets in flight (the status index) and `pathway_stall` (a row per pathway); with
 * anything in flight or stalled, the checkpoints; a pathway's delivery history only while its oldest packet is
 * older than the rule's minimum.
 */
import { ponder } from "ponder:registry";
import { packet, pathwayStall } from "ponder:schema";
import { inArray, sql } from "ponder";
import type { Context } from "ponder:registry";
import { type OpenPacket, type StallRule, ageAt, blockedNonce, nearestRank, stallBound, stallReason, stallRule } from "../layerzero/stall.js";
import { ascending, checkpointBlock, deliveryWindow } from "./pathway-history.js";
import { loadIndexerManifest } from "./manifest.js";
import { type PathwayEventInput, logPathwayEvents } from "./feed-log.js";
import { qualifiedName } from "../protocols/hub-spoke/indexing/tables.js";
import { judged, mustJudge } from "./pathway-watch.js";
import { settleMovesAtBlockEnd } from "../protocols/hub-spoke/indexing/price-moves.js";
import { markLive } from "../protocols/hub-spoke/indexing/recompute.js";

interface Clock {
  chainId: number;
  number: bigint;
  timestamp: bigint;
}

/** Every chain's indexed block by eid: `here` (the block being handled) for its chain, Ponder's checkpoints for the others. */
async function clocks(context: Context, here: Clock): Promise<Map<number, Clock>> {
  // Ponder's checkpoint table sits in the schema of the app's tables.
  const schema = /^(.*\.)"[^"]*"$/.exec(qualifiedName(packet))?.[1] ?? "";
  const rows = (await context.db.sql.execute(sql.raw(`SELECT chain_id, latest_checkpoint FROM ${schema}_ponder_checkpoint`))) as unknown as {
    chain_id: number | string;
    latest_checkpoint: string;
  }[];
  const byChain = new Map<number, Clock>(rows.map((r) => [Number(r.chain_id), { chainId: Number(r.chain_id), ...checkpointBlock(r.latest_checkpoint) }]));
  byChain.set(here.chainId, here);
  const out = new Map<number, Clock>();
  for (const c of loadIndexerManifest().manifest.chains) {
    const clock = byChain.get(c.chainId);
    if (clock) out.set(c.eid, clock);
  }
  return out;
}

/** The stall bound of a pathway from its delivery window. */
async function boundOf(context: Context, srcEid: number, dstEid: number, rule: StallRule): Promise<bigint> {
  const w = deliveryWindow(srcEid, dstEid);
  const recent = await context.db.sql.select({ latency: packet.latencySeconds }).from(packet).where(w.where).orderBy(...w.orderBy).limit(w.limit);
  const latencies = ascending(recent.map((r) => r.latency!));
  return stallBound(nearestRank(latencies, 0.99), latencies.length, rule);
}

ponder.on("PathwayWatch:block", async ({ event, context }) => {
  markLive();
  // The hub's block end: its price moves are recomputed first (price-moves.ts), then the pathways judged.
  if (context.chain.id === loadIndexerManifest().hub.chainId) await settleMovesAtBlockEnd(context, event.block);
  if (!(await mustJudge(context, event.block.timestamp))) return;
  const rule = stallRule();
  // One after another: Ponder runs each raw read in a nested transaction of the block's.
  const open = await context.db.sql
    .select({ srcEid: packet.srcEid, dstEid: packet.dstEid, sender: packet.sender, receiver: packet.receiver, nonce: packet.nonce, status: packet.status, sentAt: packet.sentAt })
    .from(packet)
    .where(inArray(packet.status, ["sent", "verified"]));
  const states = await context.db.sql.select().from(pathwayStall);
  if (open.length === 0 && !states.some((s) => s.stalled)) return judged(context, { again: false, nextCheckAt: null });
  const clockOf = await clocks(context, { chainId: context.chain.id, number: event.block.number, timestamp: event.block.timestamp });
  // Where the log stands: the hub block this block's chain sees indexed (this block itself on the hub).
  const hub = clockOf.get(loadIndexerManifest().hub.eid);
  if (!hub) return judged(context, { again: true, nextCheckAt: null });
  let again = false;
  let nextCheckAt: bigint | null = null;
  const checkAt = (t: bigint) => {
    if (nextCheckAt === null || t < nextCheckAt) nextCheckAt = t;
  };
  const min = BigInt(rule.minSeconds);

  const key = (srcEid: number, dstEid: number) => `${srcEid}:${dstEid}`;
  const inFlight = new Map<string, OpenPacket[]>();
  for (const p of open) inFlight.set(key(p.srcEid, p.dstEid), [...(inFlight.get(key(p.srcEid, p.dstEid)) ?? []), p]);
  const stateOf = new Map(states.map((s) => [key(s.srcEid, s.dstEid), s]));
  const pathways = new Map<string, { srcEid: number; dstEid: number }>(
    [...open, ...states.filter((s) => s.stalled)].map((p) => [key(p.srcEid, p.dstEid), { srcEid: p.srcEid, dstEid: p.dstEid }]),
  );

  const events: PathwayEventInput[] = [];
  for (const [k, { srcEid, dstEid }] of [...pathways].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const clock = clockOf.get(dstEid);
    if (!clock) {
      again = true;
      continue;
    }
    const packets = inFlight.get(k) ?? [];
    const sentAts = packets.flatMap((p) => (p.sentAt === null ? [] : [p.sentAt]));
    const oldest = sentAts.length === 0 ? null : sentAts.reduce((a, b) => (a < b ? a : b));
    const blocked = blockedNonce(packets);
    let bound: bigint | undefined;
    const reason = await stallReason(
      {
        oldestAge: oldest === null ? null : ageAt(clock.timestamp, oldest),
        blockedAge: blocked?.sentAt == null ? null : ageAt(clock.timestamp, blocked.sentAt),
        bound: async () => (bound = await boundOf(context, srcEid, dstEid, rule)),
      },
      rule,
    );
    // When time alone next changes this pathway's state: ages count from the sending block, strictly past a bound.
    if (blocked?.sentAt != null && ageAt(clock.timestamp, blocked.sentAt) <= min) checkAt(blocked.sentAt + min + 1n);
    if (reason === null && oldest !== null) checkAt(oldest + (bound ?? min) + 1n);
    const was = stateOf.get(k);
    const wasReason = was?.stalled ? was.reason : null;
    if (reason === wasReason) continue;
    const transition = (reason !== null) !== (wasReason !== null);
    // One transition per pathway per hub block (its id): a second one waits for the next block, judged again there.
    if (transition && was?.changedBlock === hub.number) {
      again = true;
      continue;
    }
    // A stalled pathway whose reason changed stays stalled: its row says why, the log has nothing new.
    const state = { stalled: reason !== null, reason, changedBlock: transition ? hub.number : was!.changedBlock };
    await context.db.insert(pathwayStall).values({ srcEid, dstEid, ...state }).onConflictDoUpdate(state);
    if (transition) events.push({ kind: reason ? "stalled" : "cleared", srcEid, dstEid, reason, asOf: clock });
  }
  await logPathwayEvents(context, events, hub);
  await judged(context, { again, nextCheckAt });
});
