import { router } from '../common.js';
import * as create from './create.js';
import * as list from './list.js';
import * as get from './get.js';
import * as del from './delete.js';

export const tokens = router().route('/', create.app).route('/', list.app).route('/', get.app).route('/', del.app);
