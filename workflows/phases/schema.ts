// Owns the one declaration of each scenario's input: a zod schema (zod runs inside the workflow sandbox). From it
// come the TypeScript type (z.input / z.output), the validation the workflow runs first (parseInput), the CLI's
// flags and `--help` (client/cli.ts reads `inputFields`), and the README's input table (scripts/input-docs.ts).
//
// Conventions every scenario schema follows:
//   - an object schema built with `scenarioInput({...})`: unknown fields are refused, with a did-you-mean;
//   - every field has `.describe('...')` (the help text and the README column);
//   - `.meta({ flag: 'name' })` renames the CLI flag (default: the field's path in kebab case, `monitor.durationSeconds`
//     → `--monitor-duration-seconds`); `.meta({ cli: false })` keeps a field off the CLI and the docs (JSON input
//     only, or a field that exists only to be refused with a better message); `.meta({ format: 'json' })` reads the
//     flag's value as JSON, `format: 'approver:role'` as `APPROVER:ROLE`; `.meta({ value: 'NAME' })` names the value
//     in help; `.meta({ example: '...' })` is shown in help and docs;
//   - null counts as absent for an optional field (as it always has); a required field that is null is refused;
//   - domain checks reuse the validators of validation.ts through `checked(fn)`, so messages stay the same
//     ("invalid input: <field path>: <why>") whether a value came from the CLI, `temporal workflow start` or the UI;
//   - the fields most scenarios share come ready-made: whoFields (reason, requestedBy), hostInput(),
//     monitorInput(defaults), approvalInput(rollbackType); text(), line(), int(), bool(), oneOf() for the rest.
import { z } from 'zod';
import type { RollbackType } from '../../common/roles.ts';
import {
  InputError,
  MAX_WATCH_SAMPLES,
  onlyKnownFields,
  show,
  validateHost,
  validatePreApproval,
  type PreApproval,
  type WatchSettings,
} from './validation.ts';

export { z };

export interface FieldMeta {
  /** CLI flag name without the dashes; default: the field path in kebab case. */
  flag?: string;
  /** false: not a CLI flag and not in the docs (JSON input only). */
  cli?: boolean;
  /** How the CLI reads the flag's value when it is not a plain string, number or boolean. */
  format?: 'json' | 'approver:role';
  /** The value's name in help (`--container NAME`). */
  value?: string;
  /** The default, in words, when it depends on other fields (help and docs). */
  defaultText?: string;
  example?: string;
}

declare module 'zod' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- zod's documented way to type .meta()
  interface GlobalMeta extends FieldMeta {}
}

/** A strict object: an unknown field is refused (a typo would otherwise silently take the default). */
export function scenarioInput<T extends z.ZodRawShape>(shape: T) {
  return z.object(shape, { error: (i) => (i.code === 'invalid_type' ? 'must be a JSON object' : undefined) }).strict();
}

/**
 * A field checked by one of validation.ts's functions `(value, fieldPath) => parsed` (they throw InputError).
 * The field path is filled in by parseInput, so the message names the right field; an error on a sub-field
 * (`<field>.role`) keeps its sub-path. `I` is the input type the field accepts (for z.input).
 */
export function checked<T, I = T>(fn: (v: unknown, field: string) => T) {
  return z.unknown().transform((v, ctx) => {
    try {
      return fn(v, FIELD_PLACEHOLDER);
    } catch (err) {
      if (err instanceof InputError && err.field.startsWith(FIELD_PLACEHOLDER)) {
        const sub = err.field.slice(FIELD_PLACEHOLDER.length).split('.').filter(Boolean);
        ctx.addIssue({
          code: 'custom',
          message: err.message.slice(`invalid input: ${err.field}: `.length),
          path: sub,
          params: { sub: sub.length },
        });
        return z.NEVER;
      }
      throw err;
    }
  }) as unknown as z.ZodType<T, I>;
}
const FIELD_PLACEHOLDER = '\u0000field';

/** Free text (reason, comment): non-empty after trim, at most `max`, no control characters; trimmed. */
export function text(max = 500) {
  const required = (i: { input: unknown }) => `is required (a non-empty string), got ${show(i.input)}`;
  return z
    .string({ error: required })
    .refine((s) => s.trim() !== '', { error: required })
    .refine((s) => s.length <= max, {
      error: (i) => `is longer than ${max} characters (${String(i.input).length})`,
      abort: true,
    })
    .refine((s) => !CONTROL.test(s), { error: 'contains control characters', abort: true })
    .transform((s) => s.trim());
}
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex -- as above, plus line breaks
const CONTROL_OR_NEWLINE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** One line of text (a person, a role): like text(), and no line breaks. */
export function line(max = 200) {
  return text(max).refine((s) => !CONTROL_OR_NEWLINE.test(s), {
    error: 'must be a single line without control characters',
  });
}

/** An integer in [min, max]. */
export function int(min: number, max: number) {
  const error = (i: { input: unknown }) =>
    i.input === undefined ? 'is required' : `must be an integer from ${min} to ${max}, got ${show(i.input)}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

export function bool() {
  return z.boolean({ error: (i) => `must be true or false, got ${show(i.input)}` });
}

/** One of a few strings; `message` says which, e.g. "must be 'alias' or 'recreate'". */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T, message: string) {
  return z.enum(values, { error: (i) => `${message}, got ${show(i.input)}` });
}

/** The optional `monitor` object every rollback takes (30-minute watch by default). */
export function monitorInput(defaults: { durationSeconds: number; intervalSeconds: number; failureThreshold: number }) {
  return watchObject(durationField().default(defaults.durationSeconds), defaults)
    .superRefine((m, ctx) => checkWatch(m, ctx, []))
    .prefault({})
    .describe('health watch after the change');
}

/**
 * `monitor` for a scenario whose default watch length depends on other fields: durationSeconds stays undefined
 * when not given; the scenario fills it in and calls checkWatch itself.
 */
export function monitorInputLateDefault(
  defaults: { intervalSeconds: number; failureThreshold: number },
  defaultText: string,
) {
  return watchObject(durationField().optional().meta({ defaultText }), defaults)
    .prefault({})
    .describe('health watch after the change');
}

const durationField = () =>
  int(0, 7 * 86400)
    .describe('how long to watch health after the change (seconds; 0: no watch)')
    .meta({ flag: 'watch-seconds', value: 'S' });

function watchObject<D extends z.ZodType>(
  durationSeconds: D,
  d: { intervalSeconds: number; failureThreshold: number },
) {
  return scenarioInput({
    durationSeconds,
    intervalSeconds: int(1, 3600)
      .default(d.intervalSeconds)
      .describe('seconds between health samples')
      .meta({ flag: 'interval', value: 'S' }),
    failureThreshold: int(0, 1000)
      .default(d.failureThreshold)
      .describe('consecutive failed samples that end the watch as breached')
      .meta({ flag: 'failure-threshold', value: 'N' }),
  });
}

/** At most MAX_WATCH_SAMPLES samples, and an interval no longer than the watch. */
export function checkWatch(m: WatchSettings, ctx: z.RefinementCtx, at: string[]): void {
  if (m.durationSeconds / m.intervalSeconds > MAX_WATCH_SAMPLES) {
    ctx.addIssue({
      code: 'custom',
      path: [...at, 'intervalSeconds'],
      message: `${m.durationSeconds}s at ${m.intervalSeconds}s is more than ${MAX_WATCH_SAMPLES} samples; sample less often`,
    });
  } else if (m.durationSeconds > 0 && m.intervalSeconds > m.durationSeconds) {
    ctx.addIssue({
      code: 'custom',
      path: [...at, 'intervalSeconds'],
      message: `must not exceed monitor.durationSeconds (${m.durationSeconds})`,
    });
  }
}

/** The optional `approval` object: how long the gate waits, and a pre-approval by automation. */
export function approvalInput(_type: RollbackType) {
  return scenarioInput({
    timeoutSeconds: int(1, 7 * 86400)
      .default(3600)
      .describe(
        "how long the approval gate waits (seconds); under the approval policy it may only shorten the type's first window",
      )
      .meta({ flag: 'approval-timeout', value: 'S' }),
    preApproved: checked<PreApproval | undefined, PreApproval>((v, f) => validatePreApproval(v, f))
      .optional()
      .describe('the automation that approved, recorded as the approver (its role must be allowed to approve)')
      .meta({ flag: 'pre-approve', format: 'approver:role', value: 'APPROVER:ROLE' }),
    expectedImpactMinutes: int(1, 7 * 24 * 60)
      .optional()
      .describe(
        "expected impact in minutes; over the approval policy's threshold (1 hour) an engineering manager or higher must approve (default: the type's longest runbook duration)",
      )
      .meta({ flag: 'expected-impact', value: 'MIN' }),
  })
    .prefault({})
    .describe('the approval gate');
}

/** The optional `host`: run the host's steps on its worker (task queue cortex-rollback-host-<host>). */
export function hostInput() {
  return checked<string | undefined, string>((v, f) => validateHost(v, f))
    .optional()
    .describe("run the host's steps on its worker (task queue cortex-rollback-host-<host>)")
    .meta({ value: 'HOST' });
}

/**
 * `hostWaitSeconds`: with `host`, how long each step may wait in the host's task queue for its worker (per attempt:
 * Temporal's schedule-to-start timeout). A host gone longer fails the step, and what the run changed is undone once
 * the host is back (each undo waits as long); without it a step would wait for the host for ever.
 */
export function hostWaitInput() {
  return int(5, 7 * 86400)
    .default(900)
    .describe(
      "with host: how long each step may wait for the host's worker before it fails and the run undoes what it changed (seconds)",
    )
    .meta({ flag: 'host-wait', value: 'S' });
}

/** The reason and requester every approved rollback records (status, report). */
export const whoFields = {
  reason: text(2000).describe('why the rollback is needed (in the status and the report)').meta({ value: 'TEXT' }),
  requestedBy: line(200).describe('who asks for it (a person, or ci:<pipeline>)').meta({ value: 'WHO' }),
};

/** `searchAttributes`: upsert the Rollback* search attributes (the CLI sets it from CORTEX_SEARCH_ATTRIBUTES). */
export function searchAttributesInput() {
  return bool()
    .default(false)
    .describe('upsert the Rollback* search attributes (the CLI sets it from CORTEX_SEARCH_ATTRIBUTES)')
    .meta({ cli: false });
}

/** A field that exists only to be refused with `message` (e.g. a backup name given to a point-in-time recovery). */
export function refused(message: string) {
  return z
    .unknown()
    .refine(() => false, { error: message })
    .optional()
    .meta({ cli: false });
}

/**
 * Validates `raw` against a scenario schema; the first problem becomes an InputError naming the field path
 * (the workflow turns it into a non-retryable InvalidInput failure before any activity runs). An unknown field is
 * reported before anything else (with a did-you-mean), as the hand-written validators did.
 */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown, what = 'input'): z.output<S> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new InputError(what, 'must be a JSON object');
  const r = schema.safeParse(withoutNulls(schema, raw));
  if (r.success) return r.data;
  const issues = r.error.issues;
  // an unknown field in the object holding the first problem (or in one around it) is reported first
  const first = issues[0]!;
  const issue =
    issues
      .filter((i) => i.code === 'unrecognized_keys' && i.path.every((k, n) => first.path[n] === k))
      .sort((x, y) => x.path.length - y.path.length)[0] ?? first;
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    // Re-run the known-fields check for its did-you-mean message.
    const obj = issue.path.reduce<unknown>((o, k) => (o as Record<PropertyKey, unknown>)?.[k], raw);
    const known = Object.entries(shapeAt(schema, issue.path))
      .filter(([, f]) => !isRefused(f))
      .map(([k]) => k);
    onlyKnownFields(obj as Record<string, unknown>, known, path === '' ? '' : `${path}.`);
  }
  const sub = (issue as { params?: { sub?: number } }).params?.sub ?? 0;
  const base = issue.path
    .slice(0, issue.path.length - sub)
    .map(String)
    .join('.');
  const message = issue.message.startsWith('Invalid input') ? `is missing or has the wrong type` : issue.message;
  throw new InputError(path === '' ? what : path, message.replaceAll(FIELD_PLACEHOLDER, base));
}

/** null in an optional field means absent (fields nested in objects the schema describes are cleaned too). */
function withoutNulls(schema: z.ZodType, raw: unknown): unknown {
  const shape = shapeAt(schema, []);
  if (Object.keys(shape).length === 0 || typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    const f = shape[k];
    if (v === null && f && f.safeParse(undefined).success) continue;
    out[k] = f ? withoutNulls(f, v) : v;
  }
  return out;
}

/** The object shape at `path` inside a schema (unwrapping optional/default/pipe wrappers). */
export function shapeAt(schema: z.ZodType, path: readonly PropertyKey[]): Record<string, z.ZodType> {
  let s: z.ZodType = schema;
  for (let i = 0; ; i++) {
    s = unwrap(s);
    const shape = (s as unknown as { shape?: Record<string, z.ZodType> }).shape;
    if (!shape) return {};
    if (i === path.length) return shape;
    s = shape[String(path[i])] ?? z.never();
  }
}

/** Strips optional/nullable/default/prefault/pipe wrappers down to the schema that holds the shape or type. */
export function unwrap(s: z.ZodType): z.ZodType {
  let cur = s as unknown as { def: { type: string; innerType?: z.ZodType; in?: z.ZodType } };
  for (let n = 0; n < 20; n++) {
    const d = cur.def;
    if (d.innerType) cur = d.innerType;
    else if (d.type === 'pipe' && d.in && (d.in as unknown as { def: { type: string } }).def.type !== 'unknown')
      cur = d.in;
    else break;
  }
  return cur as unknown as z.ZodType;
}

/** The metadata and description of a field, merged over its wrappers (outermost wins). */
export function fieldMeta(s: z.ZodType): FieldMeta & { description?: string } {
  const layers: z.ZodType[] = [];
  let cur = s as unknown as { def: { type: string; innerType?: z.ZodType; in?: z.ZodType } };
  for (let n = 0; n < 20; n++) {
    layers.push(cur as unknown as z.ZodType);
    const d = cur.def;
    if (d.innerType) cur = d.innerType;
    else if (d.type === 'pipe' && d.in) cur = d.in;
    else break;
  }
  return Object.assign({}, ...layers.reverse().map((l) => z.globalRegistry.get(l) ?? {})) as FieldMeta & {
    description?: string;
  };
}

function isRefused(s: z.ZodType): boolean {
  return unwrap(s).def.type === 'unknown' && fieldMeta(s).cli === false;
}

/** One leaf of a scenario's input, as the CLI and the docs see it. */
export interface InputField {
  /** Path in the input object, e.g. ['monitor', 'durationSeconds']. */
  path: string[];
  flag: string;
  /** 'list': an array of strings; the CLI flag is repeated, once per element. */
  kind: 'string' | 'integer' | 'boolean' | 'enum' | 'json' | 'approver:role' | 'list';
  values?: string[];
  /** Required when its enclosing objects are given (and they are required, or one of their flags is given). */
  required: boolean;
  /** Required at top level: the CLI refuses a start without it. */
  alwaysRequired: boolean;
  default?: unknown;
  description: string;
  value: string;
  example?: string;
}

/** The leaves of a scenario schema: nested objects are flattened (`monitor.durationSeconds`). */
export function inputFields(schema: z.ZodType): InputField[] {
  const out: InputField[] = [];
  const walk = (shape: Record<string, z.ZodType>, prefix: string[], parentsRequired: boolean) => {
    for (const [k, f] of Object.entries(shape)) {
      const meta = fieldMeta(f);
      if (meta.cli === false) continue;
      const path = [...prefix, k];
      const optional = f.safeParse(undefined).success || isOptional(f);
      const inner = unwrap(f);
      const nested = (inner as unknown as { shape?: Record<string, z.ZodType> }).shape;
      if (nested && !meta.format) {
        walk(nested, path, parentsRequired && !optional);
        continue;
      }
      const type = inner.def.type;
      const kind: InputField['kind'] =
        meta.format ??
        (type === 'boolean'
          ? 'boolean'
          : type === 'number'
            ? 'integer'
            : type === 'enum'
              ? 'enum'
              : type === 'array'
                ? 'list'
                : 'string');
      const values = kind === 'enum' ? (inner as unknown as { options: string[] }).options : undefined;
      const def = meta.defaultText ?? defaultOf(f);
      out.push({
        path,
        flag: meta.flag ?? path.map(kebab).join('-'),
        kind,
        ...(values ? { values } : {}),
        required: !optional,
        alwaysRequired: !optional && parentsRequired,
        ...(def !== undefined ? { default: def } : {}),
        description: meta.description ?? '',
        value:
          meta.value ??
          (kind === 'integer' ? 'N' : kind === 'enum' ? values!.join('|') : kind === 'json' ? 'JSON' : 'VALUE'),
        ...(meta.example ? { example: meta.example } : {}),
      });
    }
  };
  walk(shapeAt(schema, []), [], true);
  return out;
}

function isOptional(s: z.ZodType): boolean {
  return (s as unknown as { _zod: { optin?: string } })._zod.optin === 'optional';
}

interface Wrapper {
  def: { type: string; innerType?: Wrapper; defaultValue?: unknown };
}

function defaultOf(s: z.ZodType): unknown {
  let cur: Wrapper | undefined = s;
  for (let n = 0; n < 20 && cur; n++) {
    if (cur.def.type === 'default') return cur.def.defaultValue;
    cur = cur.def.innerType;
  }
  return undefined;
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
