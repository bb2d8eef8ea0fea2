export * from "../layerzero/deliverer.js";
