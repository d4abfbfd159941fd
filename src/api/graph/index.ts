import { router } from '../common.js';
import * as service from './service.js';
import * as topology from './topology.js';

export const graph = router().route('/', service.app).route('/', topology.app);
