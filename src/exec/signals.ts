import { constants as osConstants } from 'node:os';

/**
 * A signal's number from its name, with or without the `SIG` prefix: Node's exit event
 * says `SIGKILL`, SSH's exit-signal says `KILL`. 0 for no signal or an unknown name.
 */
export function signalNumber(name: string | null | undefined): number {
  if (!name) return 0;
  const signals = osConstants.signals as Record<string, number | undefined>;
  return signals[`SIG${name}`] ?? signals[name] ?? 0;
}
