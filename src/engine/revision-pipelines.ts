import { parseChannelDocument } from '../core/channel-schema.ts';
import { SwitchboardError } from '../core/errors.ts';
import type { ChannelRevisionStore } from '../core/ports/channel-revisions.ts';
import { compilePipeline } from './channel-pipeline.ts';
import type { PipelineFor, ResolvedPipeline } from './operations.ts';

/**
 * The `pipelineFor` of replay: a stored revision's document, parsed with the one schema and
 * compiled (invariant 8: a message can be replayed under the revision it ran under). `current` is
 * the channel's latest revision. Module references resolve against `baseDir`, the channel
 * directory (a revision stores the YAML, not the modules' code; its hash covers them).
 * Compiled revisions are kept for the loader's life.
 */
export function revisionPipelines(channels: ChannelRevisionStore, options: { readonly baseDir: string }): PipelineFor {
  const cache = new Map<string, Promise<ResolvedPipeline>>();
  const load = async (channelId: string, revision: number | 'current'): Promise<ResolvedPipeline> => {
    const stored = revision === 'current' ? await channels.latest(channelId) : await channels.get(channelId, revision);
    if (stored === undefined) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'channel revision', id: `${channelId}@${revision}` });
    const config = parseChannelDocument(stored.document, `${channelId}@${stored.revision}`);
    return { config, revision: stored.revision, pipeline: await compilePipeline(config, { baseDir: options.baseDir }) };
  };
  return (channelId, revision) => {
    // `current` may move between calls (a new apply); numbered revisions never change.
    if (revision === 'current') return load(channelId, revision);
    const key = `${channelId}\0${revision}`;
    let hit = cache.get(key);
    if (hit === undefined) {
      hit = load(channelId, revision);
      void hit.catch(() => cache.delete(key));
      cache.set(key, hit);
    }
    return hit;
  };
}
