// Owns the one declaration of each scenario's input: a zod schema (zod runs inside the workflow sandbox). From it
// come the TypeScript type (z.input / z.output), the validation the workflow runs first (parseInput), the CLI's
// flags and `--help` (client/cli.ts reads `cliFlags`), and the README's input table (scripts/input-docs.ts).
//
// Conventions every scenario schema follows:
//   - an object schema built with `scenarioInput({...})`: unknown fields are refused, with a did-you-mean;
//   - every field has `.describe('...')` (the help text and the README column);
//   - `.meta({ flag: 'name' })` renames the CLI flag (default: the field's path in kebab case, `monitor.durationSeconds`
//     → `--monitor-duration-seconds`); `.meta({ cli: false })` keeps a field off the CLI (JSON input only);
//     `.meta({ example: '...' })` is shown in help and docs;
//   - domain checks reuse the validators of validation.ts through `checked(fn)`, so messages stay the same
//     ("invalid input: <field path>: <why>") whether a value came from the CLI, `temporal workflow start` or the UI.
import { z } from 'zod';
import { InputError, MAX_WATCH_SAMPLES, onlyKnownFields, show } from './validation.ts';

export { z };

export interface FieldMeta {
  /** CLI flag name without the dashes; default: the field path in kebab case. */
  flag?: string;
  /** false: JSON input only (nested lists, objects the CLI has no flag shape for). */
  cli?: boolean;
  example?: string;
}

/** A strict object: an unknown field is refused (a typo would otherwise silently take the default). */
export function scenarioInput<T extends z.ZodRawShape>(shape: T) {
  return z.object(shape).strict();
}

/**
 * A field checked by one of validation.ts's functions `(value, fieldPath) => parsed` (they throw InputError).
 * The field path is filled in by parseInput, so the message names the right field.
 */
export function checked<T>(fn: (v: unknown, field: string) => T) {
  return z.unknown().transform((v, ctx) => {
    try {
      return fn(v, FIELD_PLACEHOLDER);
    } catch (err) {
      if (err instanceof InputError) {
        ctx.addIssue({ code: 'custom', message: err.message.slice(`invalid input: ${FIELD_PLACEHOLDER}: `.length) });
        return z.NEVER;
      }
      throw err;
    }
  }) as unknown as z.ZodType<T, unknown>;
}
const FIELD_PLACEHOLDER = '\u0000field';

/** Free text (reason, comment): non-empty after trim, at most `max`, no control characters; trimmed. */
export function text(max = 500) {
  return z
    .string({ error: (i) => `is required (a non-empty string), got ${show(i.input)}` })
    .refine((s) => s.trim() !== '', { error: (i) => `is required (a non-empty string), got ${show(i.input)}` })
    .refine((s) => s.length <= max, { error: (i) => `is longer than ${max} characters (${String(i.input).length})` })
    .refine((s) => !CONTROL.test(s), { error: 'contains control characters' })
    .transform((s) => s.trim());
}
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/** An integer in [min, max]. */
export function int(min: number, max: number) {
  return z
    .number({ error: (i) => `must be an integer from ${min} to ${max}, got ${show(i.input)}` })
    .int({ error: (i) => `must be an integer from ${min} to ${max}, got ${show(i.input)}` })
    .min(min, { error: (i) => `must be an integer from ${min} to ${max}, got ${show(i.input)}` })
    .max(max, { error: (i) => `must be an integer from ${min} to ${max}, got ${show(i.input)}` });
}

/** The optional `monitor` object every rollback takes (30-minute watch by default). */
export function monitorInput(defaults: { durationSeconds: number; intervalSeconds: number; failureThreshold: number }) {
  return scenarioInput({
    durationSeconds: int(0, 7 * 86400)
      .default(defaults.durationSeconds)
      .describe('how long to watch health after the change (seconds; 0: no watch)'),
    intervalSeconds: int(1, 3600).default(defaults.intervalSeconds).describe('seconds between health samples'),
    failureThreshold: int(0, 1000)
      .default(defaults.failureThreshold)
      .describe('consecutive failed samples that end the watch as breached'),
  })
    .superRefine((m, ctx) => {
      if (m.durationSeconds / m.intervalSeconds > MAX_WATCH_SAMPLES) {
        ctx.addIssue({
          code: 'custom',
          path: ['intervalSeconds'],
          message: `${m.durationSeconds}s at ${m.intervalSeconds}s is more than ${MAX_WATCH_SAMPLES} samples; sample less often`,
        });
      } else if (m.durationSeconds > 0 && m.intervalSeconds > m.durationSeconds) {
        ctx.addIssue({
          code: 'custom',
          path: ['intervalSeconds'],
          message: `must not exceed monitor.durationSeconds (${m.durationSeconds})`,
        });
      }
    })
    .prefault({})
    .describe('health watch after the change');
}

/**
 * Validates `raw` against a scenario schema; the first problem becomes an InputError naming the field path
 * (the workflow turns it into a non-retryable InvalidInput failure before any activity runs).
 */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown, what = 'input'): z.output<S> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new InputError(what, 'must be a JSON object');
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  // a typo first: "unknown field 'targetTga' (did you mean 'targetTag'?)" says more than "targetTag is missing"
  const issue = r.error.issues.find((i) => i.code === 'unrecognized_keys') ?? r.error.issues[0]!;
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    // Re-run the known-fields check for its did-you-mean message.
    const obj = path === '' ? raw : issue.path.reduce<unknown>((o, k) => (o as Record<PropertyKey, unknown>)?.[k], raw);
    const known = Object.keys(shapeAt(schema, issue.path));
    onlyKnownFields(obj as Record<string, unknown>, known, path === '' ? '' : `${path}.`);
  }
  const message = issue.message.startsWith('Invalid input') ? `is missing or has the wrong type` : issue.message;
  throw new InputError(path === '' ? what : path, message.replaceAll(FIELD_PLACEHOLDER, path));
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
    else if (d.type === 'pipe' && d.in) cur = d.in;
    else break;
  }
  return cur as unknown as z.ZodType;
}
