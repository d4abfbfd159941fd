/** A topology by id or by name. */
import { readByKey, readResource } from '../jobs/records.js';
import { idPattern } from '../model/names.js';
import type { Store } from '../store/types.js';
import type { TypedResource } from './kind.js';

export async function readByKeyOrId(store: Store, ref: string): Promise<TypedResource<'topology'> | null> {
  return idPattern('topology').test(ref) ? await readResource(store, 'topology', ref) : await readByKey(store, 'topology', ref);
}
