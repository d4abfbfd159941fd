/** A topology by id or by name. */
import { readByKey, readResource } from '../jobs/records.js';
import { idPattern } from '../model/names.js';
import type { Store } from '../store/types.js';
import type { TypedResource } from './kind.js';

export function readByKeyOrId(store: Store, ref: string): TypedResource<'topology'> | null {
  return idPattern('topology').test(ref) ? readResource(store, 'topology', ref) : readByKey(store, 'topology', ref);
}
