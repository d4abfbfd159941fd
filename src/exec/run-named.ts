/** Runs a set of named read-only commands in parallel and returns their results under the same names. */
export async function runNamed<K extends string, R>(cmds: Record<K, readonly string[]>, run: (argv: readonly string[]) => Promise<R>): Promise<Record<K, R>> {
  const entries = Object.entries(cmds) as [K, readonly string[]][];
  const results = await Promise.all(entries.map(([, argv]) => run(argv)));
  return Object.fromEntries(entries.map(([k], i) => [k, results[i]])) as Record<K, R>;
}
