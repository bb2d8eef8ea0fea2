/**
 * The Grafana dashboard (grafana/salvage.json) is importable and its queries are valid PromQL: parsed with
 * Prometheus's own grammar (@prometheus-io/lezer-promql), every panel with a query over salvage_ metrics and the
 * dashboard's Prometheus data source input. That the metrics and labels it names are served is checked where the
 * processes run: test/api.test.ts (the indexer API) and test/relayer.e2e.test.ts (the relayer).
 */
import { describe, expect, it } from "vitest";
import { dashboard } from "../scripts/grafana-dashboard.js";
import { dashboardGaps, parsePromql, readDashboard } from "./helpers/dashboard.js";

describe("Grafana dashboard", () => {
  const { json, queries } = readDashboard();

  it("is the generator's output (npx tsx scripts/grafana-dashboard.ts)", () => {
    expect(json).toEqual(JSON.parse(JSON.stringify(dashboard())));
  });

  it("parses every query as PromQL, each over salvage_ metrics, from the dashboard's Prometheus input", () => {
    expect(queries.length).toBeGreaterThan(20);
    for (const q of queries) {
      expect(q.errors, q.expr).toEqual([]);
      expect(q.metrics.length, q.expr).toBeGreaterThan(0);
      for (const m of q.metrics) expect(m, q.expr).toMatch(/^salvage_[a-z0-9_]+$/);
    }
    expect(json.__inputs).toEqual([expect.objectContaining({ name: "DS_PROMETHEUS", type: "datasource", pluginId: "prometheus" })]);
    for (const panel of json.panels as { type: string; datasource?: { uid: string } }[]) if (panel.type !== "row") expect(panel.datasource?.uid).toBe("${DS_PROMETHEUS}");
  });

  it("names what a process does not serve: a metric, a grouping label its samples lack (a histogram by its base name)", () => {
    const exposition = [
      "# TYPE salvage_recoveries gauge",
      'salvage_recoveries{state="seized"} 3',
      "# TYPE salvage_recovery_seconds histogram",
      'salvage_recovery_seconds_bucket{le="1"} 0',
    ].join("\n");
    const query = (expr: string) => ({ panel: "p", process: "relayer" as const, ...parsePromql(expr) });
    expect(dashboardGaps([query("max by (state) (salvage_recoveries)"), query("histogram_quantile(0.5, sum by (le) (rate(salvage_recovery_seconds_bucket[5m])))")], "relayer", exposition)).toEqual([]);
    expect(dashboardGaps([query("max by (chain) (salvage_recoveries)"), query("salvage_nope")], "relayer", exposition)).toEqual([
      "p: no sample of salvage_recoveries has the label chain",
      "p: salvage_nope is not served",
    ]);
  });

  it("the grammar refuses what Prometheus would (the check can fail)", () => {
    expect(parsePromql("sum by (x (rate(salvage_feed_events_total[5m]))").errors.length).toBeGreaterThan(0);
    expect(parsePromql("rate(salvage_feed_events_total[5m]").errors.length).toBeGreaterThan(0);
    expect(parsePromql("max by (chain) (salvage_indexing_lag_blocks)")).toMatchObject({ errors: [], metrics: ["salvage_indexing_lag_blocks"], groupingLabels: ["chain"] });
  });
});
