import { LocalExecutor, type LocalExecutorOptions } from './local.js';
import { SshExecutor, type SshExecutorConfig } from './ssh.js';
import type { Executor } from './types.js';

export { DEFAULT_TIMEOUT_MS, type Executor, type RunOptions, type RunResult } from './types.js';
export { ExecError, type ExecErrorCode } from './errors.js';
export { quoteArg, quoteArgv } from './quote.js';
export {
  runBatch,
  buildBatchScript,
  parseBatchOutput,
  newBatchNonce,
  BatchFramingError,
  BatchIncompleteError,
  type BatchStep,
  type BatchStepResult,
  type BatchResult,
  type BatchOptions,
  type ParsedBatch,
} from './batch.js';
export { LocalExecutor, MAX_OUTPUT_BYTES, type LocalExecutorOptions } from './local.js';
export { SshExecutor, fingerprintOfKey, type SshExecutorConfig } from './ssh.js';

/** A host's executor setting, as stored on the Host resource. */
export type ExecutorSpec = ({ kind: 'local' } & LocalExecutorOptions) | ({ kind: 'ssh' } & SshExecutorConfig);

/** The executor for a host's setting. */
export function createExecutor(spec: ExecutorSpec): Executor {
  if (spec.kind === 'local') return new LocalExecutor({ env: spec.env });
  const { kind: _kind, ...config } = spec;
  return new SshExecutor(config);
}
