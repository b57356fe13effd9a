import { z } from 'zod';
import { SwitchboardError } from '../../core/errors.ts';
import { loadPrivateKeyFile, SMART_ASSERTION_ALGS, SmartBackendAuth } from '../../fhir/smart-backend-auth.ts';
import type { EhrAdapter } from './ehr-adapter.ts';
import { FhirR4Adapter } from './fhir-r4-adapter.ts';
import { Hl7v2MllpAdapter, type Hl7v2MllpAdapterOptions } from './hl7v2-mllp-adapter.ts';
import { FHIR_PROFILES } from './profiles/index.ts';

/**
 * One EHR write-back target, as configured (YAML, loaded by the write-back service):
 *
 *   name: epic-prod
 *   profile: epic            # epic | oracle-health | generic-r4 | hl7v2-mllp
 *   baseUrl: https://ehr.example/fhir/R4
 *   auth: { clientId: switchboard, privateKeyFile: /etc/switchboard/ehr-key.pem, alg: RS384, kid: k1 }
 *   timeoutMs: 30000
 *
 * A FHIR profile needs `baseUrl`; `hl7v2-mllp` needs `mllp`. `auth.tokenUrl` is discovered from the
 * server's smart-configuration when absent.
 */

export const EHR_ADAPTER_PROFILES = ['epic', 'oracle-health', 'generic-r4', 'hl7v2-mllp'] as const;

const AuthSchema = z
  .object({
    clientId: z.string().min(1),
    privateKeyFile: z.string().min(1).optional(),
    /** A private JWK (inline; prefer a file outside the config). */
    privateJwk: z.record(z.string(), z.unknown()).optional(),
    alg: z.enum(SMART_ASSERTION_ALGS),
    kid: z.string().min(1).optional(),
    jku: z.url().optional(),
    tokenUrl: z.url().optional(),
    scope: z.string().min(1).optional(),
  })
  .strict()
  .refine((a) => (a.privateKeyFile === undefined) !== (a.privateJwk === undefined), { message: 'exactly one of privateKeyFile and privateJwk is required' });

export const EhrConfigSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a name of letters, digits, dot, dash or underscore'),
    profile: z.enum(EHR_ADAPTER_PROFILES),
    baseUrl: z.url().optional(),
    auth: AuthSchema.optional(),
    mllp: z
      .object({
        host: z.string().min(1),
        port: z.number().int().min(1).max(65535),
        tls: z.boolean().optional(),
      })
      .strict()
      .optional(),
    timeoutMs: z.number().int().min(100).max(600_000).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.profile === 'hl7v2-mllp') {
      if (c.mllp === undefined) ctx.addIssue({ code: 'custom', path: ['mllp'], message: 'the hl7v2-mllp profile needs mllp { host, port }' });
    } else if (c.baseUrl === undefined) {
      ctx.addIssue({ code: 'custom', path: ['baseUrl'], message: `the ${c.profile} profile needs baseUrl` });
    }
  });

export type EhrConfig = z.infer<typeof EhrConfigSchema>;

export interface CreateEhrAdapterOptions {
  /** Passed to the HL7 v2 adapter (PID for MDM/ORU). */
  readonly resolvePatient?: Hl7v2MllpAdapterOptions['resolvePatient'];
  /** Extra node:tls options for an MLLP target with `tls: true` (CA, client certificate). */
  readonly tls?: NonNullable<Hl7v2MllpAdapterOptions['tls']>;
  /** FHIR adapters: read the resource back after an empty 201 (Epic). */
  readonly readBackOnEmptyBody?: boolean;
}

/** Validates a config object; the error names the field path (STYLE.md "Configuration"). */
export function parseEhrConfig(input: unknown): EhrConfig {
  const r = EhrConfigSchema.safeParse(input);
  if (r.success) return r.data;
  const name = typeof (input as { name?: unknown } | null)?.name === 'string' ? (input as { name: string }).name : '(unnamed)';
  const reason = r.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
  throw new SwitchboardError('SWB_ERR_EHR_CONFIG_INVALID', { name, reason });
}

/** Builds the adapter a config names. Reads the private key file, if any. */
export async function createEhrAdapter(config: EhrConfig, options: CreateEhrAdapterOptions = {}): Promise<EhrAdapter> {
  const c = parseEhrConfig(config);
  if (c.profile === 'hl7v2-mllp') {
    const mllp = c.mllp as NonNullable<EhrConfig['mllp']>;
    return new Hl7v2MllpAdapter({
      name: c.name,
      host: mllp.host,
      port: mllp.port,
      ...(mllp.tls === true ? { tls: options.tls ?? {} } : {}),
      ...(c.timeoutMs === undefined ? {} : { ackTimeoutMs: c.timeoutMs }),
      ...(options.resolvePatient === undefined ? {} : { resolvePatient: options.resolvePatient }),
    });
  }
  const baseUrl = c.baseUrl as string;
  let auth: SmartBackendAuth | undefined;
  if (c.auth !== undefined) {
    const a = c.auth;
    let privateKey;
    try {
      privateKey = a.privateKeyFile !== undefined ? await loadPrivateKeyFile(a.privateKeyFile) : (a.privateJwk as Record<string, unknown> as { kty: string });
    } catch (error) {
      // The path is configuration, not a secret; the key's content never goes into the message.
      throw new SwitchboardError('SWB_ERR_EHR_CONFIG_INVALID', { name: c.name, reason: `auth.privateKeyFile cannot be read (${(error as NodeJS.ErrnoException).code ?? 'invalid'})` }, { cause: error });
    }
    auth = new SmartBackendAuth({
      clientId: a.clientId,
      privateKey,
      alg: a.alg,
      fhirBaseUrl: baseUrl,
      ...(a.kid === undefined ? {} : { kid: a.kid }),
      ...(a.jku === undefined ? {} : { jku: a.jku }),
      ...(a.tokenUrl === undefined ? {} : { tokenUrl: a.tokenUrl }),
      ...(a.scope === undefined ? {} : { scope: a.scope }),
      ...(c.timeoutMs === undefined ? {} : { timeoutMs: c.timeoutMs }),
    });
  }
  return new FhirR4Adapter({
    name: c.name,
    baseUrl,
    profile: FHIR_PROFILES[c.profile],
    ...(auth === undefined ? {} : { auth }),
    ...(c.timeoutMs === undefined ? {} : { timeoutMs: c.timeoutMs }),
    ...(options.readBackOnEmptyBody === undefined ? {} : { readBackOnEmptyBody: options.readBackOnEmptyBody }),
  });
}
