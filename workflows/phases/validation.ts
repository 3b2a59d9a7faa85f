// Owns the domain validators behind the scenario input schemas (schema.ts calls them through checked()): names,
// images, URLs, hosts, roles, free text, known fields with a did-you-mean. They run in the workflow (first thing,
// before any activity) and in the CLI (before a start is even sent), so bad input is refused with a message naming
// the field and nothing changes. Pure and deterministic.
import { isValidHostName } from '../../common/config.ts';
import { isValidBackupName, isValidCollectionName } from '../../common/names.ts';
import { roleIdRefusal } from '../../common/roles.ts';

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
const HTTP_URL = /^https?:\/\/([^\s/?#]+)(?:[/?#]\S*)?$/;

/** A value for an error message: JSON (so newlines and quotes stay visible), cut to 80 characters. */
export function show(v: unknown): string {
  const j = JSON.stringify(v) ?? String(v);
  return j.length > 80 ? `${j.slice(0, 77)}...(${j.length} chars)` : j;
}

// C0 controls (except tab, LF, CR), DEL and C1 controls: never meaningful in free text, often an injection.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex -- as above, plus line breaks
const CONTROL_OR_NEWLINE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Free text (reason, comment): non-empty, at most `max` characters, line breaks allowed; trimmed. */
export function requireString(obj: Record<string, unknown>, field: string, max = 500, path = field): string {
  const v = obj[field];
  if (typeof v !== 'string' || v.trim() === '') {
    throw new InputError(path, `is required (a non-empty string), got ${show(v)}`);
  }
  if (v.length > max) throw new InputError(path, `is longer than ${max} characters (${v.length})`);
  if (CONTROL.test(v)) throw new InputError(path, 'contains control characters');
  return v.trim();
}

/** One line of text (a person, a role): like requireString, and no line breaks. */
export function requireLine(obj: Record<string, unknown>, field: string, max = 200, path = field): string {
  const v = requireString(obj, field, max, path);
  if (CONTROL_OR_NEWLINE.test(v)) throw new InputError(path, 'must be a single line without control characters');
  return v;
}

/** Optimal string alignment distance: a typo (one transposed, missing, extra or wrong letter) is 1. */
function typoDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * Refuses fields the workflow does not know: a typo such as `contianerName` or `stopTimeoutSecond` would
 * otherwise be ignored and the default used. `path` prefixes nested objects ('monitor.').
 */
export function onlyKnownFields(obj: Record<string, unknown>, known: readonly string[], path = ''): void {
  for (const k of Object.keys(obj)) {
    if (known.includes(k)) continue;
    const near = k.length <= 64 ? known.find((n) => typoDistance(n.toLowerCase(), k.toLowerCase()) <= 2) : undefined;
    throw new InputError(
      `${path}${k.length > 80 ? `${k.slice(0, 77)}...` : k}`,
      `is not a known field${near ? ` (did you mean '${path}${near}'?)` : ''}; known: ${known.join(', ')}`,
    );
  }
}

/** A string field checked exactly as given (no trimming: "web\n" is refused, not read as "web"). */
function exact(v: unknown, field: string, max: number): string {
  if (typeof v !== 'string' || v === '')
    throw new InputError(field, `is required (a non-empty string), got ${show(v)}`);
  if (v.length > max) throw new InputError(field, `is longer than ${max} characters (${v.length})`);
  return v;
}

export function validateContainerName(name: unknown, field = 'containerName'): string {
  const v = exact(name, field, 100);
  if (!CONTAINER_NAME.test(v)) {
    throw new InputError(field, `${show(v)} is not a valid container name ([a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 100)`);
  }
  return v;
}

export function validateCollectionName(name: unknown, field = 'collection'): string {
  const v = exact(name, field, 255);
  if (!isValidCollectionName(v)) {
    throw new InputError(
      field,
      `${show(v)} is not a valid collection name (letters, digits, '_', '.', '-', starting with a letter or digit, no '..' and no '/')`,
    );
  }
  return v;
}

export function validateBackupName(name: unknown, field: string): string {
  const v = exact(name, field, 200);
  if (!isValidBackupName(v)) {
    throw new InputError(
      field,
      `${show(v)} is not a valid backup name (letters, digits, '_', '.', '-', starting with a letter or digit, no '..' and no '/')`,
    );
  }
  return v;
}

export function validateImageRef(ref: unknown, field = 'targetImage'): string {
  const v = exact(ref, field, 300);
  const m = IMAGE_REF.exec(v);
  if (!m) throw new InputError(field, `${show(v)} is not a valid image reference (name:tag or name@sha256:digest)`);
  if (m[1] === undefined && m[2] === undefined) {
    throw new InputError(field, `${show(v)} has no tag or digest: name the exact version to roll back to`);
  }
  if (m[1] === 'latest') throw new InputError(field, `${show(v)} uses the moving tag 'latest': name an exact version`);
  return v;
}

export function validateHttpUrl(url: unknown, field: string): string {
  const v = exact(url, field, 2000);
  const m = HTTP_URL.exec(v);
  if (!m || CONTROL_OR_NEWLINE.test(v)) throw new InputError(field, `${show(v)} is not an http(s) URL`);
  if (m[1]!.includes('@')) throw new InputError(field, 'must not carry credentials (they would be stored in history)');
  const port = /:(\d+)$/.exec(m[1]!)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    throw new InputError(field, `port ${port} is out of range (1-65535)`);
  }
  return v;
}

/** A path on the worker's host: absolute, one line, at most 4096 characters. */
export function validateAbsolutePath(v: unknown, field: string): string {
  if (typeof v !== 'string' || v === '') throw new InputError(field, `is required (an absolute path), got ${show(v)}`);
  if (!v.startsWith('/') || v.length > 4096 || CONTROL_OR_NEWLINE.test(v))
    throw new InputError(field, `${show(v)} is not an absolute path`);
  return v;
}

export function validateHost(host: unknown, field = 'host'): string | undefined {
  if (host === undefined || host === null || host === '') return undefined;
  if (typeof host !== 'string' || !isValidHostName(host)) {
    throw new InputError(field, `${show(host)} is not a valid host name`);
  }
  return host;
}

export interface PreApproval {
  approver: string;
  role: string;
  comment?: string;
}

/** A pre-approval's shape (who, a role id, a comment): whether it counts is the gate's call under the policy. */
export function validatePreApproval(raw: unknown, field: string): PreApproval | undefined {
  if (raw === undefined || raw === null) return undefined;
  const o = asObject(raw, field);
  onlyKnownFields(o, ['approver', 'role', 'comment'], `${field}.`);
  const approver = requireLine(o, 'approver', 200, `${field}.approver`);
  const role = requireLine(o, 'role', 100, `${field}.role`);
  // any well-formed role id: whether it may approve this type is the loaded approval policy's decision (the gate)
  const refusal = roleIdRefusal(role);
  if (refusal) throw new InputError(`${field}.role`, refusal);
  const comment =
    o.comment === undefined || o.comment === '' ? undefined : requireString(o, 'comment', 2000, `${field}.comment`);
  return { approver, role, ...(comment ? { comment } : {}) };
}

export function asObject(raw: unknown, what: string): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InputError(what, 'must be a JSON object');
  }
  return raw as Record<string, unknown>;
}

/** Keeps a watch's history far below Temporal's per-workflow event limit (about 11 events a sample at worst). */
export const MAX_WATCH_SAMPLES = 2000;

export interface WatchSettings {
  durationSeconds: number;
  intervalSeconds: number;
  failureThreshold: number;
}
