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
