import { SwitchboardError } from '../core/errors.ts';
import type { SourceConnector, SourceFactory } from '../engine/source-connector.ts';
import { DirectorySource } from './directory/directory-source.ts';
import { HttpSource } from './http/http-source.ts';
import { MllpSource } from './mllp/mllp-source.ts';

/**
 * Source kinds by the name a channel's config uses (`source.kind`). `channel` is not here: a
 * channel source is fed by other channels' `channel` destinations through the engine's inbox.
 */
const FACTORIES: Readonly<Record<string, SourceFactory>> = {
  mllp: (settings, path) => new MllpSource(settings, path),
  http: (settings, path) => new HttpSource(settings, path),
  directory: (settings, path) => new DirectorySource(settings, path),
};

export const sourceKinds: readonly string[] = Object.keys(FACTORIES);

/**
 * Builds (does not start) the source for a channel. Throws SWB_ERR_CONFIG_INVALID for an unknown
 * kind, or for settings its factory refuses, naming the field path under `path`.
 */
export function createSource(kind: string, settings: Readonly<Record<string, unknown>>, path = 'source.settings'): SourceConnector {
  const factory = Object.hasOwn(FACTORIES, kind) ? FACTORIES[kind] : undefined;
  if (factory === undefined) {
    throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', {
      path: path.replace(/settings$/, 'kind'),
      reason: `"${kind}" is not a known source kind (known: ${sourceKinds.join(', ')})`,
    });
  }
  return factory(settings, path);
}
