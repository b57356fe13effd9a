import { ADT_MAPPERS } from './adt-mapper.ts';
import { DOCUMENT_MAPPERS } from './document-mapper.ts';
import { IMMUNIZATION_MAPPERS } from './immunization-mapper.ts';
import { LAB_MAPPERS } from './lab-mapper.ts';
import { SCHEDULING_MAPPERS } from './scheduling-mapper.ts';

import type { MessageMapper } from './message-mapper.ts';

export type { MessageMapper } from './message-mapper.ts';

export const MESSAGE_MAPPERS: readonly MessageMapper[] = [...ADT_MAPPERS, ...LAB_MAPPERS, ...SCHEDULING_MAPPERS, ...DOCUMENT_MAPPERS, ...IMMUNIZATION_MAPPERS];
