// Moved to src/fhir/fhir-bundle.ts (so that connectors can use it too); kept so that existing imports work.
export * from '../../fhir/fhir-bundle.ts';
