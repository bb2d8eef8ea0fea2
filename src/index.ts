/**
 * salvage as a library: `import { createRelayer } from "salvage"`.
 *
 * The relayer (createRelayer and its zod-validated config), the take policy, the durable store, the packet
 * deliverer, the deployment manifest, and the hub's risk math in TypeScript (equal to the wei to the hub).
 */
export { createRelayer, type Relayer } from "./relayer/relayer.js";
export { parseRelayerConfig, relayerConfigSchema, keysFromEnv, type RelayerConfig, type RelayerConfigInput } from "./relayer/config.js";
export type { TransitionEvent, Logger } from "./relayer/coordinator.js";
export { planTake, type PolicyConfig, type Plan, type TakePlan } from "./relayer/policy.js";
export { RECOVERY_STATES, TERMINAL_STATES, type RecoveryState } from "./relayer/states.js";
export type { Recovery } from "./relayer/store.js";
export { PacketDeliverer, type DeliveryChain, type PacketRecord, type DeliveryEvent } from "./layerzero/deliverer.js";
export { decodePacket, type Packet } from "./layerzero/packet.js";
export { manifestSchema, parseManifest, readManifest, type Manifest } from "./deployment/manifest.js";
export { accountData, bonusAt, priceToWad, quoteTake, valueOf } from "./math/health.js";
export { WAD, mulDiv, mulDivUp } from "./math/wad.js";
