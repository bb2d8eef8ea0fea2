/**
 * Unusable prices on a test network, made the way they happen: time passes with no new round (stale), or the
 * operator publishes an answer <= 0 (the reference PriceFeed, like a Chainlink aggregator, publishes what it is
 * given; the hub refuses it).
 */
import { priceFeedAbi } from "../../abis/index.js";
import { write } from "../../src/chains/tx.js";
import { devnetAccounts } from "../../src/devnet/accounts.js";
import { ASSETS, HEARTBEAT_SECONDS } from "../../src/devnet/market.js";
import type { TestNetwork } from "./network.js";

/** Publishes `answer` on the hub chain's feed of `assetId` (a new round at this block). */
export async function setAnswer(net: TestNetwork, assetId: number, answer: bigint): Promise<void> {
  const { public: reader, wallet } = net.deployment.hubClients;
  await write(wallet(devnetAccounts.deployer), reader, { address: net.deployment.feed(assetId), abi: priceFeedAbi, functionName: "updateAnswer", args: [answer] });
}

/** The latest round's answer of each feed (the hub chain's), by asset id. */
export async function latestAnswers(net: TestNetwork): Promise<Map<number, bigint>> {
  return net.deployment.answers();
}

/**
 * Moves the hub's clock past the heartbeat, so every price is stale; then publishes a new round, with its last
 * answer, for each asset in `keepFresh`. Returns the answers as they were.
 */
export async function staleExcept(net: TestNetwork, keepFresh: readonly number[] = []): Promise<Map<number, bigint>> {
  const answers = await latestAnswers(net);
  await net.advanceTime(HEARTBEAT_SECONDS + 1);
  for (const id of keepFresh) await setAnswer(net, id, answers.get(id)!);
  return answers;
}

/** A new round for every asset, at `answers` (default: each one's opening price): every price usable again. */
export async function refreshPrices(net: TestNetwork, answers?: ReadonlyMap<number, bigint>): Promise<void> {
  for (const a of ASSETS) await setAnswer(net, a.id, answers?.get(a.id) ?? a.initialAnswer);
}
