import { router } from '../common.js';
import * as create from './create.js';
import * as list from './list.js';
import * as get from './get.js';
import * as probe from './probe.js';
import * as del from './delete.js';
import * as orphans from './orphans.js';

export const hosts = router()
  .route('/', create.app)
  .route('/', list.app)
  .route('/', get.app)
  .route('/', probe.app)
  .route('/', del.app)
  .route('/', orphans.app);
