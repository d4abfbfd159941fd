import { router } from '../common.js';
import * as list from './list.js';
import * as get from './get.js';
import * as logs from './logs.js';

export const jobs = router().route('/', list.app).route('/', get.app).route('/', logs.app);
