// Module direction, as in ARCHITECTURE.md "Modules and which way imports point".
// Each rule forbids a module from importing what the table does not allow; cycles are errors.
const mod = (name) => `^src/${name}/`;
const TEST = '\\.test\\.ts$';
// Tests follow the same direction, except that they may also open a store implementation (the
// engine's tests run it against SQLite and PostgreSQL); runtime code never may.
// `testsAlso`: modules only the tests of `from` may import as well (store tests compose the FHIR
// resource store with the R4 indexer from src/fhir/, which runtime store code receives as data).
const notAllowed = (from, allowed, testsAlso = []) => [
  {
    name: `${from}-imports-only-${allowed.join('-') || 'nothing'}`,
    severity: 'error',
    comment: `src/${from}/ may import only ${allowed.length ? allowed.map((a) => `src/${a}/`).join(', ') : 'no other module'}`,
    from: { path: mod(from), pathNot: TEST },
    to: { path: '^src/', pathNot: [mod(from), ...allowed.map(mod)] },
  },
  {
    name: `${from}-tests-import-only-${[...allowed, ...testsAlso].join('-') || 'nothing'}-and-store`,
    severity: 'error',
    comment: `tests in src/${from}/ may import what src/${from}/ may, plus src/store/${testsAlso.map((t) => ` and src/${t}/`).join('')}`,
    from: { path: [mod(from), TEST].join('.*') },
    to: { path: '^src/', pathNot: [mod(from), ...allowed.map(mod), ...testsAlso.map(mod), mod('store')] },
  },
];

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    ...notAllowed('core', []),
    ...notAllowed('hl7v2', ['core']),
    ...notAllowed('mllp', ['hl7v2', 'core']),
    ...notAllowed('fhir', ['core']),
    ...notAllowed('mapping', ['hl7v2', 'fhir', 'core']),
    ...notAllowed('engine', ['core', 'hl7v2', 'fhir', 'mapping']),
    ...notAllowed('connectors', ['core', 'engine', 'hl7v2', 'mllp', 'fhir']),
    ...notAllowed('writeback', ['core', 'engine', 'fhir', 'mapping', 'hl7v2', 'mllp'], ['sim']),
    ...notAllowed('store', ['core'], ['fhir']),
    ...notAllowed('sim', ['fhir', 'hl7v2', 'mllp', 'core']),
    {
      // Invariant 5: every EHR write passes the write-back gate. The adapters (which make EHR
      // writes) are built by the composition root in src/cli/ and used only by src/writeback/;
      // src/api/ reaches them only through the write-back service, so it may not import them.
      name: 'ehr-adapters-only-from-writeback-and-cli',
      severity: 'error',
      comment: 'only src/writeback/ and src/cli/ may import src/writeback/ehr/ (no EHR write outside the gate)',
      from: { path: '^src/', pathNot: ['^src/writeback/', '^src/cli/'] },
      to: { path: '^src/writeback/ehr/' },
    },
    {
      name: 'no-dev-deps-in-src',
      severity: 'error',
      comment: 'runtime code must not import a devDependency',
      from: { path: '^src/', pathNot: '\\.test\\.ts$' },
      to: { dependencyTypes: ['npm-dev'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
