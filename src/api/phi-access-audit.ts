import type { FastifyRequest } from 'fastify';
import type { AuditLog } from '../core/ports/audit-log.ts';
import type { StoredMessage } from '../core/ports/message-store.ts';
import { actorOf } from './http-security.ts';

/**
 * Reading one message's content is a PHI access (ARCHITECTURE.md invariant 7: "PHI is reachable
 * only through authorized API calls, and each such call is audited"). The record names who, which
 * message, the message's correlation id and the request's; never the content, the patient id or
 * any field value.
 */
export async function auditMessageRead(audit: AuditLog, req: FastifyRequest, message: StoredMessage): Promise<void> {
  await audit.append({
    actor: actorOf(req),
    action: 'message.read',
    target: message.id,
    detail: { channel: message.channelId, correlationId: message.correlationId, requestId: String(req.id) },
  });
}

/** A message's deliveries with their payloads and responses: PHI as well, audited the same way. */
export async function auditDeliveriesRead(audit: AuditLog, req: FastifyRequest, messageId: string, deliveries: number): Promise<void> {
  await audit.append({ actor: actorOf(req), action: 'message.deliveries.read', target: messageId, detail: { deliveries, requestId: String(req.id) } });
}
