// Owns point-level semantics of the double: id normalisation and ordering, parsing vectors against a collection's
// vector params, payload filters, payload/vector selection for output, and similarity scoring.
// Invariants: stored vectors are Float32Array (Qdrant stores f32) and Cosine vectors are stored normalised, as Qdrant
// does; numbers leave the double in their shortest f32 spelling, so values read back equal what real Qdrant returns.
import { badInput, notFound, QdrantError, unsupported } from './errors.ts';

export type PointId = number | string;
export type Payload = Record<string, unknown>;
export type Distance = 'Cosine' | 'Euclid' | 'Dot' | 'Manhattan';
export interface VectorParams {
  size: number;
  distance: Distance;
  [k: string]: unknown;
}
/** A sparse vector as Qdrant takes and returns it; values are kept as f32. */
export interface SparseVector {
  indices: number[];
  values: number[];
}
/** Stored point; never mutated once stored (updates replace the object). '' is the unnamed default vector. */
export interface Point {
  id: PointId;
  version: number;
  vectors: Record<string, Float32Array>;
  /** Sparse vectors by name (the collection's `sparse_vectors`). */
  sparse?: Record<string, SparseVector>;
  payload: Payload;
}
type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function normalizeId(id: unknown): PointId {
  if (typeof id === 'number') return id;
  const hex = String(id)
    .toLowerCase()
    .replace(/^urn:uuid:/, '')
    .replace(/[{}-]/g, '');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// Qdrant orders numeric ids before UUIDs; lowercase hyphenated UUID strings sort like their 128-bit values.
export function compareIds(a: PointId, b: PointId): number {
  if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

const POW10 = [
  1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
  1e21, 1e22,
];

function f32Slow(target: number): number {
  let lo = 1;
  let hi = 9;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (Math.fround(Number(target.toPrecision(mid))) === target) hi = mid;
    else lo = mid + 1;
  }
  return Number(target.toPrecision(lo));
}

// The nearest p-digit decimal to `a` is m / 10^k; with m and 10^k exact doubles the division is correctly rounded, so
// it equals parsing that decimal. Returns it if it reads back as the same f32, else NaN (or -1 if out of table).
function nearestDecimal(a: number, e10: number, p: number): number {
  const k = p - 1 - e10;
  const scale = POW10[Math.abs(k)];
  if (scale === undefined) return -1;
  const m = Math.round(k >= 0 ? a * scale : a / scale);
  const v = k >= 0 ? m / scale : m * scale;
  return Math.fround(v) === a ? v : NaN;
}

/** Shortest decimal that reads back as the same f32, i.e. how serde_json (ryu) prints an f32. */
export function f32(x: number): number {
  const target = Math.fround(x);
  if (target === 0 || !Number.isFinite(target) || (Number.isInteger(target) && Math.abs(target) < 2 ** 24))
    return target;
  const a = Math.abs(target);
  const e10 = Math.floor(Math.log10(a));
  // Round-tripping is monotone in p; most f32 values from real embeddings need 8 or 9 digits, so probe 8 first.
  let best = nearestDecimal(a, e10, 8);
  if (best === -1) return f32Slow(target);
  if (Number.isNaN(best)) best = nearestDecimal(a, e10, 9);
  else {
    let lo = 1;
    let hi = 8;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const v = nearestDecimal(a, e10, mid);
      if (v === -1) return f32Slow(target);
      if (Number.isNaN(v)) lo = mid + 1;
      else [hi, best] = [mid, v];
    }
  }
  if (!(best >= 0)) return f32Slow(target);
  return target < 0 ? -best : best;
}

export function vectorSpecs(vectors: unknown): Map<string, VectorParams> {
  if (isObj(vectors) && typeof vectors.size === 'number' && typeof vectors.distance === 'string') {
    return new Map([['', vectors as VectorParams]]);
  }
  return new Map(Object.entries(isObj(vectors) ? (vectors as Record<string, VectorParams>) : {}));
}

function toStored(spec: VectorParams | undefined, name: string, values: unknown): Float32Array {
  if (!spec) throw badInput(`Not existing vector name error: ${name}`);
  if (!Array.isArray(values) || values.some((x) => typeof x !== 'number')) {
    throw unsupported(`vector "${name}" that is not a dense vector (sparse, multi-vector or inference input)`);
  }
  if (values.length !== spec.size) {
    throw badInput(`Vector dimension error: expected dim: ${spec.size}, got ${values.length}`);
  }
  const v = Float32Array.from(values as number[]);
  if (spec.distance === 'Cosine') {
    let norm = 0;
    for (const x of v) norm += x * x;
    norm = Math.sqrt(norm);
    if (norm > 0) for (let i = 0; i < v.length; i++) v[i] = (v[i] ?? 0) / norm;
  }
  return v;
}

/** Parses a VectorStruct (plain list = default vector, object = named vectors) into stored dense vectors; names in
 * `sparseNames` are left to parseSparse. */
export function parseVectors(
  specs: Map<string, VectorParams>,
  vector: unknown,
  sparseNames: ReadonlySet<string> = new Set(),
): Record<string, Float32Array> {
  if (Array.isArray(vector)) return { '': toStored(specs.get(''), '', vector) };
  if (!isObj(vector)) throw unsupported('inference objects (Document/Image) as vectors');
  const out: Record<string, Float32Array> = {};
  for (const [name, values] of Object.entries(vector)) {
    if (!sparseNames.has(name)) out[name] = toStored(specs.get(name), name, values);
  }
  return out;
}

/** The sparse vectors of a VectorStruct, validated as Qdrant does (same lengths, unique indices). */
export function parseSparse(
  sparseNames: ReadonlySet<string>,
  vector: unknown,
): Record<string, SparseVector> | undefined {
  if (!isObj(vector)) return undefined;
  const out: Record<string, SparseVector> = {};
  for (const [name, v] of Object.entries(vector)) {
    if (!sparseNames.has(name)) continue;
    if (!isObj(v) || !Array.isArray(v.indices) || !Array.isArray(v.values)) {
      throw badInput(`Conversion between sparse and regular vectors failed`);
    }
    const { indices, values } = v as { indices: number[]; values: number[] };
    if (indices.length !== values.length) {
      throw new QdrantError(
        422,
        `Validation error in JSON body: [${name}: indices and values must have the same length]`,
      );
    }
    if (new Set(indices).size !== indices.length) {
      throw new QdrantError(422, `Validation error in JSON body: [${name}: indices must be unique]`);
    }
    out[name] = { indices: [...indices], values: values.map((x) => Math.fround(x)) };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** A query vector for `using`, normalised like stored vectors so Cosine becomes a dot product. */
export function parseQueryVector(specs: Map<string, VectorParams>, using: string, values: unknown): Float32Array {
  return toStored(specs.get(using), using, values);
}

export function similarity(distance: Distance, q: Float32Array, v: Float32Array): number {
  let acc = 0;
  if (distance === 'Cosine' || distance === 'Dot') for (let i = 0; i < q.length; i++) acc += (q[i] ?? 0) * (v[i] ?? 0);
  else if (distance === 'Euclid') {
    for (let i = 0; i < q.length; i++) acc += ((q[i] ?? 0) - (v[i] ?? 0)) ** 2;
    acc = Math.sqrt(acc);
  } else for (let i = 0; i < q.length; i++) acc += Math.abs((q[i] ?? 0) - (v[i] ?? 0));
  return acc;
}

export const higherIsBetter = (d: Distance): boolean => d === 'Cosine' || d === 'Dot';

/** Values at a payload path such as `a.b`, `a[].b` or `a[0]`; arrays are flattened as Qdrant does. */
export function payloadValues(payload: unknown, key: string): unknown[] {
  let current: unknown[] = [payload];
  for (const part of key.split('.')) {
    const m = /^(.*?)((?:\[\d*\])*)$/.exec(part);
    const name = m?.[1] ?? part;
    const next: unknown[] = [];
    for (const c of current.flatMap((x): unknown[] => (Array.isArray(x) ? x : [x]))) {
      if (isObj(c) && name in c) next.push(c[name]);
    }
    current = next;
    for (const idx of (m?.[2] ?? '').match(/\[\d*\]/g) ?? []) {
      const i = idx.slice(1, -1);
      current = current.flatMap((x): unknown[] => (Array.isArray(x) ? (i === '' ? x : x.slice(+i, +i + 1)) : []));
    }
  }
  return current.flatMap((x) => (Array.isArray(x) ? (x as unknown[]) : [x]));
}

interface Subject {
  id?: PointId;
  payload: unknown;
  vectors?: Record<string, Float32Array>;
  sparse?: Record<string, SparseVector>;
}

const asList = (c: unknown): unknown[] => (c == null ? [] : Array.isArray(c) ? c : [c]);

function inRange(x: unknown, r: Obj): boolean {
  const conv = (v: unknown) =>
    typeof v === 'string' ? Date.parse(v.includes('T') || v.length <= 10 ? v : v.replace(' ', 'T')) : v;
  const value = conv(x);
  if (typeof value !== 'number' || Number.isNaN(value)) return false;
  const bound = (k: string) => (r[k] == null ? undefined : (conv(r[k]) as number));
  const [lt, gt, lte, gte] = ['lt', 'gt', 'lte', 'gte'].map(bound);
  return (
    (lt === undefined || value < lt) &&
    (gt === undefined || value > gt) &&
    (lte === undefined || value <= lte) &&
    (gte === undefined || value >= gte)
  );
}

function fieldCondition(c: Obj, s: Subject): boolean {
  const key = String(c.key);
  const values = payloadValues(s.payload, key);
  const m = c.match;
  if (isObj(m)) {
    if ('value' in m) return values.some((v) => v === m.value);
    if ('any' in m) return values.some((v) => (m.any as unknown[]).includes(v));
    if ('except' in m) return values.length === 0 || values.some((v) => !(m.except as unknown[]).includes(v));
    const texts = values.filter((v): v is string => typeof v === 'string').map((v) => v.toLowerCase());
    if (typeof m.text === 'string' || typeof m.phrase === 'string') {
      const needle = String(m.text ?? m.phrase).toLowerCase();
      return texts.some((t) => t.includes(needle));
    }
    if (typeof m.text_any === 'string') {
      const words = m.text_any.toLowerCase().split(/\s+/).filter(Boolean);
      return texts.some((t) => words.some((w) => t.includes(w)));
    }
    if (typeof m.prefix === 'string') return texts.some((t) => t.startsWith(String(m.prefix).toLowerCase()));
  }
  if (isObj(c.range)) return values.some((v) => inRange(v, c.range as Obj));
  if (isObj(c.values_count)) return inRange(values.length, c.values_count);
  if (c.is_empty === true) return values.every((v) => v === null);
  if (c.is_null === true) return payloadValues(s.payload, key).some((v) => v === null);
  if (c.geo_bounding_box || c.geo_radius || c.geo_polygon) throw unsupported('geo filter conditions');
  throw unsupported(`field condition ${JSON.stringify(c)}`);
}

function condition(c: unknown, s: Subject): boolean {
  if (!isObj(c)) throw badInput('Invalid filter condition');
  if ('key' in c) return fieldCondition(c, s);
  if ('has_id' in c) return s.id !== undefined && (c.has_id as unknown[]).map(normalizeId).includes(s.id);
  if (isObj(c.is_empty)) return payloadValues(s.payload, String(c.is_empty.key)).every((v) => v === null);
  if (isObj(c.is_null)) return payloadValues(s.payload, String(c.is_null.key)).some((v) => v === null);
  if (typeof c.has_vector === 'string')
    return Boolean((s.vectors && c.has_vector in s.vectors) || (s.sparse && c.has_vector in s.sparse));
  if (isObj(c.nested)) {
    const filter = c.nested.filter;
    return payloadValues(s.payload, `${String(c.nested.key)}[]`).some((el) => matchesFilter(filter, { payload: el }));
  }
  if ('slice' in c) throw unsupported('slice conditions');
  return matchesFilter(c, s);
}

export function matchesFilter(filter: unknown, s: Subject): boolean {
  if (filter == null) return true;
  if (!isObj(filter)) throw badInput('Invalid filter');
  if (!asList(filter.must).every((c) => condition(c, s))) return false;
  if (asList(filter.must_not).some((c) => condition(c, s))) return false;
  const should = asList(filter.should);
  if (should.length > 0 && !should.some((c) => condition(c, s))) return false;
  if (isObj(filter.min_should)) {
    const { conditions, min_count } = filter.min_should as { conditions: unknown[]; min_count: number };
    if (conditions.filter((c) => condition(c, s)).length < min_count) return false;
  }
  return true;
}

function pick(payload: Payload, paths: string[]): Payload {
  const out: Payload = {};
  for (const path of paths) {
    const parts = path.split('.');
    let src: unknown = payload;
    let dst: Payload = out;
    for (const [i, part] of parts.entries()) {
      if (!isObj(src) || !(part in src)) break;
      if (i === parts.length - 1) dst[part] = src[part];
      else dst = dst[part] = isObj(dst[part]) ? dst[part] : {};
      src = src[part];
    }
  }
  return out;
}

function omit(payload: Payload, paths: string[]): Payload {
  const out = structuredClone(payload);
  for (const path of paths) {
    const parts = path.split('.');
    let obj: unknown = out;
    for (const part of parts.slice(0, -1)) obj = isObj(obj) ? obj[part] : undefined;
    if (isObj(obj)) delete obj[parts[parts.length - 1] ?? ''];
  }
  return out;
}

export function selectPayload(payload: Payload, withPayload: unknown): Payload | undefined {
  if (withPayload === true) return payload;
  if (Array.isArray(withPayload)) return pick(payload, withPayload as string[]);
  if (isObj(withPayload) && Array.isArray(withPayload.include)) return pick(payload, withPayload.include as string[]);
  if (isObj(withPayload) && Array.isArray(withPayload.exclude)) return omit(payload, withPayload.exclude as string[]);
  return undefined;
}

const toJsonVector = (v: Float32Array): number[] => Array.from(v, f32);

export function selectVectors(
  specs: Map<string, VectorParams>,
  p: Point,
  withVector: unknown,
): number[] | Record<string, number[] | SparseVector> | undefined {
  if (withVector !== true && !Array.isArray(withVector)) return undefined;
  const wanted = Array.isArray(withVector) ? (withVector as string[]) : null;
  const sparse = Object.entries(p.sparse ?? {}).filter(([name]) => !wanted || wanted.includes(name));
  // Qdrant answers a plain list only when the unnamed vector is all there is; else every vector by name ('' too)
  const single = specs.size === 1 && specs.has('') && sparse.length === 0;
  if (single) {
    const v = p.vectors[''];
    if (!wanted || wanted.includes('')) return v ? toJsonVector(v) : {};
    return {};
  }
  const out: Record<string, number[] | SparseVector> = {};
  for (const [name, v] of Object.entries(p.vectors)) if (!wanted || wanted.includes(name)) out[name] = toJsonVector(v);
  for (const [name, v] of sparse) out[name] = { indices: v.indices, values: v.values.map(f32) };
  return out;
}

export function record(
  specs: Map<string, VectorParams>,
  p: Point,
  withPayload: unknown,
  withVector: unknown,
  extra: Obj = {},
): Obj {
  const payload = selectPayload(p.payload, withPayload);
  const vector = selectVectors(specs, p, withVector);
  return {
    id: p.id,
    ...extra,
    ...(payload !== undefined && { payload }),
    ...(vector !== undefined && { vector }),
  };
}

export function pointNotFound(id: PointId): QdrantError {
  return notFound(`No point with id ${id} found`);
}

/** Payload index types that can serve a field condition (Qdrant's strict mode asks for one of them). */
function indexTypesFor(c: Obj): string[] {
  const m = c.match;
  const byValue = (v: unknown): string[] =>
    typeof v === 'string' ? ['keyword', 'uuid'] : typeof v === 'boolean' ? ['bool'] : ['integer'];
  if (isObj(m)) {
    if ('value' in m) return byValue(m.value);
    if ('any' in m || 'except' in m) return byValue(((m.any ?? m.except) as unknown[])[0] ?? '');
    if ('text' in m || 'text_any' in m || 'phrase' in m) return ['text'];
    if ('prefix' in m) return ['keyword'];
  }
  if (isObj(c.range)) {
    const bound = Object.values(c.range).find((v) => v != null);
    return typeof bound === 'string' ? ['datetime'] : ['integer', 'float'];
  }
  if (c.geo_bounding_box || c.geo_radius || c.geo_polygon) return ['geo'];
  return [];
}

/**
 * The first field condition of `filter` that no payload index of `schema` can serve, as strict mode's
 * `unindexed_filtering_*: false` refuses it (Qdrant checks each condition's key against the index types it needs).
 */
export function unindexedCondition(
  filter: unknown,
  schema: Record<string, { data_type: string }>,
): { key: string; types: string[] } | undefined {
  if (!isObj(filter)) return undefined;
  const clauses = [
    filter.must,
    filter.must_not,
    filter.should,
    isObj(filter.min_should) && filter.min_should.conditions,
  ];
  for (const c of clauses.flatMap(asList)) {
    if (!isObj(c)) continue;
    if ('key' in c) {
      const types = indexTypesFor(c);
      const have = schema[String(c.key)]?.data_type;
      if (types.length > 0 && !(have && types.includes(have))) return { key: String(c.key), types };
    } else if (!isObj(c.nested)) {
      const inner = unindexedCondition(c, schema);
      if (inner) return inner;
    }
  }
  return undefined;
}
