/**
 * The Grafana dashboard (grafana/salvage.json) as the tests read it: every target's PromQL parsed with Prometheus's
 * own grammar (@prometheus-io/lezer-promql), the metric names and grouping labels it uses, and the process that
 * serves them (its row: "Relayer" rows the relayer's /metrics, the others the indexer API's /salvage/metrics).
 */
import { readFileSync } from "node:fs";
import { parser } from "@prometheus-io/lezer-promql";
import { parseExposition } from "./metric-conventions.js";

export interface DashboardQuery {
  panel: string;
  process: "indexer" | "relayer";
  expr: string;
  /** Syntax errors: the text of each error node of the parse. */
  errors: string[];
  metrics: string[];
  groupingLabels: string[];
}

interface PanelJson {
  type: string;
  title: string;
  targets?: { expr: string }[];
}

export function readDashboard(): { json: Record<string, unknown>; queries: DashboardQuery[] } {
  const json = JSON.parse(readFileSync(new URL("../../grafana/salvage.json", import.meta.url), "utf8")) as { panels: PanelJson[] };
  const queries: DashboardQuery[] = [];
  let process: "indexer" | "relayer" = "indexer";
  for (const panel of json.panels) {
    if (panel.type === "row") {
      process = panel.title.startsWith("Relayer") ? "relayer" : "indexer";
      continue;
    }
    for (const target of panel.targets ?? []) queries.push({ panel: panel.title, process, ...parsePromql(target.expr) });
  }
  return { json, queries };
}

export function parsePromql(expr: string): Pick<DashboardQuery, "expr" | "errors" | "metrics" | "groupingLabels"> {
  const tree = parser.parse(expr);
  const errors: string[] = [];
  const metrics = new Set<string>();
  const groupingLabels = new Set<string>();
  const cursor = tree.cursor();
  do {
    const text = expr.slice(cursor.from, cursor.to);
    if (cursor.type.isError) errors.push(`at ${cursor.from}: ${JSON.stringify(text)}`);
    if (cursor.name === "Identifier" && cursor.node.parent?.name === "VectorSelector") metrics.add(text);
    if (cursor.name === "LabelName" && cursor.node.parent?.name === "GroupingLabels") groupingLabels.add(text);
  } while (cursor.next());
  return { expr, errors, metrics: [...metrics], groupingLabels: [...groupingLabels] };
}

/**
 * What a process's exposition lacks of the dashboard's queries for it: a metric it does not declare (# TYPE; a
 * histogram's _bucket/_sum/_count by its base name), or a grouping label none of its samples carries (checked only
 * for metrics with samples). Empty when the dashboard matches what the process serves.
 */
export function dashboardGaps(queries: readonly DashboardQuery[], process: "indexer" | "relayer", exposition: string): string[] {
  const { types, labels } = parseExposition(exposition);
  const gaps: string[] = [];
  for (const q of queries.filter((x) => x.process === process)) {
    for (const metric of q.metrics) {
      const base = metric.replace(/_(bucket|sum|count)$/, "");
      if (!types.has(metric) && !(types.get(base) === "histogram" && base !== metric)) gaps.push(`${q.panel}: ${metric} is not served`);
    }
    const sampled = q.metrics.filter((m) => labels.has(m));
    for (const label of q.groupingLabels) {
      if (sampled.length > 0 && !sampled.some((m) => labels.get(m)!.has(label))) gaps.push(`${q.panel}: no sample of ${sampled.join(", ")} has the label ${label}`);
    }
  }
  return gaps;
}
