/** Failures to reach a host (not a command's own non-zero exit). Messages never carry secrets. */
export type ExecErrorCode = 'host-unreachable' | 'host-key-mismatch' | 'auth-failed' | 'timeout';

export class ExecError extends Error {
  constructor(
    readonly code: ExecErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ExecError';
  }
}
