import { invalid, optionalInt, optionalString, type Settings } from './connector-settings.ts';

/** Readers shared by the source connectors (listeners): a host and a required port. */

export function listenHost(settings: Settings, path: string): string {
  return optionalString(settings, path, 'host') ?? '0.0.0.0';
}

/** Required; 0 asks the OS for a free port (tests), read back from `describe()`. */
export function listenPort(settings: Settings, path: string): number {
  const port = optionalInt(settings, path, 'port', 0, 65_535);
  if (port === undefined) throw invalid(`${path}.port`, 'is required');
  return port;
}

/** Rejects fields a source does not know, so a typo (`maxFrameByte`) is not silently ignored. */
export function onlyKnown(settings: Settings, path: string, known: readonly string[]): void {
  for (const key of Object.keys(settings)) {
    if (!known.includes(key)) throw invalid(`${path}.${key}`, `is not a known setting (known: ${known.join(', ')})`);
  }
}

/** `host:port` for a URL, with IPv6 literals in brackets. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
