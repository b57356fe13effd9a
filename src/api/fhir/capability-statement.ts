// Moved to src/fhir/capability-statement.ts (so that connectors can use it too); kept so that existing imports work.
export * from '../../fhir/capability-statement.ts';
