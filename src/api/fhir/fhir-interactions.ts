// Moved to src/fhir/fhir-interactions.ts (so that connectors can use it too); kept so that existing imports work.
export * from '../../fhir/fhir-interactions.ts';
