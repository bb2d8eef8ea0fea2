/** A deployed hub + spokes network for one test file, with a deliverer and fresh accounts. */
import { type Address, getAddress, keccak256, toHex } from "viem";
import { createDevnetDeliverer, type Network, startNetwork } from "../../src/devnet/network.js";
import { Rng } from "../../src/devnet/rng.js";
import { seedBorrowers } from "../../src/devnet/seed.js";
import { Deployment } from "../../src/protocol/deployment.js";
import { fundGas } from "../../src/protocol/actions.js";
import type { PacketDeliverer } from "../../src/layerzero/deliverer.js";

export interface TestNetwork {
  network: Network;
  deployment: Deployment;
  deliverer: PacketDeliverer;
  /** A new funded address (acting through anvil's auto-impersonation). */
  newAccount(): Promise<Address>;
  /** Mines one block on the hub after moving its clock forward. */
  advanceTime(seconds: number): Promise<void>;
  stop(): Promise<void>;
}

let counter = 0;

/** `hubAccounted`: deploy the hub-accounted money market too (manifest `protocols[0]`). */
export async function startTestNetwork(spokes = 2, stateDir?: string, options: { hubAccounted?: boolean } = {}): Promise<TestNetwork> {
  const network = await startNetwork({ spokes, stateDir, hubAccounted: options.hubAccounted });
  const deployment = new Deployment(network.manifest);
  const deliverer = createDevnetDeliverer(network.manifest, { retryBaseMs: 50, retryMaxMs: 400 });
  const tag = `${process.pid}-${Date.now()}`;
  return {
    network,
    deployment,
    deliverer,
    async newAccount() {
      const account = getAddress(`0x${keccak256(toHex(`salvage-test-${tag}-${counter++}`)).slice(26)}`);
      await fundGas(deployment, account);
      return account;
    },
    async advanceTime(seconds) {
      const reader = deployment.hubClients.public;
      await reader.request({ method: "evm_increaseTime", params: [seconds] } as never);
      await reader.request({ method: "evm_mine", params: [] } as never);
    },
    async stop() {
      await deliverer.stop();
      await network.stop();
    },
  };
}

export interface SeededNetwork extends TestNetwork {
  /** The seeded borrowers, also written into the manifest (`manifest.accounts`). */
  accounts: Address[];
  /** The seeded randomness the borrowers came from, to drive the market next. */
  rng: Rng;
}

/** A test network with `accounts` borrowers seeded from `seed`, every deposit delivered. */
export async function startSeededNetwork(options: { spokes?: number; accounts: number; seed: number }): Promise<SeededNetwork> {
  const net = await startTestNetwork(options.spokes ?? 2);
  const rng = new Rng(options.seed);
  const accounts = await seedBorrowers(net.deployment, net.deliverer, { count: options.accounts, seed: options.seed, rng });
  net.network.manifest.accounts = accounts;
  await net.deliverer.drain();
  return { ...net, accounts, rng };
}
