/** Named commands: run as a list, answered by name. */
export function namedEntries<K extends string, V>(named: Record<K, V>): [K, V][] {
  return Object.keys(named).map((k) => [k as K, named[k as K]]);
}

/** Pairs each name with the value at the same position. */
export function byName<K extends string, R>(names: readonly K[], values: readonly R[]): Record<K, R> {
  const out = {} as Record<K, R>;
  names.forEach((name, i) => (out[name] = values[i]!));
  return out;
}
