import { startNetwork, createDevnetDeliverer } from "../src/devnet/network.js";
import { createChainClients } from "../src/chain/clients.js";
import { write } from "../src/chain/tx.js";
import { hubAbi, spokeAbi, testTokenAbi } from "../abis/index.js";
import { devnetAccounts } from "../src/devnet/accounts.js";
const t0 = Date.now();
const net = await startNetwork({ spokes: 2 });
console.log("deployed in", Date.now() - t0, "ms");
try {
  const m = net.manifest;
  const hub = m.chains[0]!, sp = m.chains[1]!;
  const hc = createChainClients(hub), sc = createChainClients(sp);
  const user = "0x1000000000000000000000000000000000000001" as const;
  const dep = sc.wallet(devnetAccounts.deployer), uw = sc.wallet(user);
  await sc.public.request({ method: "anvil_setBalance" as any, params: [user, "0x56BC75E2D63100000"] as any });
  const weth = sp.tokens["10"]!;
  await write(dep, sc.public, { address: weth, abi: testTokenAbi, functionName: "mint", args: [user, 10n ** 19n] });
  await write(uw, sc.public, { address: weth, abi: testTokenAbi, functionName: "approve", args: [sp.contracts.spoke!, 10n ** 19n] });
  const fee = await sc.public.readContract({ address: sp.contracts.spoke!, abi: spokeAbi, functionName: "quoteHubMessage" });
  console.log("fee", fee);
  await write(uw, sc.public, { address: sp.contracts.spoke!, abi: spokeAbi, functionName: "deposit", args: [10, 10n ** 19n], value: fee });
  const d = createDevnetDeliverer(m, { onEvent: (e) => console.log(e.type, e.packet.nonce, e.packet.lastError ?? "") });
  const t1 = Date.now();
  await d.drain();
  console.log("drained in", Date.now() - t1);
  console.log(await hc.public.readContract({ address: hub.contracts.hub!, abi: hubAbi, functionName: "accountData", args: [user] }));
} finally { await net.stop(); }
