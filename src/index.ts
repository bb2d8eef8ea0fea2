/**
 * salvage as a library: `import { createRelayer } from "salvage"`.
 *
 * The relayer (createRelayer and its zod-validated config), the lending-protocol seam and its two
 * implementations (the reference hub-and-spoke market, the hub-accounted one and its math), the one take model, the take policy, the durable store, the packet deliverer,
 * the deployment manifest, and the hub's risk math in TypeScript (equal to the wei to the hub).
 */
export { createRelayer, type Relayer, type RelayerOptions } from "./recovery/relayer.js";
export type { LendingProtocol, AccountView, MarketView, Order, OrderOutcome, RevertClass, Settlement } from "./recovery/protocol.js";
export { hubSpokeProtocol } from "./protocols/hub-spoke/index.js";
export { hubAccountedProtocol, type HubAccountedOptions } from "./protocols/hub-accounted/index.js";
export * as hubAccountedMath from "./protocols/hub-accounted/math.js";
export { bestTake, auctionAt, type Take, type TakeInput } from "./opportunity/index.js";
export { lzReceiveAlerts } from "./layerzero/alerts.js";
export { revertOf, decodeRevertData, type DecodedRevert } from "./chains/errors.js";
export { parseRelayerConfig, relayerConfigSchema, keysFromEnv, type RelayerConfig, type RelayerConfigInput } from "./recovery/config.js";
export type { TransitionEvent, Logger } from "./recovery/coordinator.js";
export { planTake, type PolicyConfig, type Plan, type TakePlan } from "./recovery/policy.js";
export { RECOVERY_STATES, TERMINAL_STATES, type RecoveryState } from "./recovery/states.js";
export type { Recovery } from "./recovery/store.js";
export { PacketDeliverer, type DeliveryChain, type PacketRecord, type DeliveryEvent } from "./layerzero/deliverer.js";
export { decodePacket, type Packet } from "./layerzero/packet.js";
export { manifestSchema, parseManifest, readManifest, REFERENCE_PROTOCOL, type Manifest, type HubAccountedManifest } from "./deployment/manifest.js";
export { accountData, bonusAt, priceToWad, quoteTake, valueOf } from "./health/health.js";
export { WAD, RAY, mulDiv, mulDivUp } from "./health/wad.js";
