// Moved to src/fhir/fhir-outcome.ts (so that connectors can use it too); kept so that existing imports work.
export * from '../../fhir/fhir-outcome.ts';
