/**
 * Making bad debt happen on a test network, through the hub's own rules: open a position, let its collateral
 * fall below its debt, kick it and take every collateral position it has (the last take leaves it with debt
 * and no collateral, and the hub writes that debt off against the reserve, `Hub._writeOff`).
 */
import type { Address } from "viem";
import { hubAbi, testTokenAbi } from "../../abis/index.js";
import { write } from "../../src/chains/tx.js";
import { devnetAccounts } from "../../src/devnet/accounts.js";
import { borrow, deposit, mint } from "../../src/protocol/actions.js";
import type { TestNetwork } from "./network.js";

const hubRead = (net: TestNetwork, functionName: string, args: readonly unknown[], blockNumber?: bigint) =>
  net.deployment.hubClients.public.readContract({ address: net.deployment.hubAddress, abi: hubAbi, functionName, args, blockNumber } as never) as Promise<never>;

/** A new account with `collateral` of `collateralAssetId` on the first spoke, credited on the hub, and `debt` borrowed. */
export async function openPosition(net: TestNetwork, p: { collateralAssetId: number; collateral: bigint; debtAssetId: number; debt: bigint }): Promise<Address> {
  const account = await net.newAccount();
  const spoke = net.deployment.spokes[0]!;
  await mint(net.deployment, spoke.name, spoke.tokens[String(p.collateralAssetId)]!, account, p.collateral);
  await deposit(net.deployment, spoke.name, account, p.collateralAssetId, p.collateral);
  await net.deliverer.drain();
  await borrow(net.deployment, account, p.debtAssetId, p.debt);
  return account;
}

/** Mints `amount` of a debt asset to the liquidator role and approves the hub for it. */
export async function fundLiquidator(net: TestNetwork, assetId: number, amount: bigint): Promise<void> {
  const d = net.deployment;
  const token = d.hub.tokens[String(assetId)]!;
  await mint(d, d.hub.name, token, devnetAccounts.liquidator.address, amount);
  const { public: reader, wallet } = d.hubClients;
  await write(wallet(devnetAccounts.liquidator), reader, { address: token, abi: testTokenAbi, functionName: "approve", args: [d.hubAddress, 2n ** 256n - 1n] });
}

/** Adds `amount` to the hub's reserve of `assetId` (ReserveFunded), paid by the liquidator role. */
export async function fundReserve(net: TestNetwork, assetId: number, amount: bigint): Promise<void> {
  await fundLiquidator(net, assetId, amount);
  const { public: reader, wallet } = net.deployment.hubClients;
  await write(wallet(devnetAccounts.liquidator), reader, { address: net.deployment.hubAddress, abi: hubAbi, functionName: "fundReserve", args: [assetId, amount] });
}

/**
 * Kicks an account under water and takes its collateral position by position (largest debt first) until it has
 * none left, so the hub writes its remaining debt off. The liquidator needs inventory (`fundLiquidator`).
 * Returns the number of takes.
 */
export async function takeUntilWrittenOff(net: TestNetwork, account: Address): Promise<number> {
  const d = net.deployment;
  const { public: reader, wallet } = d.hubClients;
  const liquidator = wallet(devnetAccounts.liquidator);
  await write(liquidator, reader, { address: d.hubAddress, abi: hubAbi, functionName: "kick", args: [account] });
  let takes = 0;
  for (; takes < 50; takes++) {
    const positions = await d.positions(account);
    const collateral = positions.collateral.filter((c) => c.amount > 0n);
    if (collateral.length === 0) break;
    const owed = positions.debt.filter((x) => x.amount > 0n).sort((a, b) => (a.amount > b.amount ? -1 : 1));
    if (owed.length === 0) throw new Error(`${account} has collateral and no debt: not under water`);
    const c = collateral[0]!;
    const fee = (await hubRead(net, "quoteSpokeMessage", [c.eid])) as bigint;
    await write(liquidator, reader, {
      address: d.hubAddress, abi: hubAbi, functionName: "take",
      args: [account, owed[0]!.assetId, 2n ** 255n, c.eid, c.assetId, 0n, devnetAccounts.liquidator.address], value: fee,
    });
  }
  if ((await hubRead(net, "collateralPositions", [account])) !== 0n) throw new Error(`${account} still holds collateral after ${takes} takes`);
  return takes;
}
