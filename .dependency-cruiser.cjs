/**
 * Layer rules for src/ (docs/architecture.md, "Layers"), run by `npm run lint:layers` in `npm test` (scripts/test.sh).
 *
 * Why dependency-cruiser rather than ESLint rules: it resolves the whole import graph once (TypeScript paths, type-only
 * and dynamic imports), finds cycles of any length without ESLint's per-file cost, and a folder rule is one regex.
 * Pinned at 17.4.3: the newest line whose engines include Node 20 (18.x asks for Node 22 or later). A run over src/
 * takes about 8 s here.
 *
 * Type-only imports count for the folder rules (a type still ties one layer to another) but not for cycles: a cycle
 * with a type-only edge is erased by the compiler and cannot change the order modules load in.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-runtime-cycle',
      comment: 'A module may not import itself through others at run time (a cycle through an `import type` is allowed).',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, dependencyTypesNot: ['type-only'], viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'api-not-exec-ops',
      comment: 'Routes reach hosts through kinds/ and jobs/, never by building or running commands (exec/, ops/) themselves.',
      severity: 'error',
      from: { path: '^src/api/' },
      to: { path: '^src/(exec|ops)/' },
    },
    {
      name: 'store-not-model',
      comment: 'The store keeps records as data; what a record means (model/) is not its business.',
      severity: 'error',
      from: { path: '^src/store/' },
      to: { path: '^src/model/' },
    },
    {
      name: 'exec-not-model-store',
      comment: 'Executors run commands on a host; they know no resources (model/) and no records (store/).',
      severity: 'error',
      from: { path: '^src/exec/' },
      to: { path: '^src/(model|store)/' },
    },
    {
      name: 'graph-imports-nothing',
      comment: 'graph/ (layout, SVG, text of a topology) imports only itself, node built-ins and npm packages.',
      severity: 'error',
      from: { path: '^src/graph/' },
      to: { path: '^src/', pathNot: '^src/graph/' },
    },
    {
      name: 'model-imports-nothing',
      comment: 'model/ (schemas, names, problems) imports only itself, node built-ins and npm packages.',
      severity: 'error',
      from: { path: '^src/model/' },
      to: { path: '^src/', pathNot: '^src/model/' },
    },
  ],
  options: {
    includeOnly: '^src/',
    doNotFollow: { path: 'node_modules' },
    // Before compilation: `import type` edges are seen (and marked type-only) too.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.json'] },
  },
};
