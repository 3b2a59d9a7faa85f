// Owns the translation of a collection's info (GET /collections/X, Qdrant 1.19) into the CreateCollection body of
// a collection "like" it with other vector params, plus the report of what that carries and what it cannot.
// Invariants: pure (no I/O); every setting of the source appears in exactly one of `carried` or `notCarried`,
// except the size/distance being rolled back; names in both lists are the create body's (`optimizers_config`,
// not info's `optimizer_config`), so a reader can look them up in Qdrant's CreateCollection docs; payload indexes
// come in field-name order whatever order the server lists them in.
import type { Schemas } from '@qdrant/js-client-rest';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface NotCarried {
  setting: string;
  why: string;
}

export interface PayloadIndexSpec {
  field: string;
  /** What PUT /collections/X/index takes: the params object when the source has one, else the bare type. */
  schema: Schemas['PayloadFieldSchema'];
}

export interface CarryPlan {
  body: Schemas['CreateCollection'];
  /** Params Qdrant only takes on update (PATCH /collections/X), applied right after the create. */
  patch?: Schemas['UpdateCollection'];
  indexes: PayloadIndexSpec[];
  carried: string[];
  notCarried: NotCarried[];
}

export interface RolledBackVector {
  /** '' for the collection's single unnamed vector. */
  name: string;
  size: number;
  distance: string;
  /** The new vectors come from an embedder, one dense f32 vector per point. */
  reembedded: boolean;
}

// Rust's Option::None: collection info prints some unset fields as null, which create bodies need left out.
function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (!isObj(v)) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([, x]) => x != null)
      .map(([k, x]) => [k, withoutNulls(x)]),
  );
}

// Carried as-is from the source's params (CollectionParams ∩ CreateCollection).
const CREATE_PARAMS = ['shard_number', 'replication_factor', 'write_consistency_factor', 'on_disk_payload', 'payload'];
// In CollectionParams but not in CreateCollection; CollectionParamsDiff (PATCH) takes them.
const PATCH_PARAMS = ['read_fan_out_factor', 'read_fan_out_delay_ms'];

function rolledBackVectorParams(source: Obj, v: RolledBackVector, plan: CarryPlan, setting: string): Obj {
  const out: Obj = { ...(withoutNulls(source) as Obj), size: v.size, distance: v.distance };
  if (v.reembedded && out.multivector_config !== undefined) {
    delete out.multivector_config;
    plan.notCarried.push({
      setting: `${setting}.multivector_config`,
      why: 'the re-embedded vectors are one dense vector per point, not multi-vectors',
    });
  }
  if (v.reembedded && out.datatype === 'uint8') {
    delete out.datatype;
    plan.notCarried.push({
      setting: `${setting}.datatype`,
      why: 'uint8 vectors must be quantized by the application; the embedder returns float vectors',
    });
  }
  for (const k of Object.keys(out)) if (k !== 'size' && k !== 'distance') plan.carried.push(`${setting}.${k}`);
  return out;
}

/** Plans a collection like `info`'s with `vector` rolled back to new params; everything else carried. */
export function planCarry(info: Schemas['CollectionInfo'], vector: RolledBackVector): CarryPlan {
  const config = info.config as unknown as Obj;
  const params = (config.params ?? {}) as Obj;
  const plan: CarryPlan = { body: {}, indexes: [], carried: [], notCarried: [] };
  const body: Obj = {};

  const vectors = params.vectors;
  if (vector.name === '') {
    body.vectors = rolledBackVectorParams(isObj(vectors) ? vectors : {}, vector, plan, 'vectors');
  } else {
    const named: Obj = {};
    for (const [name, spec] of Object.entries(isObj(vectors) ? vectors : {})) {
      if (name === vector.name) {
        named[name] = rolledBackVectorParams(spec as Obj, vector, plan, `vectors.${name}`);
      } else {
        named[name] = withoutNulls(spec);
        plan.carried.push(`vectors.${name}`);
      }
    }
    body.vectors = named;
  }

  for (const k of CREATE_PARAMS) {
    if (params[k] == null) continue;
    body[k] = withoutNulls(params[k]);
    plan.carried.push(k);
  }
  if (params.sharding_method === 'custom') {
    plan.notCarried.push({
      setting: 'sharding_method',
      why: 'custom sharding needs its shard keys created before any point can be written; the new collection uses auto sharding',
    });
  } else if (params.sharding_method != null) {
    body.sharding_method = params.sharding_method;
    plan.carried.push('sharding_method');
  }
  if (isObj(params.sparse_vectors)) {
    body.sparse_vectors = withoutNulls(params.sparse_vectors);
    for (const name of Object.keys(params.sparse_vectors)) plan.carried.push(`sparse_vectors.${name}`);
  }
  const patchParams: Obj = {};
  for (const k of PATCH_PARAMS) {
    if (params[k] == null) continue;
    patchParams[k] = params[k];
    plan.carried.push(`${k} (applied by an update: CreateCollection does not take it)`);
  }
  if (Object.keys(patchParams).length > 0) plan.patch = { params: patchParams };

  const sections: Array<[from: string, to: string]> = [
    ['hnsw_config', 'hnsw_config'],
    ['optimizer_config', 'optimizers_config'],
    ['wal_config', 'wal_config'],
    ['quantization_config', 'quantization_config'],
    ['strict_mode_config', 'strict_mode_config'],
    ['metadata', 'metadata'],
  ];
  for (const [from, to] of sections) {
    if (config[from] == null) continue;
    body[to] = from === 'metadata' ? config[from] : withoutNulls(config[from]);
    plan.carried.push(to);
  }

  // by field name: Qdrant's payload_schema is a hash map, listed in another order on each call, and a retry of the
  // activity must report (and build) the same list as the attempt before it
  const fields = Object.entries(info.payload_schema ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [field, index] of fields) {
    if (!index) continue;
    const schema = (index.params ?? index.data_type) as Schemas['PayloadFieldSchema'];
    plan.indexes.push({ field, schema });
  }
  plan.body = body;
  return plan;
}

/** The create body as collection info shows it, for checking that an existing collection already matches. */
export function asInfoConfig(body: Schemas['CreateCollection']): Obj {
  const b = body as Obj;
  const params: Obj = { vectors: b.vectors };
  for (const k of [...CREATE_PARAMS, 'sharding_method', 'sparse_vectors']) if (b[k] !== undefined) params[k] = b[k];
  const out: Obj = { params };
  for (const k of ['hnsw_config', 'wal_config', 'quantization_config', 'strict_mode_config', 'metadata']) {
    if (b[k] !== undefined) out[k] = b[k];
  }
  if (b.optimizers_config !== undefined) out.optimizer_config = b.optimizers_config;
  return out;
}
