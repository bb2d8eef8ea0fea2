/** A relayer logger that keeps every line, for tests that assert what the relayer said. */
export interface LoggedLine {
  level: "info" | "warn" | "error";
  msg?: string;
  obj: Record<string, unknown>;
}

export function recordingLog(): { logged: LoggedLine[]; log: Record<LoggedLine["level"], (obj: object, msg?: string) => void> } {
  const logged: LoggedLine[] = [];
  const line = (level: LoggedLine["level"]) => (obj: object, msg?: string) => void logged.push({ level, msg, obj: obj as Record<string, unknown> });
  return { logged, log: { info: line("info"), warn: line("warn"), error: line("error") } };
}
