// Owns input validation for rollback workflows. Runs in the workflow (first thing, before any activity) and in
// the CLI (before a start is even sent), so bad input is refused with a message naming the field and nothing
// changes. Pure and deterministic.
import { isValidHostName } from '../common/config.ts';
import { approvalRefusal, type RollbackType } from '../common/roles.ts';

export class InputError extends Error {
  override name = 'InputError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`invalid input: ${field}: ${message}`);
  }
}

// Docker's own container-name rule, minus the length we need for the "-pre-rollback-<id>" suffix.
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,99}$/;
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
// [registry[:port]/]path[:tag][@digest]; a tag or a digest is required: "latest" is no rollback target.
const IMAGE_REF = new RegExp(
  `^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]{1,5})?/)?${COMPONENT}(?:/${COMPONENT})*` +
    `(?::([\\w][\\w.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$`,
);
const HTTP_URL = /^https?:\/\/[^\s/?#]+(?:[/?#]\S*)?$/;

export function requireString(obj: Record<string, unknown>, field: string, max = 500): string {
  const v = obj[field];
  if (typeof v !== 'string' || v.trim() === '') throw new InputError(field, 'is required (a non-empty string)');
  if (v.length > max) throw new InputError(field, `is longer than ${max} characters`);
  return v.trim();
}

export function optionalInt(
  obj: Record<string, unknown> | undefined,
  field: string,
  def: number,
  min: number,
  max: number,
  path = field,
): number {
  const v = obj?.[field];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InputError(path, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function validateContainerName(name: string, field = 'containerName'): string {
  if (!CONTAINER_NAME.test(name)) {
    throw new InputError(field, `'${name}' is not a valid container name ([a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 100)`);
  }
  return name;
}

export function validateImageRef(ref: string, field = 'targetImage'): string {
  const m = IMAGE_REF.exec(ref);
  if (!m) throw new InputError(field, `'${ref}' is not a valid image reference (name:tag or name@sha256:digest)`);
  if (m[1] === undefined && m[2] === undefined) {
    throw new InputError(field, `'${ref}' has no tag or digest: name the exact version to roll back to`);
  }
  if (m[1] === 'latest') throw new InputError(field, `'${ref}' uses the moving tag 'latest': name an exact version`);
  return ref;
}

export function validateHttpUrl(url: string, field: string): string {
  if (!HTTP_URL.test(url)) throw new InputError(field, `'${url}' is not an http(s) URL`);
  return url;
}

export function validateHost(host: unknown, field = 'host'): string | undefined {
  if (host === undefined || host === null || host === '') return undefined;
  if (typeof host !== 'string' || !isValidHostName(host)) {
    throw new InputError(field, `${JSON.stringify(host)} is not a valid host name`);
  }
  return host;
}

export interface PreApproval {
  approver: string;
  role: string;
  comment?: string;
}

export function validatePreApproval(type: RollbackType, raw: unknown, field: string): PreApproval | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object') throw new InputError(field, 'must be an object { approver, role, comment? }');
  const o = raw as Record<string, unknown>;
  const approver = requireString(o, 'approver', 200);
  const role = requireString(o, 'role', 100);
  const refusal = approvalRefusal(type, role);
  if (refusal) throw new InputError(`${field}.role`, refusal);
  const comment = typeof o.comment === 'string' && o.comment !== '' ? o.comment : undefined;
  return { approver, role, ...(comment ? { comment } : {}) };
}

export function asObject(raw: unknown, what: string): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InputError(what, 'must be a JSON object');
  }
  return raw as Record<string, unknown>;
}
