/**
 * The dependency rule of DESIGN.md, enforced on every `npm run lint`:
 * adapters (controller, resolver, grpc, consumer, jobs) -> own service -> own repository -> platform.
 */
const MODULE = '^src/modules/([^/]+)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'platform-never-imports-modules',
      comment: 'platform/ is infrastructure; business modules depend on it, never the reverse.',
      severity: 'error',
      from: { path: '^src/platform/' },
      to: { path: '^src/modules/' },
    },
    {
      name: 'payment-provider-is-standalone',
      comment: 'The development payment provider stands in for an external service; it shares no code with the app.',
      severity: 'error',
      from: { path: '^payment-provider/' },
      to: { path: '^(src|migrations|scripts|bench|test)/' },
    },
    {
      name: 'adapters-call-services-not-repositories',
      comment: 'Controllers, resolvers, gRPC handlers, consumers and job handlers go through the service.',
      severity: 'error',
      from: { path: `${MODULE}[^/]+\\.(controller|resolver|grpc|consumer|jobs)\\.ts$` },
      to: { path: '\\.repository\\.ts$' },
    },
    {
      name: 'no-foreign-repositories',
      comment: "A module may call another module's exported service, never its repository.",
      severity: 'error',
      from: { path: MODULE },
      to: { path: '^src/modules/([^/]+)/[^/]+\\.repository\\.ts$', pathNot: '^src/modules/$1/' },
    },
    {
      name: 'no-foreign-internals',
      comment: "Across modules only the module, service, dto, errors and events files are public.",
      severity: 'error',
      from: { path: MODULE },
      to: {
        path: '^src/modules/([^/]+)/',
        pathNot: ['^src/modules/$1/', '\\.(module|service|dto|errors|events)\\.ts$'],
      },
    },
    {
      name: 'services-are-transport-free',
      comment: 'Services serve REST, GraphQL, gRPC, jobs and consumers alike, so they import none of them.',
      severity: 'error',
      from: { path: `${MODULE}[^/]+\\.service\\.ts$` },
      to: { path: '(^|/)node_modules/(fastify|@fastify|@nestjs/platform-fastify|@nestjs/graphql|@nestjs/microservices|@grpc|mercurius)/' },
    },
    {
      name: 'sql-only-in-repositories',
      comment: 'Kysely and pg appear in modules only inside *.repository.ts (SQL visible in one place).',
      severity: 'error',
      from: { path: MODULE, pathNot: '\\.repository\\.ts$' },
      to: { path: '(^|/)node_modules/(kysely|pg)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.d.ts'] },
    moduleSystems: ['es6', 'cjs'],
  },
};
