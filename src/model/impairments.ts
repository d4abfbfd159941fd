/**
 * Link impairments (delay, jitter, loss, rate, corruption, duplication) per direction, and the cable (link up/down).
 * What a host can do depends on its kernel: the probe's `trafficControl` facts say which tools work there.
 */
import { z } from '@hono/zod-openapi';
import type { FieldError } from './problems.js';

const pct = (what: string) =>
  z
    .number()
    .min(0)
    .max(100)
    .optional()
    .openapi({ description: `${what}, percent of packets (0–100, two decimals kept)` });

export const ImpairmentSpecSchema = z
  .object({
    delayMs: z.number().min(0).max(60_000).optional().openapi({ description: 'added one-way delay, ms (needs netem)' }),
    jitterMs: z.number().min(0).max(60_000).optional().openapi({ description: 'delay variation, ms (needs delayMs and netem)' }),
    lossPercent: pct('random loss'),
    rateMbit: z
      .number()
      .min(0.008)
      .max(100_000)
      .optional()
      .openapi({ description: 'rate limit, Mbit/s (kbit precision; shaped with tbf, so TCP slows rather than drops)' }),
    corruptPercent: pct('single-bit corruption (needs netem)'),
    duplicatePercent: pct('duplication (needs netem)'),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.jitterMs !== undefined && s.jitterMs > 0 && !(s.delayMs !== undefined && s.delayMs > 0))
      ctx.addIssue({ code: 'custom', path: ['jitterMs'], message: 'jitter needs a delay (give delayMs > 0)' });
  })
  .openapi('ImpairmentSpec', {
    description: 'What happens to packets in one direction. Omitted or 0: not impaired. `{}` clears the direction.',
    example: { lossPercent: 30, rateMbit: 5 },
  });
export type ImpairmentSpec = z.infer<typeof ImpairmentSpecSchema>;

export const AttachmentImpairmentSchema = z
  .object({
    toContainer: ImpairmentSpecSchema.optional().openapi({
      description: "packets towards the target: applied as they leave the bridge's end of the veth (its egress)",
    }),
    fromContainer: ImpairmentSpecSchema.optional().openapi({
      description: "packets the target sends: applied as they leave the target's end (egress inside its namespace)",
    }),
  })
  .strict()
  .openapi('AttachmentImpairment', {
    description: 'Per direction; a direction left out is not impaired. The whole object is replaced on PATCH (null clears both).',
    example: { toContainer: { lossPercent: 30 }, fromContainer: { rateMbit: 5 } },
  });
export type AttachmentImpairment = z.infer<typeof AttachmentImpairmentSchema>;

export const TunnelImpairmentSchema = z
  .object({
    aToB: ImpairmentSpecSchema.optional().openapi({
      description: 'traffic from endpoints[0] to endpoints[1]: applied as it enters the tunnel device on the first host',
    }),
    bToA: ImpairmentSpecSchema.optional().openapi({
      description: 'traffic from endpoints[1] to endpoints[0]: applied on the second host',
    }),
  })
  .strict()
  .openapi('TunnelImpairment', {
    description: 'Per direction. Only tunnel ends on Linux bridges (a kernel device per tunnel) can be impaired.',
    example: { aToB: { lossPercent: 5 }, bToA: { lossPercent: 5 } },
  });
export type TunnelImpairment = z.infer<typeof TunnelImpairmentSchema>;

export const LinkStateSchema = z.enum(['up', 'down']).openapi('LinkState', {
  description: "down pulls the cable: the far end's interface loses carrier (NO-CARRIER) and nothing passes; up plugs it back in",
});
export type LinkState = z.infer<typeof LinkStateSchema>;

/** A spec without the zero and absent fields, numbers rounded to what the tools keep (ms and % to 2 decimals, kbit). */
export function normalizeSpec(s: ImpairmentSpec | undefined | null): ImpairmentSpec {
  const out: ImpairmentSpec = {};
  if (!s) return out;
  const r2 = (n: number) => Math.round(n * 100) / 100;
  if (s.delayMs) out.delayMs = r2(s.delayMs);
  if (s.jitterMs && s.delayMs) out.jitterMs = r2(s.jitterMs);
  if (s.lossPercent) out.lossPercent = r2(s.lossPercent);
  if (s.rateMbit) out.rateMbit = Math.max(8, Math.round(s.rateMbit * 1000)) / 1000;
  if (s.corruptPercent) out.corruptPercent = r2(s.corruptPercent);
  if (s.duplicatePercent) out.duplicatePercent = r2(s.duplicatePercent);
  for (const k of Object.keys(out) as (keyof ImpairmentSpec)[]) if (out[k] === 0) delete out[k];
  return out;
}

export const isImpaired = (s: ImpairmentSpec | undefined): boolean => Object.keys(normalizeSpec(s)).length > 0;

export function normalizeAttachmentImpairment(i: AttachmentImpairment | null | undefined): Required<AttachmentImpairment> {
  return { toContainer: normalizeSpec(i?.toContainer), fromContainer: normalizeSpec(i?.fromContainer) };
}

export function normalizeTunnelImpairment(i: TunnelImpairment | null | undefined): Required<TunnelImpairment> {
  return { aToB: normalizeSpec(i?.aToB), bToA: normalizeSpec(i?.bToA) };
}

// ---- what the host can do

export const TrafficControlFactsSchema = z
  .object({
    netem: z.boolean().openapi({ description: 'tc qdisc netem (delay, jitter, loss, corruption, duplication)' }),
    tbf: z.boolean().openapi({ description: 'tc qdisc tbf (rate limits)' }),
    htb: z.boolean(),
    ingress: z.boolean().openapi({ description: 'tc ingress qdisc' }),
    ifb: z.boolean().openapi({ description: 'IFB devices (ingress shaping through a redirect)' }),
    u32: z.boolean().openapi({ description: 'tc u32 classifier' }),
    bpf: z.boolean().openapi({ description: 'tc bpf classifier with classic BPF bytecode (random selection with `ld rand`)' }),
    mirred: z.boolean().openapi({ description: 'tc mirred action (redirect to IFB)' }),
    nftNumgen: z.boolean().openapi({ description: 'nftables `numgen random` (random loss)' }),
    nftLimit: z.boolean().openapi({ description: 'nftables `limit`' }),
    nftNetdevHooks: z.boolean().openapi({ description: 'nftables netdev family ingress and egress hooks on a device' }),
    iptablesStatistic: z.boolean().openapi({ description: 'iptables `-m statistic --mode random`' }),
  })
  .openapi('TrafficControlFacts', {
    description:
      'What the kernel and tools offer for impairments, tried in a throwaway network namespace at probe time (null: could not be tried)',
  });
export type TrafficControlFacts = z.infer<typeof TrafficControlFactsSchema>;

/** How one direction is built on a host: rate with tbf, loss with netem where the kernel has it (else nftables numgen), the rest netem. */
export interface ImpairmentBackend {
  netem: boolean;
  /**
   * netem: its `loss`; nft: nftables numgen on a netdev hook; tc-drop: an htb root whose classic-BPF filter sends the
   * chosen packets to a down IFB device (mirred) — dropped silently, as netem does, where the netdev egress hook would
   * tell a local sender its packet was dropped.
   */
  lossVia: 'nft' | 'netem' | 'tc-drop' | null;
}

/** Which fields each direction can have on this host; missing kernel support is a 422 on the field. */
export function impairmentBackend(
  tc: TrafficControlFacts,
  spec: ImpairmentSpec,
  pointer: string,
  hostName: string,
  /** egress-local: packets the namespace itself sends leave here (an attachment's target end), so loss must be silent */
  where: 'ingress' | 'egress' | 'egress-local' = 'egress',
): { backend: ImpairmentBackend; errors: FieldError[] } {
  const s = normalizeSpec(spec);
  const errors: FieldError[] = [];
  const noNetem = (field: keyof ImpairmentSpec, what: string) =>
    errors.push({
      pointer: `${pointer}/${field}`,
      detail: `${what} needs the netem qdisc, which ${hostName}'s kernel lacks (tc: "Specified qdisc kind is unknown"; load sch_netem or use a kernel with CONFIG_NET_SCH_NETEM)`,
    });
  if (s.delayMs && !tc.netem) noNetem('delayMs', 'delay');
  if (s.jitterMs && !tc.netem) noNetem('jitterMs', 'jitter');
  if (s.corruptPercent && !tc.netem) noNetem('corruptPercent', 'corruption');
  if (s.duplicatePercent && !tc.netem) noNetem('duplicatePercent', 'duplication');
  if (s.rateMbit && !tc.tbf)
    errors.push({ pointer: `${pointer}/rateMbit`, detail: `a rate limit needs the tbf qdisc, which ${hostName}'s kernel lacks` });
  let lossVia: ImpairmentBackend['lossVia'] = null;
  if (s.lossPercent) {
    // netem drops silently (a local sender is not told), so it is preferred where the kernel has it.
    if (tc.netem) lossVia = 'netem';
    else if (where === 'egress-local' && tc.htb && tc.bpf && tc.mirred && tc.ifb) lossVia = 'tc-drop';
    else if (tc.nftNumgen && tc.nftNetdevHooks) lossVia = 'nft';
    else
      errors.push({
        pointer: `${pointer}/lossPercent`,
        detail: `random loss needs nftables numgen with netdev ingress/egress hooks or the netem qdisc; ${hostName} has neither`,
      });
  }
  const netem = !!(s.delayMs || s.corruptPercent || s.duplicatePercent || lossVia === 'netem');
  return { backend: { netem, lossVia }, errors };
}
