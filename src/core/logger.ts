import { destination, pino, type Logger } from 'pino';

export type { Logger };

/**
 * The process logger: JSON lines on stderr (stdout is for command results). Log ids — connection,
 * control and correlation ids — never names, dates of birth or message bodies (invariant 7). The
 * redact list is a second line of defence for fields that should never be logged at all.
 */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env['SWITCHBOARD_LOG_LEVEL'] ?? 'info',
      name: options.name ?? 'switchboard',
      base: { pid: process.pid },
      redact: { paths: ['payload', 'raw', 'body', 'message.payload', '*.payload', '*.raw', '*.body'], censor: '[redacted]' },
    },
    destination({ fd: 2, sync: false }),
  );
}
