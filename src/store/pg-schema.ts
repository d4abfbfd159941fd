/** The PostgreSQL schema, as versioned migrations (append only: a released migration never changes). */

/** Advisory lock keys (two int4: namespace, key). Host locks use the hosts namespace with a hash of the host id. */
export const ADVISORY = {
  namespace: 0x6e70_6c62, // "nplb"
  migrations: 1,
  mutations: 2,
  /** The process that leads a duty only one replica may do at a time (Coordination.lead). */
  leader: 3,
  hosts: 0x6e70_686c, // "nphl"
} as const;

/** Text columns that hold ids sort and compare bytewise (COLLATE "C"), as on SQLite: cursors page the same way. */
export const PG_MIGRATIONS: string[] = [
  `CREATE TABLE resources (
     id text COLLATE "C" PRIMARY KEY, type text NOT NULL, key text NOT NULL, state text NOT NULL, job_id text,
     created_at text NOT NULL, updated_at text NOT NULL, data text NOT NULL, secret text);
   CREATE UNIQUE INDEX resources_key ON resources(type, key);
   CREATE TABLE jobs (
     id text COLLATE "C" PRIMARY KEY, kind text NOT NULL, status text NOT NULL, resource_type text NOT NULL,
     resource_id text NOT NULL, hosts text NOT NULL, done integer NOT NULL, total integer NOT NULL,
     error text, created_at text NOT NULL, started_at text, finished_at text);
   CREATE INDEX jobs_status ON jobs(status);
   CREATE INDEX jobs_resource ON jobs(resource_id);
   CREATE TABLE job_logs (
     job_id text NOT NULL, seq integer NOT NULL, ts text NOT NULL, host text, stream text NOT NULL,
     text text NOT NULL, exit_code integer, ms double precision, PRIMARY KEY (job_id, seq));
   CREATE TABLE idempotency (
     key text PRIMARY KEY, fingerprint text NOT NULL, job_id text, response text,
     created_at text NOT NULL, expires_at text NOT NULL);
   CREATE INDEX idempotency_job ON idempotency(job_id);`,
  // Leases: which replica runs a job, until when (renewed by its heartbeat), and how many times it was claimed.
  `CREATE TABLE job_leases (
     job_id text COLLATE "C" PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
     owner text, expires_at timestamptz, attempt integer NOT NULL DEFAULT 0,
     claimed_at timestamptz, heartbeat_at timestamptz);
   CREATE INDEX job_leases_expiry ON job_leases(expires_at);`,
  // A job's parameters (see JobRecord.params).
  `ALTER TABLE jobs ADD COLUMN params text;`,
  // The trace a job belongs to and the span it was made under (see JobRecord.traceId).
  `ALTER TABLE jobs ADD COLUMN trace_id text; ALTER TABLE jobs ADD COLUMN parent_span_id text;`,
  // Every write of a resource increments its version (compare-and-set writes, ETags).
  `ALTER TABLE resources ADD COLUMN version integer NOT NULL DEFAULT 1;`,
  // Principals (issue 29): API tokens (only their SHA-256), who asked for each job, and the append-only audit log.
  `CREATE TABLE tokens (
     id text COLLATE "C" PRIMARY KEY, name text NOT NULL, hash text NOT NULL UNIQUE, created_at text NOT NULL,
     expires_at text, revoked_at text, data text NOT NULL);
   ALTER TABLE jobs ADD COLUMN principal text;
   ALTER TABLE jobs ADD COLUMN principal_id text;
   CREATE INDEX jobs_principal ON jobs(principal_id);
   CREATE TABLE audit (
     seq bigserial PRIMARY KEY, ts text NOT NULL, action text NOT NULL, principal text NOT NULL, data text NOT NULL);
   CREATE INDEX audit_principal ON audit(principal);
   CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
     $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
   CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();`,
];

/** Statements run on every new connection: the search path (tests give each store its own schema). */
export function schemaInit(schema: string): string[] {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`bad schema name ${schema}`);
  return schema === 'public' ? [] : [`CREATE SCHEMA IF NOT EXISTS ${schema}`, `SET search_path TO ${schema}`];
}
