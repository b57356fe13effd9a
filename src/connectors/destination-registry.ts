import { SwitchboardError } from '../core/errors.ts';
import type { DestinationConnector, DestinationContext, DestinationFactory } from '../engine/destination-connector.ts';
import { ChannelDestination } from './channel/channel-destination.ts';
import { FileDestination } from './file/file-destination.ts';
import { FhirStoreDestination } from './fhir-store/fhir-store-destination.ts';
import { HttpDestination } from './http/http-destination.ts';
import { MllpDestination } from './mllp/mllp-destination.ts';

/** Destination kinds by the name a channel's config uses (`destinations[n].kind`). */
const FACTORIES: Readonly<Record<string, DestinationFactory>> = {
  mllp: (settings) => new MllpDestination(settings),
  http: (settings) => new HttpDestination(settings),
  file: (settings) => new FileDestination(settings),
  channel: (settings, context) => new ChannelDestination(settings, context),
  'fhir-store': (settings, context) => new FhirStoreDestination(settings, context),
};

export const destinationKinds: readonly string[] = Object.keys(FACTORIES);

/**
 * Builds the connector for a destination. Throws SWB_ERR_CONFIG_INVALID for an unknown kind, or for
 * settings its factory refuses (the message names the field path). `context` carries what the
 * engine offers beyond settings (the channel inbox a `channel` destination hands messages to).
 */
export function createDestination(kind: string, settings: Readonly<Record<string, unknown>>, context: DestinationContext = {}): DestinationConnector {
  const factory = Object.hasOwn(FACTORIES, kind) ? FACTORIES[kind] : undefined;
  if (factory === undefined) {
    throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', {
      path: 'destination.kind',
      reason: `"${kind}" is not a known destination kind (known: ${destinationKinds.join(', ')})`,
    });
  }
  return factory(settings, context);
}
