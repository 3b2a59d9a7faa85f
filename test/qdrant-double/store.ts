// Owns the double's collections, points and aliases, in memory and on disk under <dataDir>:
//   aliases.json and collections/<name>/config.json (both written temp-then-rename), collections/<name>/points.log.
// points.log is an append-only sequence of binary records (encodeRecord); replaying it rebuilds the points Map. A torn
// final record (crash mid-append) is cut off on open; the log is rewritten compactly on close, or earlier once it holds
// more dead records than live points, so the total work stays linear in the number of writes.
// Invariants: a mutation is on disk before its response is sent; stored Point objects are never mutated (updates
// replace them), so readers such as snapshot creation may keep references across awaits.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { alreadyExists, badInput, collectionNotFound, QdrantError } from './errors.ts';
import { compareIds, matchesFilter, payloadValues, vectorSpecs } from './points.ts';
import type { Payload, Point, PointId, VectorParams } from './points.ts';

if (endianness() !== 'LE') throw new Error('the Qdrant double stores vectors as little-endian f32');

type Obj = Record<string, unknown>;
export interface CollectionConfig {
  params: Obj & { vectors: VectorParams | Record<string, VectorParams>; shard_number: number };
  hnsw_config: Obj;
  optimizer_config: Obj;
  wal_config: Obj;
  quantization_config: unknown;
  strict_mode_config?: Obj;
  metadata?: Payload;
}
export interface CollectionState {
  config: CollectionConfig;
  payload_schema: Record<string, { data_type: string; params?: unknown }>;
}

const DEFAULT_HNSW = { m: 16, ef_construct: 100, full_scan_threshold: 10000, max_indexing_threads: 0, on_disk: false };
const DEFAULT_OPTIMIZER = {
  deleted_threshold: 0.2,
  vacuum_min_vector_number: 1000,
  default_segment_number: 0,
  max_segment_size: null,
  memmap_threshold: null,
  indexing_threshold: 10000,
  prevent_unoptimized: null,
  flush_interval_sec: 5,
  max_optimization_threads: null,
};
const DEFAULT_WAL = { wal_capacity_mb: 32, wal_segments_ahead: 0, wal_retain_closed: 1 };

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

// Rust's Option::None is not serialised for most config fields, so a stored config never holds nulls.
export function stripNulls<T>(v: T): T {
  if (Array.isArray(v)) return v.map(stripNulls) as T;
  if (!isObj(v)) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([, x]) => x != null)
      .map(([k, x]) => [k, stripNulls(x)]),
  ) as T;
}

/** Applies a *Diff object: every non-null field replaces the stored one. */
function applyDiff(base: Obj | undefined, diff: unknown): Obj {
  return { ...base, ...(isObj(diff) ? stripNulls(diff) : {}) };
}

function atomicWrite(path: string, data: string | Buffer): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data);
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
}

interface PointHeader {
  id: PointId;
  ver: number;
  p: Payload;
  v: [string, number][];
  /** Sparse vectors, small enough to live in the JSON header. */
  s?: Point['sparse'];
}

/** Record = u32 header length, u32 data length, JSON header ({...meta, pts}), then the points' f32 vectors. */
export function encodeRecord(meta: Obj, points: readonly Point[] = []): Buffer {
  const pts: PointHeader[] = points.map((p) => ({
    id: p.id,
    ver: p.version,
    p: p.payload,
    v: Object.entries(p.vectors).map(([n, v]) => [n, v.length]),
    ...(p.sparse && { s: p.sparse }),
  }));
  const head = Buffer.from(JSON.stringify({ ...meta, pts }));
  let dataLen = 0;
  for (const p of points) for (const v of Object.values(p.vectors)) dataLen += v.byteLength;
  const buf = Buffer.allocUnsafe(8 + head.length + dataLen);
  buf.writeUInt32LE(head.length, 0);
  buf.writeUInt32LE(dataLen, 4);
  head.copy(buf, 8);
  let off = 8 + head.length;
  for (const p of points) {
    for (const v of Object.values(p.vectors)) {
      buf.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), off);
      off += v.byteLength;
    }
  }
  return buf;
}

/** Yields complete records from `start`; stops silently at a torn tail (see `end` of the last one yielded). */
export function* decodeRecords(buf: Buffer, start = 0): Generator<{ meta: Obj; points: Point[]; end: number }> {
  let off = start;
  while (off + 8 <= buf.length) {
    const headLen = buf.readUInt32LE(off);
    const end = off + 8 + headLen + buf.readUInt32LE(off + 4);
    if (end > buf.length) return;
    const meta = JSON.parse(buf.toString('utf8', off + 8, off + 8 + headLen)) as Obj & { pts: PointHeader[] };
    let d = buf.byteOffset + off + 8 + headLen;
    const points = meta.pts.map((h): Point => {
      const vectors: Record<string, Float32Array> = {};
      for (const [name, len] of h.v) {
        if (d + len * 4 > buf.byteOffset + end) throw new Error('record data shorter than its header says');
        vectors[name] = new Float32Array(buf.buffer.slice(d, d + len * 4));
        d += len * 4;
      }
      return { id: h.id, version: h.ver, payload: h.p, vectors, ...(h.s && { sparse: h.s }) };
    });
    yield { meta, points, end };
    off = end;
  }
}

export class Collection {
  readonly points = new Map<PointId, Point>();
  private sorted: PointId[] | null = null;
  private dead = 0;
  private fd: number | null = null;
  /** Operation number of the next update; Qdrant reports it as operation_id and as the point version. */
  nextOp = 0;

  constructor(
    readonly name: string,
    readonly dir: string,
    public state: CollectionState,
  ) {}

  get vectorSpecs(): Map<string, VectorParams> {
    return vectorSpecs(this.state.config.params.vectors);
  }

  get sparseNames(): Set<string> {
    const sparse = this.state.config.params.sparse_vectors;
    return new Set(isObj(sparse) ? Object.keys(sparse) : []);
  }

  sortedIds(): PointId[] {
    this.sorted ??= [...this.points.keys()].sort(compareIds);
    return this.sorted;
  }

  load(): void {
    const path = join(this.dir, 'points.log');
    if (!existsSync(path)) return;
    const buf = readFileSync(path);
    let end = 0;
    for (const rec of decodeRecords(buf)) {
      this.apply(rec.meta, rec.points);
      end = rec.end;
    }
    if (end < buf.length) truncateSync(path, end);
  }

  private apply(meta: Obj, points: Point[]): void {
    if (typeof meta.op === 'number') this.nextOp = Math.max(this.nextOp, meta.op + 1);
    for (const p of points) {
      if (this.points.has(p.id)) this.dead++;
      else this.sorted = null;
      this.points.set(p.id, p);
      this.nextOp = Math.max(this.nextOp, p.version + 1);
    }
    for (const id of (meta.del as PointId[] | undefined) ?? []) {
      if (this.points.delete(id)) {
        this.dead++;
        this.sorted = null;
      }
    }
  }

  private append(meta: Obj, points: Point[]): void {
    this.fd ??= openSync(join(this.dir, 'points.log'), 'a');
    writeSync(this.fd, encodeRecord(meta, points));
    if (this.dead > Math.max(1000, this.points.size)) this.compact();
  }

  upsert(points: Point[], mode: string | null | undefined, updateFilter: unknown): number {
    const op = this.nextOp++;
    const applied: Point[] = [];
    for (const p of points) {
      const existing = this.points.get(p.id);
      if (existing ? mode === 'insert_only' : mode === 'update_only') continue;
      if (existing && updateFilter != null && !matchesFilter(updateFilter, { ...existing })) continue;
      applied.push({ ...p, version: op });
    }
    this.apply({ op }, applied);
    this.append({ op }, applied);
    return op;
  }

  delete(ids: PointId[]): number {
    const op = this.nextOp++;
    const existing = ids.filter((id) => this.points.has(id));
    this.apply({ op, del: existing }, []);
    this.append({ op, del: existing }, []);
    return op;
  }

  /** Consumes an operation number for an update that touches no points (e.g. a payload index change). */
  bumpOp(): number {
    const op = this.nextOp++;
    this.append({ op }, []);
    return op;
  }

  /** Replaces all points (snapshot recovery) and rewrites the log. */
  replacePoints(points: Point[]): void {
    this.points.clear();
    for (const p of points) this.points.set(p.id, p);
    this.sorted = null;
    this.nextOp = Math.max(this.nextOp, ...points.map((p) => p.version + 1));
    this.compact();
  }

  compact(): void {
    this.close();
    const path = join(this.dir, 'points.log');
    const fd = openSync(`${path}.tmp`, 'w');
    writeSync(fd, encodeRecord({ op: this.nextOp - 1 }, []));
    const all = [...this.points.values()];
    for (let i = 0; i < all.length; i += 1024) writeSync(fd, encodeRecord({}, all.slice(i, i + 1024)));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(`${path}.tmp`, path);
    this.dead = 0;
  }

  saveConfig(): void {
    atomicWrite(join(this.dir, 'config.json'), JSON.stringify(this.state, null, 2));
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  closeAndCompact(): void {
    if (this.dead > 0) this.compact();
    this.close();
  }

  countWhere(key: string): number {
    let n = 0;
    for (const p of this.points.values()) if (payloadValues(p.payload, key).length > 0) n++;
    return n;
  }
}

export function buildConfig(body: Obj): CollectionConfig {
  const vectors = stripNulls(body.vectors ?? {}) as CollectionConfig['params']['vectors'];
  for (const spec of vectorSpecs(vectors).values()) {
    if (spec.size > 65536) {
      throw new QdrantError(
        422,
        `Validation error in JSON body: [vectors.size: value ${spec.size} invalid, must be from 1 to 65536]`,
        true,
      );
    }
  }
  const maxThreads = (body.optimizers_config as Obj | null | undefined)?.max_optimization_threads;
  return {
    params: stripNulls({
      vectors,
      shard_number: (body.shard_number as number | null | undefined) ?? 1,
      sharding_method: body.sharding_method,
      replication_factor: body.replication_factor ?? 1,
      write_consistency_factor: body.write_consistency_factor ?? 1,
      on_disk_payload: body.on_disk_payload ?? true,
      payload: body.payload,
      sparse_vectors: body.sparse_vectors,
    }),
    hnsw_config: applyDiff(DEFAULT_HNSW, body.hnsw_config),
    optimizer_config: {
      ...applyDiff(DEFAULT_OPTIMIZER, body.optimizers_config),
      max_optimization_threads: typeof maxThreads === 'number' ? maxThreads : null,
    },
    wal_config: applyDiff(DEFAULT_WAL, body.wal_config),
    quantization_config: stripNulls(body.quantization_config ?? null),
    ...(isObj(body.strict_mode_config) && { strict_mode_config: stripNulls(body.strict_mode_config) }),
    ...(isObj(body.metadata) && { metadata: body.metadata }),
  };
}

/** Merges an UpdateCollection body into a config, as PATCH /collections/{name} does. */
export function updateConfig(config: CollectionConfig, body: Obj): CollectionConfig {
  const next = structuredClone(config);
  if (isObj(body.vectors)) {
    const specs = vectorSpecs(next.params.vectors);
    for (const [name, diff] of Object.entries(body.vectors)) {
      const spec = specs.get(name);
      if (!spec) {
        throw badInput(
          name
            ? `Vector params for ${name} are not specified in config`
            : 'Default vector params are not specified in config',
        );
      }
      const d = stripNulls(diff as Obj);
      if (d.hnsw_config) spec.hnsw_config = applyDiff(spec.hnsw_config as Obj | undefined, d.hnsw_config);
      if (d.quantization_config === 'Disabled') delete spec.quantization_config;
      else if (d.quantization_config) spec.quantization_config = d.quantization_config;
      for (const k of ['on_disk', 'memory']) if (k in d) spec[k] = d[k];
    }
  }
  if (body.optimizers_config != null) {
    const maxThreads = (body.optimizers_config as Obj).max_optimization_threads;
    next.optimizer_config = applyDiff(next.optimizer_config, body.optimizers_config);
    if (maxThreads === 'auto') next.optimizer_config.max_optimization_threads = null;
  }
  if (body.params != null) next.params = { ...next.params, ...stripNulls(body.params as Obj) };
  if (body.hnsw_config != null) next.hnsw_config = applyDiff(next.hnsw_config, body.hnsw_config);
  if (body.quantization_config != null) {
    next.quantization_config = body.quantization_config === 'Disabled' ? null : body.quantization_config;
  }
  if (body.strict_mode_config != null)
    next.strict_mode_config = applyDiff(next.strict_mode_config, body.strict_mode_config);
  if (body.metadata != null) next.metadata = { ...next.metadata, ...(body.metadata as Payload) };
  if (body.sparse_vectors != null) {
    next.params.sparse_vectors = {
      ...(next.params.sparse_vectors as Obj | undefined),
      ...stripNulls(body.sparse_vectors as Obj),
    };
  }
  return next;
}

export class Store {
  readonly collections = new Map<string, Collection>();
  readonly aliases = new Map<string, string>();

  private constructor(readonly dataDir: string) {}

  static open(dataDir: string): Store {
    const store = new Store(dataDir);
    mkdirSync(join(dataDir, 'collections'), { recursive: true });
    for (const name of readdirSync(join(dataDir, 'collections'))) {
      const dir = join(dataDir, 'collections', name);
      if (!existsSync(join(dir, 'config.json'))) continue;
      const state = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as CollectionState;
      const col = new Collection(name, dir, state);
      col.load();
      store.collections.set(name, col);
    }
    const aliasFile = join(dataDir, 'aliases.json');
    if (existsSync(aliasFile)) {
      for (const [a, c] of Object.entries(JSON.parse(readFileSync(aliasFile, 'utf8')) as Record<string, string>)) {
        store.aliases.set(a, c);
      }
    }
    return store;
  }

  /** Looks a collection up by name or alias, as Qdrant's TableOfContent::get_collection does. */
  get(nameOrAlias: string): Collection {
    const col = this.collections.get(this.aliases.get(nameOrAlias) ?? nameOrAlias);
    if (!col) throw collectionNotFound(nameOrAlias);
    return col;
  }

  find(nameOrAlias: string): Collection | undefined {
    return this.collections.get(this.aliases.get(nameOrAlias) ?? nameOrAlias);
  }

  create(name: string, state: CollectionState): Collection {
    if (this.collections.has(name)) throw alreadyExists(`Collection \`${name}\` already exists!`);
    if (this.aliases.has(name)) {
      throw badInput(`Can't create collection with name ${name}. Alias with the same name already exists`);
    }
    const dir = join(this.dataDir, 'collections', name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const col = new Collection(name, dir, state);
    col.saveConfig();
    this.collections.set(name, col);
    return col;
  }

  delete(name: string): boolean {
    this.removeAliasesOf(name);
    const col = this.collections.get(name);
    if (!col) return false;
    col.close();
    this.collections.delete(name);
    rmSync(col.dir, { recursive: true, force: true });
    return true;
  }

  private removeAliasesOf(name: string): void {
    const before = this.aliases.size;
    for (const [a, c] of this.aliases) if (c === name) this.aliases.delete(a);
    if (this.aliases.size !== before) this.saveAliases();
  }

  /** Applies alias actions in order, as Qdrant does: no other request runs in between, and on an error the
   * actions before the failing one stay applied. */
  updateAliases(actions: Obj[]): void {
    try {
      for (const action of actions) {
        if (isObj(action.create_alias)) {
          const { collection_name, alias_name } = action.create_alias as {
            collection_name: string;
            alias_name: string;
          };
          if (!this.collections.has(collection_name)) throw collectionNotFound(collection_name);
          if (this.collections.has(alias_name)) throw alreadyExists(`Collection \`${alias_name}\` already exists!`);
          this.aliases.set(alias_name, collection_name);
        } else if (isObj(action.delete_alias)) {
          this.aliases.delete(String(action.delete_alias.alias_name));
        } else if (isObj(action.rename_alias)) {
          const { old_alias_name, new_alias_name } = action.rename_alias as Record<string, string>;
          const target = this.aliases.get(old_alias_name ?? '');
          if (target === undefined) throw new QdrantError(404, `Not found: Alias ${old_alias_name} does not exists!`);
          this.aliases.delete(old_alias_name ?? '');
          this.aliases.set(new_alias_name ?? '', target);
        }
      }
    } finally {
      this.saveAliases();
    }
  }

  private saveAliases(): void {
    atomicWrite(join(this.dataDir, 'aliases.json'), JSON.stringify(Object.fromEntries(this.aliases), null, 2));
  }

  close(): void {
    for (const col of this.collections.values()) col.closeAndCompact();
  }
}
