// Owns the double's view of Qdrant's OpenAPI 3.0 spec (read-only input): converts its schemas to JSON Schema for ajv,
// matches method + path to an operation, and validates query strings, JSON request bodies and JSON responses.
// Invariants: every check is against the spec file only (never against the double's own idea of the API); validators
// are compiled lazily and cached, so a schema is compiled at most once per spec instance.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { PROJECT_ROOT } from '../../common/tools.ts';

export function defaultSpecPath(): string {
  return process.env.QDRANT_OPENAPI ?? join(PROJECT_ROOT, '..', 'shared', 'qdrant', 'openapi.json');
}

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: unknown;
}
interface MediaTypes {
  content?: Record<string, { schema?: unknown }>;
}
export interface Operation {
  operationId: string;
  parameters?: Parameter[];
  requestBody?: MediaTypes;
  responses: Record<string, MediaTypes>;
}
interface Route {
  regex: RegExp;
  names: string[];
  literals: number;
  methods: Record<string, Operation>;
}
export interface MatchedOperation {
  op: Operation;
  params: Record<string, string>;
}
/** A request the real server would refuse before running it: status 400 (deserialize) or 422 (validate). */
export interface Rejection {
  status: 400 | 422;
  message: string;
}

const SPEC_ID = 'https://qdrant.double/openapi.json';
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch'];

// OpenAPI 3.0 -> JSON Schema: `nullable` becomes a null type, oneOf becomes anyOf (serde's untagged enums take the
// first variant that fits, so overlapping variants are not an error), refs point into the registered spec document.
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const src = node as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(src)) {
    if (['example', 'examples', 'nullable', 'deprecated', 'default', 'description'].includes(k)) continue;
    if (k === 'format' && v === 'binary') continue;
    if (k === '$ref' && typeof v === 'string') out.$ref = v.startsWith('#/') ? SPEC_ID + v : v;
    else if (k === 'oneOf') out.anyOf = toJsonSchema(v);
    else if (k === 'properties' && v && typeof v === 'object')
      out.properties = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, toJsonSchema(s)]));
    else if (k === 'enum' || k === 'required') out[k] = v;
    else out[k] = toJsonSchema(v);
  }
  if (src.nullable !== true) return out;
  if (typeof out.type === 'string') {
    out.type = [out.type, 'null'];
    if (Array.isArray(out.enum)) out.enum = [...(out.enum as unknown[]), null];
    return out;
  }
  return Object.keys(out).length === 0 ? { type: 'null' } : { anyOf: [{ type: 'null' }, out] };
}

const UUID_RE = /^(urn:uuid:)?\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$/i;
const DATE_TIME_RE = /^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?)?(Z|[+-]\d\d(:?\d\d)?)?$/i;

function addFormats(ajv: Ajv): void {
  const numeric = (validate: (n: number) => boolean) => ({ type: 'number' as const, validate });
  ajv.addFormat(
    'float',
    numeric(() => true),
  );
  ajv.addFormat(
    'double',
    numeric(() => true),
  );
  ajv.addFormat(
    'int64',
    numeric((n) => Number.isInteger(n)),
  );
  ajv.addFormat(
    'uint',
    numeric((n) => Number.isInteger(n) && n >= 0),
  );
  ajv.addFormat(
    'uint64',
    numeric((n) => Number.isInteger(n) && n >= 0),
  );
  ajv.addFormat(
    'uint32',
    numeric((n) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff),
  );
  ajv.addFormat(
    'uint8',
    numeric((n) => Number.isInteger(n) && n >= 0 && n <= 255),
  );
  ajv.addFormat('uuid', { type: 'string', validate: (s: string) => UUID_RE.test(s) });
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => DATE_TIME_RE.test(s) });
  ajv.addFormat('partial-date-time', {
    type: 'string',
    validate: (s: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?$/.test(s),
  });
  ajv.addFormat('uri', {
    type: 'string',
    validate: (s: string) => {
      try {
        new URL(s);
        return true;
      } catch {
        return false;
      }
    },
  });
}

const RANGE_KEYWORDS = new Set([
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
]);

// Real Qdrant answers 400 when serde cannot deserialize (wrong type, unknown variant, negative unsigned) and 422 when
// the `validator` crate rejects a well-typed value (e.g. limit 0); `minimum: 0` only ever comes from unsigned types.
function rejection(where: string, errors: ErrorObject[]): Rejection {
  const leaves = errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'if');
  const semantic = leaves.every(
    (e) => RANGE_KEYWORDS.has(e.keyword) && !(e.keyword === 'minimum' && e.params.limit === 0),
  );
  const text = leaves
    .slice(0, 3)
    .map((e) => `${e.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(root)'}: ${e.message ?? e.keyword}`)
    .join('; ');
  return semantic && leaves.length > 0
    ? { status: 422, message: `Validation error in ${where}: [${text}]` }
    : { status: 400, message: `${where === 'JSON body' ? 'Format error' : 'Deserialize error'} in ${where}: ${text}` };
}

export class OpenApiSpec {
  private readonly routes: Route[] = [];
  private readonly ajv = new Ajv({ strict: false, allErrors: false, allowUnionTypes: true });
  private readonly coercingAjv = new Ajv({ strict: false, allErrors: false, allowUnionTypes: true, coerceTypes: true });
  private readonly cache = new Map<string, ValidateFunction | null>();

  constructor(specPath = defaultSpecPath()) {
    let text: string;
    try {
      text = readFileSync(specPath, 'utf8');
    } catch (err) {
      throw new Error(
        `Qdrant's OpenAPI spec is not at ${specPath} (expected the shared/ folder beside this repository); ` +
          `set QDRANT_OPENAPI to its path: ${(err as Error).message}`,
      );
    }
    const spec = JSON.parse(text) as {
      paths: Record<string, Record<string, Operation>>;
      components: { schemas: Record<string, unknown> };
    };
    const doc = { $id: SPEC_ID, components: { schemas: toJsonSchema(spec.components.schemas) } };
    for (const ajv of [this.ajv, this.coercingAjv]) {
      addFormats(ajv);
      ajv.addSchema(doc);
    }
    for (const [template, item] of Object.entries(spec.paths)) {
      const names: string[] = [];
      const source = template
        .split('/')
        .map((seg) => {
          const m = /^\{(.+)\}$/.exec(seg);
          if (!m?.[1]) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          names.push(m[1]);
          return '([^/]+)';
        })
        .join('/');
      const methods = Object.fromEntries(Object.entries(item).filter(([m]) => HTTP_METHODS.includes(m)));
      this.routes.push({
        regex: new RegExp(`^${source}$`),
        names,
        literals: template.split('/').length - names.length,
        methods,
      });
    }
    // Literal segments win over templated ones (`/collections/aliases` vs `/collections/{collection_name}`).
    this.routes.sort((a, b) => b.literals - a.literals);
  }

  match(method: string, pathname: string): MatchedOperation | undefined {
    for (const route of this.routes) {
      const op = route.methods[method.toLowerCase()];
      const m = op && route.regex.exec(pathname);
      if (!op || !m) continue;
      try {
        const params = Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(m[i + 1] ?? '')]));
        return { op, params };
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  private validator(key: string, schema: unknown, coerce = false): ValidateFunction | null {
    if (!this.cache.has(key)) {
      this.cache.set(
        key,
        schema === undefined ? null : (coerce ? this.coercingAjv : this.ajv).compile(toJsonSchema(schema) as object),
      );
    }
    return this.cache.get(key) ?? null;
  }

  /** Coerces query or path values to their declared types (as serde_urlencoded would) and validates them. */
  validateParams(
    m: MatchedOperation,
    where: 'query' | 'path',
    values: Map<string, string>,
  ): { values: Record<string, unknown> } | Rejection {
    const declared = (m.op.parameters ?? []).filter((p) => p.in === where);
    const out: Record<string, unknown> = {};
    for (const p of declared) {
      const value = values.get(p.name);
      if (value !== undefined) out[p.name] = value;
    }
    const schema = {
      type: 'object',
      properties: Object.fromEntries(declared.map((p) => [p.name, p.schema ?? {}])),
      required: declared.filter((p) => p.required).map((p) => p.name),
    };
    const validate = this.validator(`${m.op.operationId} ${where}`, schema, true);
    if (validate && !validate(out)) return rejection(`${where} parameters`, validate.errors ?? []);
    return { values: out };
  }

  requestContentTypes(m: MatchedOperation): string[] {
    return Object.keys(m.op.requestBody?.content ?? {});
  }

  validateBody(m: MatchedOperation, body: unknown): Rejection | null {
    const schema = m.op.requestBody?.content?.['application/json']?.schema;
    const validate = this.validator(`${m.op.operationId} body`, schema);
    if (validate && !validate(body)) return rejection('JSON body', validate.errors ?? []);
    return null;
  }

  /** Returns a description of how `body` breaks the spec's schema for this status, or null if it conforms. */
  validateResponse(m: MatchedOperation | undefined, status: number, body: unknown): string | null {
    const responses = m?.op.responses ?? {};
    const key = [String(status), `${String(status)[0]}XX`, 'default'].find((k) => responses[k]);
    const schema = key
      ? responses[key]?.content?.['application/json']?.schema
      : { $ref: '#/components/schemas/ErrorResponse' };
    if (key && !schema) return null; // e.g. `4XX` of /healthz: the spec declares no body to check against
    const validate = this.validator(`${m?.op.operationId ?? '-'} response ${key ?? 'error'}`, schema);
    if (!validate || validate(body)) return null;
    return (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? e.keyword}`).join('; ');
  }
}
