// Prints the channel JSON Schema for editors: `node --import tsx scripts/channel-schema.ts > docs/reference/channel.schema.json`.
// The test src/core/channel-schema.test.ts fails when the committed file and the schema disagree.
import { channelJsonSchema } from '../src/core/channel-schema.ts';

export function renderChannelJsonSchema(): string {
  return `${JSON.stringify(channelJsonSchema(), null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(renderChannelJsonSchema());
