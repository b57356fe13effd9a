import type { MappingContext } from '../mapping-context.ts';

/** A message mapper: the events it handles (MSH-9.1^MSH-9.2, or `ADT^*`) and its mapping. */
export interface MessageMapper {
  readonly name: string;
  readonly events: readonly string[];
  /** Maps the message into ctx (MSH is already mapped; Z-segments and the report come after). */
  map(ctx: MappingContext): void;
}
