import { router } from '../common.js';
import * as put from './put.js';
import * as plan from './plan.js';
import * as list from './list.js';
import * as get from './get.js';
import * as del from './delete.js';

export const topologies = router().route('/', put.app).route('/', plan.app).route('/', list.app).route('/', get.app).route('/', del.app);
