/**
 * The one registry of stable error codes (STYLE.md "Errors").
 *
 * Every failure the engine reports carries a code `SWB_ERR_<AREA>_<WHAT>`, a message template,
 * the HTTP status an API would answer with, and a failure class that decides retries:
 *  - transient: the same action may succeed later (retry with backoff and jitter);
 *  - ambiguous: the far side may have acted (human review unless the delivery is idempotent);
 *  - permanent: retrying unchanged cannot succeed (exception queue, payload kept).
 *
 * Codes are never reused once retired; `docs/reference/errors.md` lists every code and a test keeps
 * the two in sync.
 */

export const FailureClass = {
  transient: 'transient',
  ambiguous: 'ambiguous',
  permanent: 'permanent',
} as const;
export type FailureClass = (typeof FailureClass)[keyof typeof FailureClass];

export interface ErrorDefinition {
  /** Message template; `{name}` placeholders are filled from the error's params. */
  readonly message: string;
  readonly httpStatus: number;
  readonly failureClass: FailureClass;
}

const def = (message: string, httpStatus: number, failureClass: FailureClass): ErrorDefinition => ({
  message,
  httpStatus,
  failureClass,
});

export const ErrorCodes = {
  // HL7 v2 parsing (src/hl7v2)
  SWB_ERR_HL7_EMPTY: def('the input holds no HL7 v2 message', 400, 'permanent'),
  SWB_ERR_HL7_NOT_ER7: def('the input is not ER7-encoded HL7 v2 ({reason})', 400, 'permanent'),
  SWB_ERR_HL7_NO_MSH: def('a message must start with an MSH segment; found {found}', 400, 'permanent'),
  SWB_ERR_HL7_BAD_ENCODING_CHARS: def('MSH-1/MSH-2 encoding characters are invalid: {reason}', 400, 'permanent'),
  SWB_ERR_HL7_BAD_SEGMENT_ID: def('segment {index} has an invalid segment id {found}', 400, 'permanent'),
  SWB_ERR_HL7_BAD_PATH: def('invalid HL7 path {path}: {reason}', 400, 'permanent'),
  SWB_ERR_HL7_BATCH_STRUCTURE: def('batch/file structure is invalid: {reason}', 400, 'permanent'),
  SWB_ERR_HL7_BATCH_COUNT: def('{trailer} counts {declared} but {actual} were found', 400, 'permanent'),
  SWB_ERR_HL7_BAD_VALUE: def('{path} is not a valid {datatype}: {reason}', 400, 'permanent'),
  SWB_ERR_HL7_INVALID_MESSAGE: def('the message failed validation with {count} error(s)', 422, 'permanent'),
  // MLLP transport (src/mllp)
  SWB_ERR_MLLP_FRAME_TOO_LARGE: def('MLLP frame exceeds the limit of {limit} bytes', 413, 'permanent'),
  SWB_ERR_MLLP_IDLE_TIMEOUT: def('MLLP connection idle for {ms} ms', 408, 'transient'),
  SWB_ERR_MLLP_CONNECT_FAILED: def('could not connect to {target}: {reason}', 502, 'transient'),
  SWB_ERR_MLLP_CONNECTION_LOST: def('connection to {target} closed before the ACK arrived', 502, 'ambiguous'),
  SWB_ERR_MLLP_ACK_TIMEOUT: def('no ACK from {target} within {ms} ms', 504, 'ambiguous'),
  SWB_ERR_MLLP_ACK_MISMATCH: def('ACK MSA-2 {got} does not match the sent MSH-10 {expected}', 502, 'ambiguous'),
  SWB_ERR_MLLP_ACK_INVALID: def('the reply from {target} is not a valid ACK: {reason}', 502, 'ambiguous'),
  SWB_ERR_MLLP_NAK_REJECT: def('{target} rejected the message (MSA-1 {code}): {text}', 502, 'transient'),
  SWB_ERR_MLLP_NAK_ERROR: def('{target} answered an application error (MSA-1 {code}): {text}', 422, 'permanent'),
  SWB_ERR_MLLP_CLIENT_CLOSED: def('the MLLP client is closed', 503, 'permanent'),
  SWB_ERR_MLLP_HANDLER_FAILED: def('the message handler failed: {reason}', 500, 'transient'),
  SWB_ERR_MLLP_NO_CONTROL_ID: def('the outbound message has no MSH-10 control id to match its ACK: {reason}', 400, 'permanent'),
  // Stores and the delivery queue (src/store)
  SWB_ERR_STORE_UNAVAILABLE: def('the store is unavailable: {reason}', 503, 'transient'),
  SWB_ERR_STORE_MIGRATION_FAILED: def('migration {version} failed: {reason}', 500, 'permanent'),
  SWB_ERR_STORE_SCHEMA_TOO_NEW: def('the database schema is at version {found}, newer than this build knows ({known})', 500, 'permanent'),
  SWB_ERR_STORE_NOT_FOUND: def('{kind} {id} does not exist', 404, 'permanent'),
  SWB_ERR_STORE_BAD_URL: def('unsupported store URL {url}: use sqlite:PATH or postgres://...', 400, 'permanent'),
  SWB_ERR_STORE_QUERY_FAILED: def('the store refused the operation (SQLSTATE {sqlstate}): {reason}', 500, 'permanent'),
  SWB_ERR_STORE_BAD_CURSOR: def('the search cursor is invalid; start again without a cursor', 400, 'permanent'),
  SWB_ERR_STORE_INVALID_RECORD: def('the record cannot be stored: {reason}', 400, 'permanent'),
  SWB_ERR_STORE_LEDGER_SETTLED: def('write ledger entry {id} is already settled ({outcome}); an attempt is settled once', 409, 'permanent'),
  SWB_ERR_QUEUE_LEASE_LOST: def('delivery {id} is no longer leased by {owner}', 409, 'ambiguous'),
  SWB_ERR_QUEUE_BAD_TRANSITION: def('delivery {id} is {status}; {action} is not allowed', 409, 'permanent'),
  // Canonical FHIR resource store and search (src/core/ports/resource-store.ts, src/fhir/search-*.ts); never a searched value
  SWB_ERR_FHIR_NOT_FOUND: def('{type}/{id} is not known', 404, 'permanent'),
  SWB_ERR_FHIR_GONE: def('{type}/{id} was deleted', 410, 'permanent'),
  SWB_ERR_FHIR_VERSION_CONFLICT: def('{type}/{id} is at version {current}, not {expected} (If-Match)', 412, 'permanent'),
  SWB_ERR_FHIR_MULTIPLE_MATCHES: def('the condition on {type} matches more than one resource', 412, 'permanent'),
  SWB_ERR_FHIR_ID_EXISTS: def('{type}/{id} already exists', 409, 'permanent'),
  SWB_ERR_FHIR_INVALID_RESOURCE: def('the {type} resource cannot be stored: {reason}', 400, 'permanent'),
  SWB_ERR_FHIR_INVALID_SEARCH: def('invalid search on {type}: {reason}', 400, 'permanent'),
  SWB_ERR_FHIR_UNKNOWN_PARAMETER: def('{type} has no search parameter {param}', 400, 'permanent'),
  // FHIR R4 REST API (src/api/fhir); never an element's value
  SWB_ERR_FHIR_UNKNOWN_TYPE: def('{type} is not a resource type this server supports', 404, 'permanent'),
  SWB_ERR_FHIR_FORMAT_NOT_SUPPORTED: def('the format {format} is not supported; use application/fhir+json', 406, 'permanent'),
  SWB_ERR_FHIR_MEDIA_TYPE: def('unsupported Content-Type {type}; send application/fhir+json', 415, 'permanent'),
  SWB_ERR_FHIR_INVALID_JSON: def('the body is not valid JSON: {reason}', 400, 'permanent'),
  SWB_ERR_FHIR_VALIDATION_FAILED: def('the {type} resource failed validation with {count} error(s)', 422, 'permanent'),
  SWB_ERR_FHIR_INVALID_REQUEST: def('the request is invalid: {reason}', 400, 'permanent'),
  SWB_ERR_FHIR_METHOD_NOT_ALLOWED: def('{method} is not supported on {path}', 405, 'permanent'),
  SWB_ERR_FHIR_INVALID_BUNDLE: def('the Bundle cannot be processed: {reason}', 400, 'permanent'),
  SWB_ERR_FHIR_TOO_LARGE: def('the request body exceeds the limit of {limit} bytes', 413, 'permanent'),
  // Operations (src/engine/operations.ts): exception queue actions, replay
  SWB_ERR_DELIVERY_NOT_IN_EXCEPTIONS: def('delivery {id} is {status}, not in the exception queue (failed, ambiguous or parked)', 409, 'permanent'),
  SWB_ERR_REPLAY_UNKNOWN_DESTINATION: def('no replayed channel revision has a destination named {name}', 400, 'permanent'),
  // Destination connectors (src/connectors)
  SWB_ERR_DEST_ABORTED: def('the send to {target} was aborted before its outcome was known', 504, 'ambiguous'),
  SWB_ERR_DEST_NOT_SENT: def('the send to {target} was cancelled before anything was sent: {reason}', 503, 'transient'),
  SWB_ERR_DEST_UNEXPECTED: def('unexpected failure sending to {target}: {reason}', 502, 'ambiguous'),
  SWB_ERR_HTTP_DEST_STATUS: def('{target} answered HTTP {status}', 502, 'permanent'),
  SWB_ERR_HTTP_DEST_STATUS_RETRYABLE: def('{target} answered HTTP {status}, which may succeed later', 502, 'transient'),
  SWB_ERR_HTTP_DEST_CONNECT_FAILED: def('could not connect to {target}: {reason}', 502, 'transient'),
  SWB_ERR_HTTP_DEST_CONNECTION_LOST: def('the exchange with {target} failed after the request was sent: {reason}', 502, 'ambiguous'),
  SWB_ERR_HTTP_DEST_TIMEOUT: def('no response from {target} within {ms} ms', 504, 'ambiguous'),
  SWB_ERR_FILE_DEST_WRITE_FAILED: def('cannot write {path}: {reason}', 507, 'permanent'),
  SWB_ERR_FILE_DEST_BUSY: def('cannot write {path} now: {reason}', 503, 'transient'),
  SWB_ERR_CHANNEL_NOT_FOUND: def('no running channel {channel} to hand the message to', 404, 'permanent'),
  // Source connectors (src/connectors)
  SWB_ERR_SOURCE_NOT_STORED: def('the message was not stored ({reason}); send it again', 503, 'transient'),
  SWB_ERR_SOURCE_RECEIVE_FAILED: def('the channel failed to take the message; send it again', 500, 'transient'),
  SWB_ERR_HTTP_SOURCE_TOO_LARGE: def('the request body exceeds the limit of {limit} bytes', 413, 'permanent'),
  SWB_ERR_HTTP_SOURCE_UNAUTHORIZED: def('the request is not authenticated: {reason}', 401, 'permanent'),
  SWB_ERR_HTTP_SOURCE_MEDIA_TYPE: def('unsupported Content-Type {type}: send application/hl7-v2, text/plain, application/fhir+json or application/json', 415, 'permanent'),
  SWB_ERR_HTTP_SOURCE_METHOD: def('{method} is not allowed here; use POST', 405, 'permanent'),
  SWB_ERR_HTTP_SOURCE_NOT_FHIR: def('the body is not a FHIR resource: {reason}', 400, 'permanent'),
  // Dispatcher (src/engine/dispatcher.ts)
  SWB_ERR_DISPATCH_CONNECTOR_THREW: def('the {destination} connector threw instead of returning a result (a connector bug)', 500, 'transient'),
  SWB_ERR_DISPATCH_BAD_RESULT: def('the {destination} connector returned something that is not a SendResult (a connector bug)', 500, 'transient'),
  SWB_ERR_DISPATCH_ATTEMPT_TIMEOUT: def('no result from {destination} within {ms} ms; the far side may have acted', 504, 'ambiguous'),
  SWB_ERR_DISPATCH_SHUTDOWN: def('the send to {destination} was aborted by shutdown; the far side may have acted', 503, 'ambiguous'),
  SWB_ERR_DISPATCH_UNKNOWN_DESTINATION: def('the dispatcher serves no destination {destination}', 404, 'permanent'),
  SWB_ERR_DISPATCH_STOPPED: def('the dispatcher is stopped; create a new one', 503, 'permanent'),
  // Channel pipeline (src/engine/channel-pipeline.ts); reasons name the step, never a field value
  SWB_ERR_PIPELINE_STEP_FAILED: def('the pipeline step {step} failed: {reason}', 422, 'permanent'),
  SWB_ERR_PIPELINE_NOT_HL7: def('the pipeline step {step} needs HL7 v2 input, not {contentType}', 422, 'permanent'),
  SWB_ERR_PIPELINE_MAP_MISSING: def('the value at {step} is not in table {table}', 422, 'permanent'),
  // HL7 v2 <-> FHIR mapping (src/mapping); reasons name the segment/field or element, never a value
  SWB_ERR_MAP_UNSUPPORTED_MESSAGE: def('no mapping for message type {messageType} (structure {structure})', 422, 'permanent'),
  SWB_ERR_MAP_FIELD_FAILED: def('{field} cannot be mapped: {reason}', 422, 'permanent'),
  SWB_ERR_MAP_CODE_UNMAPPED: def('{field}: code not found in code map {map}', 422, 'permanent'),
  SWB_ERR_MAP_INVALID_RESOURCE: def('the mapping produced an invalid {resourceType}: {reason}', 500, 'permanent'),
  SWB_ERR_MAP_UNSUPPORTED_RESOURCE: def('no FHIR -> HL7 v2 mapping for {what}', 422, 'permanent'),
  SWB_ERR_MAP_FHIR_INPUT: def('the FHIR input cannot be converted: {reason}', 422, 'permanent'),
  // fhir-store destination (src/connectors/fhir-store)
  SWB_ERR_FHIR_STORE_DEST_NOT_A_BUNDLE: def('the delivery cannot be written to the FHIR store: {reason}', 422, 'permanent'),
  // Configuration and CLI
  SWB_ERR_CONFIG_INVALID: def('{path} {reason}', 400, 'permanent'),
  SWB_ERR_CLI_USAGE: def('{reason}', 400, 'permanent'),
  SWB_ERR_IO_READ_FAILED: def('cannot read {path}: {reason}', 400, 'permanent'),
  // HTTP API
  SWB_ERR_HTTP_NOT_FOUND: def('no route for {method} {url}', 404, 'permanent'),
  SWB_ERR_HTTP_BAD_REQUEST: def('the request is invalid: {reason}', 400, 'permanent'),
  SWB_ERR_HTTP_NOT_READY: def('not ready: {reason}', 503, 'transient'),
  SWB_ERR_HTTP_RATE_LIMITED: def('too many requests from this client; retry after {retryAfter} s', 429, 'transient'),
  SWB_ERR_HTTP_CHANNEL_NOT_RUNNING: def('channel {channel} is not run by this engine process', 404, 'permanent'),
  SWB_ERR_HTTP_NO_CONFIG_DIR: def('channel {channel} has no tests to run here: the engine was not started with --config DIR', 409, 'permanent'),
  SWB_ERR_INTERNAL_UNEXPECTED: def('internal error (see logs for {ref})', 500, 'transient'),
  // Authentication and authorization (src/api/auth): OAuth token endpoint, access tokens, sessions, roles, scopes.
  // Messages name the failed check, never a secret, a password or a username.
  SWB_ERR_AUTH_REQUIRED: def('the request carries no credentials (a bearer token or a session cookie)', 401, 'permanent'),
  SWB_ERR_AUTH_TOKEN_INVALID: def('the access token is invalid: {reason}', 401, 'permanent'),
  SWB_ERR_AUTH_TOKEN_EXPIRED: def('the access token has expired', 401, 'permanent'),
  SWB_ERR_AUTH_TOKEN_AUDIENCE: def('the access token was issued for another audience', 401, 'permanent'),
  SWB_ERR_AUTH_SESSION_INVALID: def('the session is unknown or has expired; log in again', 401, 'permanent'),
  SWB_ERR_AUTH_CLIENT_INVALID: def('client authentication failed: {reason}', 401, 'permanent'),
  SWB_ERR_AUTH_ASSERTION_INVALID: def('the client assertion is invalid: {reason}', 401, 'permanent'),
  SWB_ERR_AUTH_ASSERTION_ALG: def('the client assertion is signed with {alg}; only RS384 and ES384 are accepted', 401, 'permanent'),
  SWB_ERR_AUTH_ASSERTION_EXPIRED: def('the client assertion has expired', 401, 'permanent'),
  SWB_ERR_AUTH_ASSERTION_LIFETIME: def('the client assertion expires more than {max} s ahead', 401, 'permanent'),
  SWB_ERR_AUTH_ASSERTION_REPLAYED: def('the client assertion jti was already used', 401, 'permanent'),
  SWB_ERR_AUTH_ASSERTION_KEY: def('no registered key verifies the client assertion: {reason}', 401, 'permanent'),
  SWB_ERR_AUTH_JWKS_FETCH_FAILED: def('the client JWKS could not be fetched from its registered jku: {reason}', 401, 'transient'),
  SWB_ERR_AUTH_INVALID_REQUEST: def('the token request is invalid: {reason}', 400, 'permanent'),
  SWB_ERR_AUTH_UNSUPPORTED_GRANT: def('grant_type {grantType} is not supported; use client_credentials', 400, 'permanent'),
  SWB_ERR_AUTH_INVALID_SCOPE: def('none of the requested scopes is allowed for this client', 400, 'permanent'),
  SWB_ERR_AUTH_LOGIN_FAILED: def('the username or password is wrong, or the account is disabled', 401, 'permanent'),
  SWB_ERR_AUTH_RATE_LIMITED: def('too many attempts; retry after {seconds} s', 429, 'transient'),
  SWB_ERR_AUTH_PASSWORD_CHANGE_REQUIRED: def('the password must be changed first (POST /auth/password)', 403, 'permanent'),
  SWB_ERR_AUTH_PASSWORD_REJECTED: def('the new password is not acceptable: {reason}', 400, 'permanent'),
  SWB_ERR_AUTH_FORBIDDEN: def('this principal may not {action}', 403, 'permanent'),
  SWB_ERR_AUTH_SCOPE_INSUFFICIENT: def('the granted scopes do not allow {interaction} on {resourceType}', 403, 'permanent'),
  // Consent (src/api/consent.ts): FHIR R4 Consent enforced on the canonical store, and break-glass.
  // Messages name the Consent id and the resource type, never the patient's data.
  SWB_ERR_CONSENT_DENIED: def('Consent/{consent} denies {action} of {resourceType} for this patient', 403, 'permanent'),
  SWB_ERR_CONSENT_BREAK_GLASS_FORBIDDEN: def('break-glass (X-Break-Glass) is not permitted for this principal; allowed roles: {roles}', 403, 'permanent'),
  SWB_ERR_CONSENT_BREAK_GLASS_REASON: def('X-Break-Glass must carry a reason of 1 to {max} characters', 400, 'permanent'),
  SWB_ERR_CONSENT_ADMIN_ONLY: def('Consent resources are read and written by admins only ({interaction} Consent)', 403, 'permanent'),
  // Write-back to EHRs (src/writeback): proposal state machine, policy, actor rules. Never a resource's value.
  SWB_ERR_WRITEBACK_INVALID_TRANSITION: def('a proposal cannot move from {from} to {to}', 409, 'permanent'),
  SWB_ERR_WRITEBACK_POLICY_INVALID: def('the write-back policy {source} is invalid: {reason}', 400, 'permanent'),
  SWB_ERR_WRITEBACK_POLICY_DENIED: def('the write-back policy denies this change (rule {rule}): {reason}', 403, 'permanent'),
  SWB_ERR_WRITEBACK_ACTOR_FORBIDDEN: def('this actor may not {action} {resourceType}: {reason}', 403, 'permanent'),
  SWB_ERR_WRITEBACK_NOT_FOUND: def('no write-back proposal {id}', 404, 'permanent'),
  SWB_ERR_WRITEBACK_UNKNOWN_EHR: def('no EHR named {ehr} is configured for write-back', 400, 'permanent'),
  SWB_ERR_WRITEBACK_BAD_PROPOSAL: def('the proposal is invalid: {path} {reason}', 400, 'permanent'),
  SWB_ERR_WRITEBACK_NOT_REVIEWABLE: def('proposal {id} is {state}; {action} needs it in {expected}', 409, 'permanent'),
  SWB_ERR_WRITEBACK_NOT_CONFIGURED: def('write-back is not configured on this engine (switchboard start --writeback FILE)', 503, 'permanent'),
  // EHR adapters (src/writeback/ehr): FHIR R4 over SMART backend services, vendor profiles, HL7 v2 over MLLP. Ids and statuses only.
  SWB_ERR_EHR_UNSUPPORTED_WRITE: def('the {profile} profile cannot {interaction} {resourceType}: {reason}', 422, 'permanent'),
  SWB_ERR_EHR_UNREACHABLE: def('could not reach {target}: {reason}', 502, 'transient'),
  SWB_ERR_EHR_TIMEOUT: def('{target} gave no answer within {ms} ms after the request was sent; the write may have been applied', 504, 'ambiguous'),
  SWB_ERR_EHR_CONNECTION_LOST: def('the connection to {target} was lost after the request was sent ({reason}); the write may have been applied', 502, 'ambiguous'),
  SWB_ERR_EHR_NO_ANSWER_SAFE: def('{target} gave no answer ({reason}); the write is idempotent and may be retried', 504, 'transient'),
  SWB_ERR_EHR_THROTTLED: def('{target} answered HTTP {status}; retry after {retryAfterMs} ms', 503, 'transient'),
  SWB_ERR_EHR_SERVER_ERROR: def('{target} answered HTTP {status}; the write may have been applied', 502, 'ambiguous'),
  SWB_ERR_EHR_SERVER_UNAVAILABLE: def('{target} answered HTTP {status}; nothing was applied', 502, 'transient'),
  SWB_ERR_EHR_HTTP_STATUS: def('{target} refused the write with HTTP {status}', 422, 'permanent'),
  SWB_ERR_EHR_CONFLICT: def('{resourceType}/{id} changed in {target} since version {expected} (HTTP {status})', 409, 'permanent'),
  SWB_ERR_EHR_AUTH_FAILED: def('the token endpoint {tokenUrl} refused the client: {reason}', 401, 'permanent'),
  SWB_ERR_EHR_AUTH_UNAVAILABLE: def('no access token from {tokenUrl}: {reason}', 502, 'transient'),
  SWB_ERR_EHR_DISCOVERY_FAILED: def('could not read {what} from {target}: {reason}', 502, 'transient'),
  SWB_ERR_EHR_INVALID_RESPONSE: def('{target} answered something unexpected: {reason}', 502, 'ambiguous'),
  SWB_ERR_EHR_UNSIGNED_DOCUMENT: def('refusing to send a document that is not signed as TXA-17 {code} (authenticated)', 422, 'permanent'),
  SWB_ERR_EHR_HL7_CONVERSION: def('the change cannot be sent as HL7 v2: {reason}', 422, 'permanent'),
  SWB_ERR_EHR_CONFIG_INVALID: def('the EHR configuration {name} is invalid: {reason}', 400, 'permanent'),
} as const satisfies Record<string, ErrorDefinition>;

export type ErrorCode = keyof typeof ErrorCodes;

export type ErrorParams = Readonly<Record<string, string | number | boolean | undefined>>;

function render(template: string, params: ErrorParams): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => {
    const value = params[key];
    return value === undefined ? whole : String(value);
  });
}

/** The engine's error: a stable code, a rendered message, a failure class and structured params. */
export class SwitchboardError extends Error {
  readonly code: ErrorCode;
  readonly params: ErrorParams;
  readonly failureClass: FailureClass;
  readonly httpStatus: number;

  constructor(code: ErrorCode, params: ErrorParams = {}, options?: { cause?: unknown }) {
    const definition: ErrorDefinition = ErrorCodes[code];
    super(render(definition.message, params), options);
    this.name = 'SwitchboardError';
    this.code = code;
    this.params = params;
    this.failureClass = definition.failureClass;
    this.httpStatus = definition.httpStatus;
  }
}

export function isSwitchboardError(value: unknown): value is SwitchboardError {
  return value instanceof SwitchboardError;
}

/** A problem document (RFC 9457) for `/api/v1` answers. */
export function toProblem(error: SwitchboardError, instance?: string): Record<string, unknown> {
  return {
    type: `https://switchboard.dev/errors/${error.code}`,
    title: error.code,
    status: error.httpStatus,
    detail: error.message,
    code: error.code,
    failureClass: error.failureClass,
    ...(instance === undefined ? {} : { instance }),
  };
}
