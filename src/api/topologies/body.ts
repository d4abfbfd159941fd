/** The topology document from a request: JSON (validated by the route) or YAML (parsed here with limits, then validated). */
import type { Context } from 'hono';
import { lazyModule } from '../../lazy.js';
import { TopologyDocumentSchema, type TopologyDocument } from '../../model/topologies.js';
import { ProblemError } from '../../model/problems.js';
import type { Env } from '../common.js';
import { zodFieldErrors } from '../problems.js';
import { YAML_TYPES } from './schema.js';

/** yaml loads with the first YAML body (src/lazy.ts). */
const loadYaml = lazyModule<typeof import('yaml')>('yaml');

/** A YAML alias may not expand the document past this (a "billion laughs" document is refused, not expanded). */
const MAX_EXPANDED_BYTES = 1024 * 1024;

export function isYaml(c: Context<Env>): boolean {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  return (YAML_TYPES as readonly string[]).includes(type);
}

/** The document of a PUT or plan request, whichever its media type; every schema error with its pointer. */
export async function readDocument(c: Context<Env>, json: unknown): Promise<TopologyDocument> {
  if (isYaml(c)) return readYamlDocument(c);
  const parsed = TopologyDocumentSchema.safeParse(json);
  if (!parsed.success) throw ProblemError.validation(zodFieldErrors(parsed.error, 'json'));
  return parsed.data;
}

export async function readYamlDocument(c: Context<Env>): Promise<TopologyDocument> {
  const text = await c.req.text();
  const doc = loadYaml().parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    throw ProblemError.validation(doc.errors.slice(0, 20).map((e) => ({ pointer: '/', detail: `YAML: ${e.message.split('\n')[0]}` })));
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 64 });
  } catch (e) {
    throw ProblemError.validation([{ pointer: '/', detail: `YAML: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` }]);
  }
  if (JSON.stringify(value ?? null).length > MAX_EXPANDED_BYTES) {
    throw ProblemError.validation([
      { pointer: '/', detail: `the document expands to more than ${MAX_EXPANDED_BYTES} bytes (YAML aliases)` },
    ]);
  }
  const parsed = TopologyDocumentSchema.safeParse(value);
  if (!parsed.success) throw ProblemError.validation(zodFieldErrors(parsed.error, 'json'));
  return parsed.data;
}
