/**
 * The feed's `stalled` / `cleared` events. A pathway can stall with no event on any chain (its oldest packet just
 * gets older), so the indexer judges every pathway with a clock: a block handler on the hub chain (`PathwayWatch`
 * in ponder.config.ts, from the head at start: it never runs on the backfill). At each hub block it applies the
 * stall rule (src/layerzero/stall.ts) to every pathway with a packet in flight or last found stalled, with ages on
 * the destination's indexed clock as `pathways` counts them: the hub block itself for a pathway into the hub,
 * Ponder's checkpoint of the destination chain otherwise. A pathway's state is a row of `pathway_stall`, written
 * only on a transition, which is logged once to `opportunity_event` at that hub block (after its account events),
 * so it has one id on every replica, replays from a cursor and leaves with a reorg of the hub block.
 *
 * Per hub block: one read of the packets in flight (the status index), one of the stalled rows, one of the
 * checkpoints; a pathway's delivery history is read only while its oldest packet is older than the rule's minimum.
 */
import { ponder } from "ponder:registry";
import { packet, pathwayStall } from "ponder:schema";
import { eq, inArray, sql } from "ponder";
import type { Context } from "ponder:registry";
import { type OpenPacket, type StallRule, ageAt, blockedNonce, nearestRank, stallBound, stallReason, stallRule } from "../layerzero/stall.js";
import { ascending, checkpointBlock, deliveryWindow } from "./pathway-history.js";
import { loadIndexerManifest } from "./manifest.js";
import { type PathwayEventInput, logPathwayEvents, qualifiedName } from "./state.js";

interface Clock {
  chainId: number;
  number: bigint;
  timestamp: bigint;
}

/** Every chain's indexed block by eid: the hub's is the block being handled, the others' Ponder's checkpoints. */
async function clocks(context: Context, hub: Clock): Promise<Map<number, Clock>> {
  // Ponder's checkpoint table sits in the schema of the app's tables.
  const schema = /^(.*\.)"[^"]*"$/.exec(qualifiedName(packet))?.[1] ?? "";
  const rows = (await context.db.sql.execute(sql.raw(`SELECT chain_id, latest_checkpoint FROM ${schema}_ponder_checkpoint`))) as unknown as {
    chain_id: number | string;
    latest_checkpoint: string;
  }[];
  const byChain = new Map<number, Clock>(rows.map((r) => [Number(r.chain_id), { chainId: Number(r.chain_id), ...checkpointBlock(r.latest_checkpoint) }]));
  byChain.set(hub.chainId, hub);
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
  const rule = stallRule();
  const [open, stalled, clockOf] = await Promise.all([
    context.db.sql
      .select({ srcEid: packet.srcEid, dstEid: packet.dstEid, sender: packet.sender, receiver: packet.receiver, nonce: packet.nonce, status: packet.status, sentAt: packet.sentAt })
      .from(packet)
      .where(inArray(packet.status, ["sent", "verified"])),
    context.db.sql.select().from(pathwayStall).where(eq(pathwayStall.stalled, true)),
    clocks(context, { chainId: context.chain.id, number: event.block.number, timestamp: event.block.timestamp }),
  ]);
  const key = (srcEid: number, dstEid: number) => `${srcEid}:${dstEid}`;
  const inFlight = new Map<string, OpenPacket[]>();
  for (const p of open) inFlight.set(key(p.srcEid, p.dstEid), [...(inFlight.get(key(p.srcEid, p.dstEid)) ?? []), p]);
  const wasStalled = new Map(stalled.map((s) => [key(s.srcEid, s.dstEid), s]));
  const pathways = new Map<string, { srcEid: number; dstEid: number }>([...open, ...stalled].map((p) => [key(p.srcEid, p.dstEid), { srcEid: p.srcEid, dstEid: p.dstEid }]));

  const events: PathwayEventInput[] = [];
  for (const [k, { srcEid, dstEid }] of [...pathways].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const clock = clockOf.get(dstEid);
    if (!clock) continue;
    const packets = inFlight.get(k) ?? [];
    const sentAts = packets.flatMap((p) => (p.sentAt === null ? [] : [p.sentAt]));
    const oldest = sentAts.length === 0 ? null : sentAts.reduce((a, b) => (a < b ? a : b));
    const blocked = blockedNonce(packets);
    const reason = await stallReason(
      {
        oldestAge: oldest === null ? null : ageAt(clock.timestamp, oldest),
        blockedAge: blocked?.sentAt == null ? null : ageAt(clock.timestamp, blocked.sentAt),
        bound: () => boundOf(context, srcEid, dstEid, rule),
      },
      rule,
    );
    const was = wasStalled.get(k);
    if (reason === (was?.reason ?? null)) continue;
    const state = { stalled: reason !== null, reason, changedBlock: event.block.number };
    await context.db.insert(pathwayStall).values({ srcEid, dstEid, ...state }).onConflictDoUpdate(state);
    // A stalled pathway whose reason changed stays stalled: no event.
    if ((reason !== null) !== (was !== undefined)) events.push({ kind: reason ? "stalled" : "cleared", srcEid, dstEid, reason, asOf: clock });
  }
  await logPathwayEvents(context, events, event.block);
});
