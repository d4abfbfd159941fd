/**
 * What Docker's Join and Leave do on a host (libnetwork remote driver): a veth whose host end goes on the network's
 * bridge, marked with the endpoint's record and Docker's EndpointID, and whose peer Docker moves into the container
 * and names (SrcName → DstPrefix<n>). Pure: steps out.
 */
import { createHash } from 'node:crypto';
import type { DockerEndpointData } from '../model/docker-plugin.js';
import { ipBatch } from './attachments.js';
import { step, vsctl, type Plan, type Step } from './plan.js';

/** The veth names of an endpoint: short (≤ 15 bytes), derived from Docker's EndpointID. */
export function endpointIfnames(endpointId: string): { hostIfname: string; peerIfname: string } {
  const h = createHash('sha256').update(endpointId).digest('hex').slice(0, 10);
  return { hostIfname: `npd${h}`, peerIfname: `npc${h}` };
}

/** Where `ip link del` of a device that is not there exits (it is gone: fine). */
const GONE_OK = [0, 1];

/**
 * Order: a stale pair of the same name removed (a Join retried after a crash), the veth with the peer's MTU and MAC
 * (one `ip -batch`), the host end on the bridge, transmit checksum offload off on the peer on the netdev datapath
 * (the setting moves with the device into the container). Deleting the host end removes both: it is the undo.
 */
export function joinPlan(recordId: string, d: DockerEndpointData): Plan {
  const h = d.hostId;
  const mtu = String(d.mtu);
  const lines = [
    ['link', 'add', 'dev', d.hostIfname, 'mtu', mtu, 'type', 'veth', 'peer', 'name', d.peerIfname, 'mtu', mtu, 'address', d.mac],
    ['link', 'set', 'dev', d.hostIfname, 'alias', `netplumb:${recordId}`],
    ['link', 'set', 'dev', d.hostIfname, 'up'],
  ];
  const steps = [
    step(h, `stale ${d.hostIfname} removed (if any)`, ['ip', 'link', 'del', 'dev', d.hostIfname], { okExitCodes: GONE_OK }),
    step(h, `veth ${d.hostIfname} ⇄ ${d.peerIfname} (mtu ${mtu}) for Docker endpoint ${d.endpointId.slice(0, 12)}`, ['ip', '-batch', '-'], {
      stdin: ipBatch(lines),
      undo: ['ip', 'link', 'del', 'dev', d.hostIfname],
    }),
  ];
  steps.push(...portSteps(recordId, d));
  // The userspace datapath does not fill in checksums the veth left to "hardware": TCP breaks without this.
  if (d.datapathType === 'netdev')
    steps.push(step(h, `tx checksum offload off on ${d.peerIfname} (netdev datapath)`, ['ethtool', '-K', d.peerIfname, 'tx', 'off']));
  return { steps };
}

/** The host end on the network's bridge (converges: also what a repair runs when the bridge lost the port). */
export function portSteps(recordId: string, d: DockerEndpointData): Step[] {
  const h = d.hostId;
  if (d.bridgeType === 'linux')
    return [
      step(h, `${d.hostIfname} in Linux bridge ${d.bridgeName}, up`, [
        'ip',
        'link',
        'set',
        'dev',
        d.hostIfname,
        'master',
        d.bridgeName,
        'up',
      ]),
    ];
  const tx = vsctl(
    '--may-exist',
    'add-port',
    d.bridgeName,
    d.hostIfname,
    '--',
    'set',
    'Interface',
    d.hostIfname,
    `external_ids:netplumb-id=${recordId}`,
    `external_ids:netplumb-docker-endpoint=${d.endpointId}`,
    '--',
    'set',
    'Port',
    d.hostIfname,
    'tag=[]',
  );
  return [
    step(h, `port ${d.hostIfname} on OVS bridge ${d.bridgeName}`, tx, {
      undo: vsctl('--if-exists', 'del-port', d.bridgeName, d.hostIfname),
    }),
  ];
}

/** What observe reads of a joined endpoint: its host end, and (OVS) the bridge its port is on. */
export function endpointObserveCommands(d: DockerEndpointData) {
  return {
    link: ['ip', '-j', '-d', 'link', 'show', 'dev', d.hostIfname],
    port: d.bridgeType === 'ovs' ? vsctl('port-to-br', d.hostIfname) : ['true'],
  };
}

/** Leave / DeleteEndpoint: the port and the veth, whatever is left of them (idempotent). */
export function leavePlan(d: DockerEndpointData): Plan {
  const h = d.hostId;
  const steps = [];
  if (d.bridgeType === 'ovs')
    steps.push(step(h, `port ${d.hostIfname} off ${d.bridgeName}`, vsctl('--if-exists', 'del-port', d.bridgeName, d.hostIfname)));
  steps.push(step(h, `veth ${d.hostIfname} removed`, ['ip', 'link', 'del', 'dev', d.hostIfname], { okExitCodes: GONE_OK }));
  return { steps };
}

/** `docker network …` on a host, for a topology network published to Docker. */
export function dockerNetworkCommands(name: string) {
  return {
    inspect: ['docker', 'network', 'inspect', '--format', '{{.Id}} {{.Driver}} {{index .Options "netplumb.network"}}', name],
  };
}

export function createDockerNetworkArgv(name: string, ref: string, subnet: string): string[] {
  return [
    'docker',
    'network',
    'create',
    '--driver',
    'netplumb',
    '--ipam-driver',
    'netplumb',
    '--subnet',
    subnet,
    '--ipam-opt',
    `netplumb.network=${ref}`,
    '--opt',
    `netplumb.network=${ref}`,
    name,
  ];
}

export function removeDockerNetworkArgv(name: string): string[] {
  return ['docker', 'network', 'rm', name];
}
