/**
 * Prometheus naming conventions (https://prometheus.io/docs/practices/naming/) checked over an exposition text:
 * every metric `salvage_`-prefixed and snake_case; counters end in `_total` and nothing else does; base units
 * (seconds, not ms; bytes, not kB); no per-account label (unbounded cardinality). Returns every violation.
 */
export function metricConventionViolations(exposition: string): string[] {
  const out: string[] = [];
  const types = new Map<string, string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  for (const [name, type] of types) {
    if (!/^salvage_[a-z0-9]+(_[a-z0-9]+)*$/.test(name)) out.push(`${name}: not salvage_ and snake_case`);
    if (type === "counter" && !name.endsWith("_total")) out.push(`${name}: a counter must end in _total`);
    if (type !== "counter" && name.endsWith("_total")) out.push(`${name}: a ${type} must not end in _total`);
    if (/_(ms|millis|milliseconds|minutes|hours|kb|mb|kib|mib|percent)(_|$)/.test(name)) out.push(`${name}: not in base units`);
  }
  for (const m of exposition.matchAll(/^([a-z_:][a-z0-9_:]*)\{([^}]*)\}/gm)) {
    for (const label of m[2]!.matchAll(/([a-z_][a-z0-9_]*)="/g)) {
      if (/^(account|address|borrower|user|guid|tx|hash)$/.test(label[1]!)) out.push(`${m[1]}: per-${label[1]} label`);
    }
  }
  return [...new Set(out)];
}
