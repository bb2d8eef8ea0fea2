/**
 * Writes grafana/salvage.json: an importable Grafana dashboard over the metrics of the indexer's API
 * (`/salvage/metrics`: feed, webhooks, pathways, solvency, indexing lag) and of the relayer (`/metrics`).
 * `npx tsx scripts/grafana-dashboard.ts` after changing a panel; test/grafana.test.ts parses every expression with
 * Prometheus's own PromQL grammar, and the API and relayer tests check that every metric it names is served.
 *
 * Rows name the process that serves their metrics: "Relayer" rows the relayer's, the others the indexer API's.
 */
import { writeFileSync } from "node:fs";

interface Panel {
  title: string;
  description: string;
  exprs: { expr: string; legend: string }[];
  unit: string;
  kind?: "timeseries" | "stat";
}

export const ROWS: { title: string; process: "indexer" | "relayer"; panels: Panel[] }[] = [
  {
    title: "Indexer and feed",
    process: "indexer",
    panels: [
      { title: "Indexing lag", description: "Chain head minus the block Ponder has indexed, per chain.", unit: "none", exprs: [{ expr: "max by (chain) (salvage_indexing_lag_blocks)", legend: "{{chain}}" }] },
      { title: "Feed events", description: "Opportunity feed events emitted per second, by kind.", unit: "ops", exprs: [{ expr: "sum by (kind) (rate(salvage_feed_events_total[5m]))", legend: "{{kind}}" }] },
      { title: "Open subscriptions", description: "By transport and stream.", unit: "none", exprs: [{ expr: "sum by (transport, stream) (salvage_subscribers)", legend: "{{transport}} {{stream}}" }] },
      {
        title: "Webhook deliveries",
        description: "Attempts per second by outcome; deliveries waiting to be sent or retried.",
        unit: "ops",
        exprs: [
          { expr: "sum by (outcome) (rate(salvage_webhook_deliveries_total[5m]))", legend: "{{outcome}}" },
          { expr: "rate(salvage_webhook_failures_total[5m])", legend: "failed (last attempt)" },
        ],
      },
      { title: "Webhook backlog", description: "Deliveries waiting to be sent or retried, all processes.", unit: "none", kind: "stat", exprs: [{ expr: "max(salvage_webhook_pending)", legend: "pending" }] },
    ],
  },
  {
    title: "LayerZero pathways",
    process: "indexer",
    panels: [
      { title: "Stalled pathways", description: "1 while a pathway is stalled (oldest packet past its bound, or a blocked nonce).", unit: "none", exprs: [{ expr: "max by (src_eid, dst_eid) (salvage_pathway_stalled)", legend: "{{src_eid}} → {{dst_eid}}" }] },
      { title: "Packets in flight", description: "Sent and not yet delivered, per pathway.", unit: "none", exprs: [{ expr: "max by (src_eid, dst_eid) (salvage_pathway_packets_in_flight)", legend: "{{src_eid}} → {{dst_eid}}" }] },
      { title: "Oldest packet in flight", description: "Age of the oldest packet in flight, per pathway.", unit: "s", exprs: [{ expr: "max by (src_eid, dst_eid) (salvage_pathway_oldest_in_flight_seconds)", legend: "{{src_eid}} → {{dst_eid}}" }] },
      {
        title: "Delivery time p50 / p99",
        description: "Send to delivery over each pathway's last 1,000 deliveries.",
        unit: "s",
        exprs: [{ expr: "max by (src_eid, dst_eid, quantile) (salvage_pathway_delivery_seconds)", legend: "{{src_eid}} → {{dst_eid}} q{{quantile}}" }],
      },
      {
        title: "Blocked packets and lzReceive failures",
        description: "Verified packets waiting behind an unverified nonce; LzReceiveAlerts.",
        unit: "none",
        exprs: [
          { expr: "max by (src_eid, dst_eid) (salvage_pathway_blocked_packets)", legend: "blocked {{src_eid}} → {{dst_eid}}" },
          { expr: "max by (src_eid, dst_eid) (salvage_pathway_lz_receive_failures)", legend: "failures {{src_eid}} → {{dst_eid}}" },
        ],
      },
    ],
  },
  {
    title: "Solvency",
    process: "indexer",
    panels: [
      { title: "Accounts under water", description: "Collateral value below debt value.", unit: "none", kind: "stat", exprs: [{ expr: "max(salvage_underwater_accounts)", legend: "accounts" }] },
      {
        title: "Under water, USD",
        description: "Debt, collateral and shortfall (bad debt if closed now) of the accounts under water.",
        unit: "currencyUSD",
        exprs: [
          { expr: "max(salvage_underwater_debt_usd)", legend: "debt" },
          { expr: "max(salvage_underwater_collateral_usd)", legend: "collateral" },
          { expr: "max(salvage_underwater_shortfall_usd)", legend: "shortfall" },
        ],
      },
      { title: "Bad debt written off, USD", description: "At each write-off's price.", unit: "currencyUSD", exprs: [{ expr: "max(salvage_bad_debt_written_off_usd_total)", legend: "written off" }] },
      {
        title: "Reserve and uncovered bad debt",
        description: "Per debt asset, in the asset's base units (divide by 10^decimals).",
        unit: "none",
        exprs: [
          { expr: "max by (asset) (salvage_reserve)", legend: "reserve {{asset}}" },
          { expr: "max by (asset) (salvage_bad_debt_uncovered_total)", legend: "uncovered {{asset}}" },
        ],
      },
    ],
  },
  {
    title: "Relayer",
    process: "relayer",
    panels: [
      { title: "Recoveries by state", description: "All workers sharing the database.", unit: "none", exprs: [{ expr: "max by (state) (salvage_recoveries)", legend: "{{state}}" }] },
      { title: "Transitions", description: "Recovery transitions per second, by target state.", unit: "ops", exprs: [{ expr: "sum by (to) (rate(salvage_recovery_transitions_total[5m]))", legend: "→ {{to}}" }] },
      {
        title: "Detection → collateral seized",
        description: "p50 and p95 of the recoveries finished in the window.",
        unit: "s",
        exprs: [
          { expr: "histogram_quantile(0.5, sum by (le) (rate(salvage_recovery_seconds_bucket[5m])))", legend: "p50" },
          { expr: "histogram_quantile(0.95, sum by (le) (rate(salvage_recovery_seconds_bucket[5m])))", legend: "p95" },
        ],
      },
      { title: "SEIZE delivery time", description: "Take's SEIZE sent on the hub to collateral paid, per collateral chain.", unit: "s", exprs: [{ expr: "max by (eid, quantile) (salvage_delivery_seconds)", legend: "eid {{eid}} q{{quantile}}" }] },
      {
        title: "Alerts and redeliveries",
        description: "SEIZEs whose lzReceive reverted; the guardian's redeliveries by outcome.",
        unit: "ops",
        exprs: [
          { expr: "sum(rate(salvage_delivery_alerts_total[5m]))", legend: "alerts" },
          { expr: "sum by (outcome) (rate(salvage_relayer_redeliveries_total[5m]))", legend: "redelivery {{outcome}}" },
        ],
      },
      { title: "Pathways the relayer avoids", description: "1 for a collateral chain whose pathway is stalled: nothing is taken across it.", unit: "none", exprs: [{ expr: "max by (eid) (salvage_relayer_pathway_stalled)", legend: "eid {{eid}}" }] },
      { title: "Detection source", description: "1 for the source in use: the indexer's feed, or the hub scanner (fallback).", unit: "none", exprs: [{ expr: "max by (source) (salvage_detection_source)", legend: "{{source}}" }] },
      {
        title: "Expected profit and loss, USD",
        description: "Of the takes made in the window (display only: priced when planned).",
        unit: "currencyUSD",
        exprs: [
          { expr: "sum(increase(salvage_expected_profit_usd_total[1h]))", legend: "profit" },
          { expr: "sum(increase(salvage_expected_loss_usd_total[1h]))", legend: "loss" },
        ],
      },
    ],
  },
];

const DATASOURCE = { type: "prometheus", uid: "${DS_PROMETHEUS}" };

export function dashboard() {
  const panels: unknown[] = [];
  let id = 1;
  let y = 0;
  for (const row of ROWS) {
    panels.push({ id: id++, type: "row", title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y: y++ }, panels: [] });
    row.panels.forEach((p, i) => {
      const x = (i % 3) * 8;
      if (i > 0 && i % 3 === 0) y += 8;
      panels.push({
        id: id++,
        type: p.kind ?? "timeseries",
        title: p.title,
        description: p.description,
        datasource: DATASOURCE,
        gridPos: { h: 8, w: 8, x, y },
        fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
        options: p.kind === "stat" ? { reduceOptions: { calcs: ["lastNotNull"] } } : { legend: { displayMode: "list", placement: "bottom" } },
        targets: p.exprs.map((e, j) => ({ refId: String.fromCharCode(65 + j), datasource: DATASOURCE, expr: e.expr, legendFormat: e.legend })),
      });
    });
    y += 8;
  }
  return {
    __inputs: [{ name: "DS_PROMETHEUS", label: "Prometheus", description: "Scrapes the indexer API's /salvage/metrics and the relayer's /metrics", type: "datasource", pluginId: "prometheus", pluginName: "Prometheus" }],
    __requires: [
      { type: "grafana", id: "grafana", name: "Grafana", version: "10.0.0" },
      { type: "datasource", id: "prometheus", name: "Prometheus", version: "1.0.0" },
      { type: "panel", id: "timeseries", name: "Time series", version: "" },
      { type: "panel", id: "stat", name: "Stat", version: "" },
    ],
    title: "salvage",
    uid: "salvage-overview",
    description: "salvage: indexing, opportunity feed, webhooks, LayerZero pathways, solvency and the relayer's recoveries",
    tags: ["salvage", "liquidations", "layerzero"],
    timezone: "browser",
    schemaVersion: 39,
    version: 1,
    editable: true,
    refresh: "10s",
    time: { from: "now-1h", to: "now" },
    templating: { list: [] },
    annotations: { list: [] },
    panels,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(new URL("../grafana/salvage.json", import.meta.url), `${JSON.stringify(dashboard(), null, 2)}\n`);
  console.log("wrote grafana/salvage.json");
}
