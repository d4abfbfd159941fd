/** The sandbox's public types; sandbox.ts re-exports them. */

export interface SandboxHostSpec {
  name: string;
  underlayCidr: string;
  underlayGw: string;
  /**
   * An IPv6 underlay beside the IPv4 one (issue 18): the host's address (CIDR, e.g. a ULA `fd00:18:1::101/64`) on
   * br-phy and its gateway on the router, which then forwards IPv6 too. Both or neither. Unset: IPv4 only (IPv6 off).
   */
  underlayCidr6?: string;
  underlayGw6?: string;
  /**
   * Make root's login shell slow to start, as a .bashrc with pyenv/nvm/conda init is: the
   * host's ~/.bashrc sleeps this long, after appending a line to `~/.shell-starts` (homeDir),
   * so tests can count how many shells started. Unset: the stock .bashrc.
   */
  slowShellMs?: number;
}

export interface SandboxHost {
  name: string;
  netns: string;
  mgmtIp: string;
  sshPort: number;
  underlayIp: string;
  /** The host's IPv6 underlay address, when the spec gave one. */
  underlayIp6?: string;
  stateDir: string;
  ovsRundir: string;
  dockerSocket: string;
  hostKeySha256: string;
  /** `ssh-ed25519 AAAA…` — the host's public key, for a known_hosts line (addition to the brief). */
  hostKeyPub: string;
  sshdLog: string;
  sshdPidFile: string;
  /** root's home on the host (its ~, as SSH sessions see it). */
  homeDir: string;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface Sandbox {
  prefix: string;
  stateDir: string;
  clientKeyPath: string;
  routerNetns: string;
  routerIfaces: Record<string, string>;
  hosts: SandboxHost[];
  host(name: string): SandboxHost;
  exec(hostName: string, argv: string[], opts?: { timeoutMs?: number }): Promise<ExecResult>;
  startWeb(hostName: string, containerName: string, n: number): Promise<number>;
  stopSshd(hostName: string): Promise<void>;
  /** Stops the host's dockerd (SIGTERM, as systemd would) and starts it again on the same data; resolves once it answers. */
  restartDockerd(hostName: string): Promise<void>;
  startSshd(hostName: string): Promise<void>;
  down(): Promise<void>;
}

export interface UpOptions {
  prefix?: string;
  hosts?: SandboxHostSpec[];
  baseDir?: string;
  withDocker?: boolean;
  log?: (s: string) => void;
}
