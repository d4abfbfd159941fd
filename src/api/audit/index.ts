import { router } from '../common.js';
import * as list from './list.js';

export const auditLog = router().route('/', list.app);
