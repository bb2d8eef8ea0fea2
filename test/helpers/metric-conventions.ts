/**
 * Prometheus naming conventions (https://prometheus.io/docs/practices/naming/) checked over an exposition text:
 * every metric `salvage_`-prefixed and snake_case; counters end in `_total` and nothing else does; base units
 * (seconds, not ms; bytes, not kB); no per-account label (unbounded cardinality). Returns every violation.
 */
export function metricConventionViolations(exposition: string): string[] {
  const out: string[] = [];
  const { types, labels } = parseExposition(exposition);
  for (const [name, type] of types) {
    if (!/^salvage_[a-z0-9]+(_[a-z0-9]+)*$/.test(name)) out.push(`${name}: not salvage_ and snake_case`);
    if (type === "counter" && !name.endsWith("_total")) out.push(`${name}: a counter must end in _total`);
    if (type !== "counter" && name.endsWith("_total")) out.push(`${name}: a ${type} must not end in _total`);
    if (/_(ms|millis|milliseconds|minutes|hours|kb|mb|kib|mib|percent)(_|$)/.test(name)) out.push(`${name}: not in base units`);
  }
  for (const [name, names] of labels) {
    for (const label of names) if (/^(account|address|borrower|user|guid|tx|hash)$/.test(label)) out.push(`${name}: per-${label} label`);
  }
  return [...new Set(out)];
}

/** A Prometheus exposition's declared metrics (`# TYPE` lines: name → type) and the label names of each metric's samples. */
export function parseExposition(exposition: string): { types: Map<string, string>; labels: Map<string, Set<string>> } {
  const types = new Map<string, string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  const labels = new Map<string, Set<string>>();
  for (const m of exposition.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/gm)) {
    const set = labels.get(m[1]!) ?? new Set<string>();
    for (const l of m[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) set.add(l[1]!);
    labels.set(m[1]!, set);
  }
  return { types, labels };
}
