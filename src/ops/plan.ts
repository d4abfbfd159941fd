/** Plans are data: per-host ordered steps, each with its argv and the argv that undoes it. */
export interface Step {
  /** Host id the step runs on. */
  host: string;
  description: string;
  argv: string[];
  /** Run in reverse order when a later step fails. */
  undo?: string[];
  /** Exit codes that count as success (default [0]). */
  okExitCodes?: number[];
  /** Text fed to the command's standard input (e.g. `ip -batch -`); none by default. */
  stdin?: string;
  /** Text fed to the undo command's standard input. */
  undoStdin?: string;
  /**
   * The step does several things and may stop half-way (a merged `ip -batch`): when it fails, its own undo runs too
   * (the undo must tolerate what was never made).
   */
  undoWhenFailed?: boolean;
  /** Steps of one kind on one host that coalesce() may merge into one command (see ops/coalesce.ts). */
  merge?: 'ip-batch' | 'ip-del' | 'ovs-vsctl';
}

export interface Plan {
  steps: Step[];
}

export function step(host: string, description: string, argv: string[], extra: Omit<Step, 'host' | 'description' | 'argv'> = {}): Step {
  return { host, description, argv, ...extra };
}

/** OVS's command-line client, always with a timeout so a dead ovs-vswitchd cannot hang a job. */
export function vsctl(...args: string[]): string[] {
  return ['ovs-vsctl', '--timeout=10', ...args];
}
