// Owns the HTTP face of the Qdrant double: binding to 127.0.0.1, api-key auth, fault injection, spec validation of
// every request and JSON response (openapi.ts), and dispatch by the spec's operationId to handlers mimicking Qdrant 1.19.
// Invariants: a request real Qdrant would refuse on schema grounds gets the status and envelope Qdrant would send AND
// is recorded in `violations`; so is any response that breaks the spec and any feature the double does not implement.
// Faults: failNext answers before the operation runs; dropNext runs it and then loses the response (a lost reply, not a
// lost request), which is what a client retrying after a dropped connection must cope with. failWhen is targeted: only
// requests matching its method/path/operationId fail, with Qdrant's own error envelope, either refused before the
// operation runs or (after: true) answered with the error once the operation has taken effect.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { badInput, badRequest, forbidden, QdrantError, unsupported } from './errors.ts';
import { OpenApiSpec } from './openapi.ts';
import {
  compareIds,
  f32,
  higherIsBetter,
  matchesFilter,
  unindexedCondition,
  normalizeId,
  parseQueryVector,
  parseSparse,
  parseVectors,
} from './points.ts';
import { payloadValues, pointNotFound, record, similarity, type Point, type PointId } from './points.ts';
import { listSnapshots, parseSnapshot, sha256, snapshotName, snapshotPath, writeSnapshot } from './snapshots.ts';
import { buildConfig, stripNulls, Store, updateConfig, type Collection } from './store.ts';

export interface QdrantDouble {
  url: string;
  snapshotsDir: string;
  faults: {
    failNext(n: number, status?: number): void;
    delay(ms: number): void;
    dropNext(n: number): void;
    failWhen(rule: FaultRule): FaultHandle;
  };
  violations: string[];
  /** Every answered request; `at` is when it arrived (Date.now()), so tests can tell who sent it. */
  requests: Array<{ method: string; path: string; status: number; at: number }>;
  stop(): Promise<void>;
}

export interface FaultRule {
  /** HTTP method, any case; any method when absent. */
  method?: string;
  /** Matched against the request path (no query string); a string must equal the spec's operationId instead. */
  path?: RegExp;
  operationId?: string;
  /** Default 400 (a refusal no retry fixes). */
  status?: number;
  /** How many matching requests fail; default 1, Infinity for all. */
  times?: number;
  /** How many matching requests pass before the first one fails; default 0. */
  skip?: number;
  /** The `status.error` text; default names the operation and says a fault rule refused it. */
  message?: string;
  /** Run the operation first and then answer with the error (the change happened, the caller is told it failed). */
  after?: boolean;
}

export interface FaultHandle {
  /** Requests this rule has failed so far. */
  hits(): number;
  /** Stop matching. */
  clear(): void;
}

export interface QdrantDoubleOptions {
  dataDir: string;
  port?: number;
  apiKey?: string;
  snapshotsDir?: string;
}

type Obj = Record<string, unknown>;

/**
 * A payload index's params as GET /collections/{name} shows them: Qdrant 1.18 fills `is_principal: null` into the
 * numeric and datetime ones and the default `tokenizer: word` into text ones; other given nulls are dropped.
 */
function indexParams(dataType: string, schema: Obj): Obj {
  const params = stripNulls<Obj>(schema);
  if (['integer', 'float', 'datetime'].includes(dataType))
    return { ...params, is_principal: schema.is_principal ?? null };
  if (dataType === 'text') return { tokenizer: 'word', ...params };
  return params;
}
type Reply =
  | { kind: 'ok'; result: unknown; status?: number }
  | { kind: 'json'; body: unknown; status?: number }
  | { kind: 'bytes'; body: Buffer | string; contentType: string; status?: number };
interface Ctx {
  params: Record<string, string>;
  path: Obj;
  query: Obj;
  body: Obj;
  raw: Buffer;
  contentType: string;
}

const VERSION = {
  title: 'qdrant - vector search engine',
  version: '1.19.0',
  commit: '74f3e85b9473c62560006c043e13737ce6b48412',
};
const MAX_JSON_BYTES = 32 * 1024 * 1024; // service.max_request_size_mb default
const TEXT = 'text/plain; charset=utf-8';
const ok = (result: unknown): Reply => ({ kind: 'ok', result });
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (!isObj(v)) return JSON.stringify(v);
  return `{${Object.keys(v)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
    .join(',')}}`;
}

function parseMultipart(body: Buffer, contentType: string): Map<string, { filename?: string; data: Buffer }> {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const parts = new Map<string, { filename?: string; data: Buffer }>();
  if (!boundary) return parts;
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  let pos = body.indexOf(delimiter);
  while (pos !== -1) {
    const start = pos + delimiter.length;
    const next = body.indexOf(delimiter, start);
    if (next === -1 || body.subarray(start, start + 2).toString() === '--') break;
    const part = body.subarray(start + 2, next - 2);
    const headerEnd = part.indexOf('\r\n\r\n');
    const disposition = /content-disposition:[^\r\n]*/i.exec(part.subarray(0, headerEnd).toString())?.[0] ?? '';
    const name = /\bname="([^"]*)"/i.exec(disposition)?.[1];
    const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1];
    if (name !== undefined && headerEnd !== -1) parts.set(name, { filename, data: part.subarray(headerEnd + 4) });
    pos = next;
  }
  return parts;
}

function checksumRejection(checksum: unknown, where: string): QdrantError | null {
  if (typeof checksum !== 'string' || /^[0-9a-f]{64}$/i.test(checksum)) return null;
  return new QdrantError(422, `Validation error in ${where}: [checksum: invalid_sha256_hash]`, true);
}

export async function startQdrantDouble(opts: QdrantDoubleOptions): Promise<QdrantDouble> {
  const spec = new OpenApiSpec();
  const store = Store.open(opts.dataDir);
  const snapshotsDir = opts.snapshotsDir ?? join(opts.dataDir, 'snapshots');
  mkdirSync(snapshotsDir, { recursive: true });
  const violations: string[] = [];
  const requests: QdrantDouble['requests'] = [];
  const inflight = new Set<Promise<unknown>>();
  let failCount = 0;
  let failStatus = 503;
  let dropCount = 0;
  let delayMs = 0;
  const rules: Array<FaultRule & { left: number; hit: number; skipLeft: number }> = [];
  const TEXT_OPS = new Set(['healthz', 'livez', 'readyz']);

  /** The first live rule matching this request, its budget spent by one. */
  const takeRule = (method: string, path: string, opId: string) => {
    const r = rules.find(
      (x) =>
        x.left > 0 &&
        (x.method === undefined || x.method.toUpperCase() === method) &&
        (x.path === undefined || x.path.test(path)) &&
        (x.operationId === undefined || x.operationId === opId),
    );
    if (!r) return undefined;
    if (r.skipLeft > 0) {
      r.skipLeft--;
      return undefined;
    }
    r.left--;
    r.hit++;
    return r;
  };

  const track = (p: Promise<unknown>): void => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };

  const updateResult = (op: number, wait: unknown): Reply =>
    ok({ operation_id: op, status: wait === true ? 'completed' : 'acknowledged' });

  const inBackground = async (wait: unknown, task: () => Promise<unknown>): Promise<Reply> => {
    if (wait !== false) return ok(await task());
    track(task().catch(() => undefined));
    return { kind: 'json', status: 202, body: { status: 'accepted', time: 0 } };
  };

  /** Strict mode with `unindexed_filtering_{retrieve,update}: false` refuses filters on keys without a fitting index. */
  function checkIndexedFilter(col: Collection, filter: unknown, kind: 'retrieve' | 'update'): void {
    const strict = col.state.config.strict_mode_config;
    if (strict?.enabled !== true || strict[`unindexed_filtering_${kind}`] !== false) return;
    const missing = unindexedCondition(filter, col.state.payload_schema);
    if (missing) {
      throw badRequest(
        `Index required but not found for "${missing.key}" of one of the following types: [${missing.types.join(', ')}]. Help: Create an index for this key or use a different filter.`,
      );
    }
  }

  function collectionInfo(col: Collection): Obj {
    const opt = col.state.config.optimizer_config;
    const segments = Number(opt.default_segment_number) || 2;
    const threshold = typeof opt.indexing_threshold === 'number' ? opt.indexing_threshold : 0;
    let indexed = 0;
    for (const [name, spec] of col.vectorSpecs) {
      const kbPerSegment = (col.points.size * spec.size * 4) / 1024 / segments;
      if (threshold > 0 && kbPerSegment >= threshold) {
        for (const p of col.points.values()) if (p.vectors[name]) indexed++;
      }
    }
    const payloadSchema = Object.fromEntries(
      Object.entries(col.state.payload_schema).map(([k, v]) => [k, { ...v, points: col.countWhere(k) }]),
    );
    return {
      status: 'green',
      optimizer_status: 'ok',
      indexed_vectors_count: indexed,
      points_count: col.points.size,
      segments_count: segments,
      config: col.state.config,
      payload_schema: payloadSchema,
      update_queue: { length: 0 }, // Qdrant 1.18: updates waiting to be applied (none: the double applies at once)
    };
  }

  function toPoints(col: Collection, body: Obj): Point[] {
    const specs = col.vectorSpecs;
    const sparseNames = col.sparseNames;
    const point = (id: unknown, vector: unknown, payload: unknown): Point => {
      const sparse = parseSparse(sparseNames, vector);
      return {
        id: normalizeId(id),
        version: 0,
        vectors: parseVectors(specs, vector, sparseNames),
        ...(sparse && { sparse }),
        payload: isObj(payload) ? payload : {},
      };
    };
    if (!isObj(body.batch)) return (body.points as Obj[]).map((p) => point(p.id, p.vector, p.payload));
    const { ids, vectors, payloads } = body.batch as { ids: unknown[]; vectors: unknown; payloads?: unknown[] | null };
    const columns = Array.isArray(vectors) ? { '': vectors } : (vectors as Record<string, unknown[]>);
    for (const [name, column] of Object.entries(columns)) {
      if (!Array.isArray(column) || column.length !== ids.length) {
        throw badInput(`Batch vectors for "${name}" and ids must have the same length (${ids.length})`);
      }
    }
    if (payloads && payloads.length !== ids.length) throw badInput('Batch payloads and ids must have the same length');
    return ids.map((id, i) => {
      const named = Object.fromEntries(Object.entries(columns).map(([n, c]) => [n, c[i]]));
      return point(id, Array.isArray(vectors) ? named[''] : named, payloads?.[i]);
    });
  }

  function scroll(col: Collection, body: Obj): Obj {
    const limit = (body.limit as number | null) ?? 10;
    const withPayload = body.with_payload ?? true;
    const specs = col.vectorSpecs;
    if (body.order_by != null) return orderedScroll(col, body, limit);
    const ids = col.sortedIds();
    let i = 0;
    if (body.offset != null) {
      const offset = normalizeId(body.offset);
      let hi = ids.length;
      while (i < hi) {
        const mid = (i + hi) >> 1;
        if (compareIds(ids[mid] as PointId, offset) < 0) i = mid + 1;
        else hi = mid;
      }
    }
    checkIndexedFilter(col, body.filter, 'retrieve');
    const points: Obj[] = [];
    let next: PointId | null = null;
    for (; i < ids.length; i++) {
      const p = col.points.get(ids[i] as PointId);
      if (!p || !matchesFilter(body.filter, p)) continue;
      if (points.length === limit) {
        next = p.id;
        break;
      }
      points.push(record(specs, p, withPayload, body.with_vector ?? false));
    }
    return { points, next_page_offset: next };
  }

  function orderedScroll(col: Collection, body: Obj, limit: number): Obj {
    const orderBy = typeof body.order_by === 'string' ? { key: body.order_by } : (body.order_by as Obj);
    const key = String(orderBy.key);
    const index = col.state.payload_schema[key]?.data_type;
    if (!['integer', 'float', 'datetime'].includes(index ?? '')) {
      throw badInput(
        `No range index for \`order_by\` key: \`${key}\`. Please create one to use \`order_by\`. Check https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which payload schemas support Range conditions`,
      );
    }
    const desc = orderBy.direction === 'desc';
    const toNum = (v: unknown) => (typeof v === 'string' ? Date.parse(v) : v);
    const start = orderBy.start_from == null ? undefined : (toNum(orderBy.start_from) as number);
    const rows: Array<{ p: Point; v: number }> = [];
    for (const p of col.points.values()) {
      if (!matchesFilter(body.filter, p)) continue;
      for (const raw of payloadValues(p.payload, key)) {
        const v = toNum(raw);
        if (typeof v !== 'number' || Number.isNaN(v)) continue;
        if (start === undefined || (desc ? v <= start : v >= start)) rows.push({ p, v });
      }
    }
    rows.sort((a, b) => (desc ? b.v - a.v : a.v - b.v) || compareIds(a.p.id, b.p.id));
    const points = rows
      .slice(0, limit)
      .map(({ p, v }) =>
        record(col.vectorSpecs, p, body.with_payload ?? true, body.with_vector ?? false, { order_value: v }),
      );
    return { points, next_page_offset: null };
  }

  function query(col: Collection, body: Obj): Obj {
    if (body.prefetch != null && !(Array.isArray(body.prefetch) && body.prefetch.length === 0))
      throw unsupported('prefetch');
    if (body.lookup_from != null) throw unsupported('lookup_from');
    if (body.shard_key != null) throw unsupported('shard_key');
    const specs = col.vectorSpecs;
    const using = (body.using as string | null) ?? '';
    const limit = (body.limit as number | null) ?? 10;
    const offset = (body.offset as number | null) ?? 0;
    const withPayload = body.with_payload ?? false;
    const withVector = body.with_vector ?? false;
    let q = body.query;
    if (isObj(q) && 'nearest' in q) {
      if (q.mmr != null) throw unsupported('mmr');
      q = q.nearest;
    } else if (isObj(q)) {
      throw unsupported(`query type ${Object.keys(q).join(', ')}`);
    }
    if (q == null) {
      const page = scroll(col, {
        filter: body.filter,
        limit: offset + limit,
        with_payload: withPayload,
        with_vector: withVector,
      });
      return {
        points: (page.points as Obj[])
          .slice(offset)
          .map((r) => ({ ...r, version: col.points.get(r.id as PointId)?.version, score: 0 })),
      };
    }
    if (col.sparseNames.has(using)) throw unsupported('queries on sparse vectors');
    const spec = specs.get(using);
    if (!spec) throw badInput(`Not existing vector name error: ${using}`);
    let vector: Float32Array;
    let exclude: PointId | undefined;
    if (typeof q === 'number' || typeof q === 'string') {
      exclude = normalizeId(q);
      const source = col.points.get(exclude);
      if (!source) throw pointNotFound(exclude);
      const v = source.vectors[using];
      if (!v) throw badInput(`Vector "${using}" is not found for point ${exclude}`);
      vector = v;
    } else {
      vector = parseQueryVector(specs, using, q);
    }
    checkIndexedFilter(col, body.filter, 'retrieve');
    const better = higherIsBetter(spec.distance);
    const threshold = body.score_threshold as number | null | undefined;
    const scored: Array<{ p: Point; s: number }> = [];
    for (const p of col.points.values()) {
      const v = p.vectors[using];
      if (!v || p.id === exclude || !matchesFilter(body.filter, p)) continue;
      const s = Math.fround(similarity(spec.distance, vector, v));
      if (threshold != null && (better ? s < threshold : s > threshold)) continue;
      scored.push({ p, s });
    }
    scored.sort((a, b) => (better ? b.s - a.s : a.s - b.s) || compareIds(a.p.id, b.p.id));
    return {
      points: scored
        .slice(offset, offset + limit)
        .map(({ p, s }) => record(specs, p, withPayload, withVector, { version: p.version, score: f32(s) })),
    };
  }

  function recover(name: string, snapshot: Buffer, checksum: string | null | undefined): boolean {
    if (checksum) {
      const actual = sha256(snapshot);
      if (actual !== checksum.toLowerCase())
        throw badInput(`Snapshot checksum mismatch: expected ${checksum}, got ${actual}`);
    }
    const { state, points } = parseSnapshot(snapshot);
    let col = store.find(name);
    if (col) {
      const [mine, theirs] = [col.state.config.params, state.config.params];
      if (canonical(mine.vectors) !== canonical(theirs.vectors)) {
        throw badInput(
          `Snapshot is not compatible with existing collection: Collection vectors: ${canonical(mine.vectors)} Snapshot Vectors: ${canonical(theirs.vectors)}`,
        );
      }
      if (mine.shard_number !== theirs.shard_number) {
        throw badInput(
          `Snapshot is not compatible with existing collection: Collection shard number: ${mine.shard_number} Snapshot shard number: ${theirs.shard_number}`,
        );
      }
    } else {
      col = store.create(name, state);
    }
    col.replacePoints(points);
    return true;
  }

  async function fetchSnapshot(location: string, apiKey: unknown): Promise<Buffer> {
    const url = new URL(location);
    if (url.protocol === 'file:') {
      let path: string;
      try {
        path = fileURLToPath(url);
      } catch {
        throw badRequest('Invalid snapshot URI, file path must be absolute or on localhost');
      }
      if (!existsSync(path)) throw badRequest(`Snapshot file ${JSON.stringify(path)} does not exist`);
      const real = realpathSync(path);
      const allowed = realpathSync(snapshotsDir);
      if (!real.startsWith(allowed + sep)) {
        throw forbidden(`Snapshot file path must be inside the snapshots directory ${JSON.stringify(allowed)}`);
      }
      return readFile(real);
    }
    if (url.protocol === 'http:' || url.protocol === 'https:') {
      if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
        throw forbidden('the Qdrant double only recovers snapshots from localhost URLs');
      }
      const res = await fetch(url, { headers: typeof apiKey === 'string' ? { 'api-key': apiKey } : {} });
      if (!res.ok) throw badRequest(`Failed to download snapshot from ${location}: status - ${res.status}`);
      return Buffer.from(await res.arrayBuffer());
    }
    throw badRequest(`URL ${location} with scheme ${url.protocol.slice(0, -1)} is not supported`);
  }

  const handlers: Record<string, (ctx: Ctx) => Reply | Promise<Reply>> = {
    root: () => ({ kind: 'json', body: VERSION }),
    healthz: () => ({ kind: 'bytes', body: 'healthz check passed', contentType: TEXT }),
    livez: () => ({ kind: 'bytes', body: 'healthz check passed', contentType: TEXT }),
    readyz: () => ({ kind: 'bytes', body: 'all shards are ready', contentType: TEXT }),
    get_collections: () => ok({ collections: [...store.collections.keys()].sort().map((name) => ({ name })) }),
    get_collection: ({ params }) => ok(collectionInfo(store.get(params.collection_name ?? ''))),
    create_collection: ({ params, body }) => {
      store.create(params.collection_name ?? '', { config: buildConfig(body), payload_schema: {} });
      return ok(true);
    },
    update_collection: ({ params, body }) => {
      const col = store.get(params.collection_name ?? '');
      col.state = { ...col.state, config: updateConfig(col.state.config, body) };
      col.saveConfig();
      return ok(true);
    },
    delete_collection: ({ params }) => ok(store.delete(params.collection_name ?? '')),
    collection_exists: ({ params }) => ok({ exists: store.find(params.collection_name ?? '') !== undefined }),
    update_aliases: ({ body }) => {
      store.updateAliases(body.actions as Obj[]);
      return ok(true);
    },
    get_collections_aliases: () =>
      ok({
        aliases: [...store.aliases]
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([alias_name, collection_name]) => ({ alias_name, collection_name })),
      }),
    get_collection_aliases: ({ params }) =>
      ok({
        aliases: [...store.aliases]
          .filter(([, c]) => c === params.collection_name)
          .map(([alias_name, collection_name]) => ({ alias_name, collection_name })),
      }),
    create_field_index: ({ params, body, query: q }) => {
      const col = store.get(params.collection_name ?? '');
      const schema = body.field_schema;
      if (schema == null) throw badInput('Field schema is required to create a payload index');
      const dataType = typeof schema === 'string' ? schema : String((schema as Obj).type);
      col.state.payload_schema[String(body.field_name)] = {
        data_type: dataType,
        ...(isObj(schema) && { params: indexParams(dataType, schema) }),
      };
      col.saveConfig();
      return updateResult(col.bumpOp(), q.wait);
    },
    delete_field_index: ({ params, query: q }) => {
      const col = store.get(params.collection_name ?? '');
      delete col.state.payload_schema[params.field_name ?? ''];
      col.saveConfig();
      return updateResult(col.bumpOp(), q.wait);
    },
    upsert_points: ({ params, body, query: q }) => {
      const col = store.get(params.collection_name ?? '');
      if (body.shard_key != null) throw unsupported('shard_key');
      const op = col.upsert(toPoints(col, body), body.update_mode as string | null, body.update_filter);
      return updateResult(op, q.wait);
    },
    delete_points: ({ params, body, query: q }) => {
      const col = store.get(params.collection_name ?? '');
      if (!Array.isArray(body.points)) checkIndexedFilter(col, body.filter, 'update');
      const ids = Array.isArray(body.points)
        ? body.points.map(normalizeId)
        : [...col.points.values()].filter((p) => matchesFilter(body.filter, p)).map((p) => p.id);
      return updateResult(col.delete(ids), q.wait);
    },
    get_point: ({ params, path }) => {
      const col = store.get(params.collection_name ?? '');
      const id = normalizeId(path.id);
      const p = col.points.get(id);
      if (!p) throw pointNotFound(id);
      return ok(record(col.vectorSpecs, p, true, true));
    },
    get_points: ({ params, body }) => {
      const col = store.get(params.collection_name ?? '');
      const ids = [...new Set((body.ids as unknown[]).map(normalizeId))];
      return ok(
        ids.flatMap((id) => {
          const p = col.points.get(id);
          return p ? [record(col.vectorSpecs, p, body.with_payload ?? true, body.with_vector ?? false)] : [];
        }),
      );
    },
    scroll_points: ({ params, body }) => ok(scroll(store.get(params.collection_name ?? ''), body)),
    count_points: ({ params, body }) => {
      const col = store.get(params.collection_name ?? '');
      if (body.filter == null) return ok({ count: col.points.size });
      checkIndexedFilter(col, body.filter, 'retrieve');
      let count = 0;
      for (const p of col.points.values()) if (matchesFilter(body.filter, p)) count++;
      return ok({ count });
    },
    query_points: ({ params, body }) => ok(query(store.get(params.collection_name ?? ''), body)),
    query_batch_points: ({ params, body }) => {
      const col = store.get(params.collection_name ?? '');
      return ok((body.searches as Obj[]).map((s) => query(col, s)));
    },
    create_snapshot: ({ params, query: q }) => {
      const col = store.get(params.collection_name ?? '');
      const points = [...col.points.values()];
      const state = structuredClone(col.state);
      return inBackground(q.wait, () =>
        writeSnapshot(join(snapshotsDir, col.name), snapshotName(col.name), state, points),
      );
    },
    list_snapshots: async ({ params }) =>
      ok(await listSnapshots(join(snapshotsDir, store.get(params.collection_name ?? '').name))),
    get_snapshot: async ({ params }) => {
      const col = store.get(params.collection_name ?? '');
      try {
        const path = await snapshotPath(join(snapshotsDir, col.name), params.snapshot_name ?? '');
        return { kind: 'bytes', body: await readFile(path), contentType: 'application/octet-stream' };
      } catch (err) {
        // Qdrant answers a missing snapshot file in plain text, not in its JSON envelope
        if (err instanceof QdrantError && err.status === 404) {
          return { kind: 'bytes', status: 404, body: err.message, contentType: TEXT };
        }
        throw err;
      }
    },
    delete_snapshot: async ({ params, query: q }) => {
      const col = store.get(params.collection_name ?? '');
      const path = await snapshotPath(join(snapshotsDir, col.name), params.snapshot_name ?? '');
      return inBackground(q.wait, async () => {
        await rm(path, { force: true });
        await rm(`${path}.checksum`, { force: true });
        return true;
      });
    },
    recover_from_snapshot: ({ params, body, query: q }) => {
      const invalid = checksumRejection(body.checksum, 'JSON body');
      if (invalid) throw invalid;
      const name = params.collection_name ?? '';
      return inBackground(q.wait, async () =>
        recover(name, await fetchSnapshot(String(body.location), body.api_key), body.checksum as string | null),
      );
    },
    recover_from_uploaded_snapshot: async ({ params, query: q, raw, contentType }) => {
      const invalid = checksumRejection(q.checksum, 'query parameters');
      if (invalid) throw invalid;
      const part = parseMultipart(raw, contentType).get('snapshot');
      if (!part) throw new QdrantError(400, 'Multipart error: field `snapshot` is missing', true);
      const actual = sha256(part.data);
      if (typeof q.checksum === 'string' && actual !== q.checksum.toLowerCase()) {
        // Qdrant's ChecksumMismatch names the computed hash "expected" and the given one "actual".
        throw new QdrantError(400, `Checksum mismatch: expected ${actual}, actual ${q.checksum}`);
      }
      const name = params.collection_name ?? '';
      const dir = join(snapshotsDir, name);
      mkdirSync(dir, { recursive: true });
      const file = join(dir, basename(part.filename ?? '') || randomUUID());
      await writeFile(file, part.data);
      await rm(`${file}.checksum`, { force: true });
      return inBackground(q.wait, async () => recover(name, part.data, null));
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const at = Date.now();
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://double');
    const where = `${method} ${url.pathname}${url.search}`;
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch {
      return; // the client went away mid-request; nothing to answer
    }
    const raw = Buffer.concat(chunks);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    const drop = dropCount > 0 && dropCount-- > 0;
    const match = spec.match(method, url.pathname);

    const send = (status: number, body: Buffer, contentType: string): void => {
      requests.push({ method, path: url.pathname, status, at });
      if (!drop) {
        res.writeHead(status, { 'content-type': contentType, 'content-length': body.length });
        res.end(body);
        return;
      }
      res.writeHead(status, { 'content-type': contentType, 'content-length': Math.max(body.length, 1) });
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => req.socket.destroy());
    };
    const sendJson = (status: number, body: Obj): void => {
      const problem = spec.validateResponse(match, status, body);
      if (problem) violations.push(`${where}: response ${status} does not match the spec: ${problem}`);
      send(status, Buffer.from(JSON.stringify(body)), 'application/json');
    };
    const time = () => (performance.now() - started) / 1000;
    const sendError = (status: number, message: string, violation?: string): void => {
      if (violation) violations.push(`${where}: ${violation}`);
      sendJson(status, { status: { error: message }, time: time() });
    };

    if (failCount > 0) {
      failCount--;
      return sendError(failStatus, `Service unavailable: fault injected by the Qdrant double (HTTP ${failStatus})`);
    }
    const whitelisted = ['/', '/healthz'].includes(url.pathname) || /^\/(readyz|livez)/.test(url.pathname);
    if (opts.apiKey && !whitelisted) {
      const auth = req.headers.authorization;
      const given = req.headers['api-key'] ?? (auth?.startsWith('Bearer ') ? auth.slice(7) : undefined);
      if (given === undefined)
        return send(401, Buffer.from('Must provide an API key or an Authorization bearer token'), TEXT);
      if (given !== opts.apiKey) return send(401, Buffer.from('Invalid API key or JWT'), TEXT);
    }
    if (!match) {
      violations.push(`${where}: no such operation in the Qdrant OpenAPI spec`);
      return send(404, Buffer.alloc(0), TEXT);
    }
    const opId = match.op.operationId;
    const rule = takeRule(method, url.pathname, opId);
    const ruleStatus = rule?.status ?? 400;
    const ruleMessage =
      rule?.message ??
      (ruleStatus >= 500
        ? `Service internal error: ${opId} failed (fault injected by the Qdrant double)`
        : `Bad request: ${opId} refused (fault injected by the Qdrant double)`);
    const refuse = (): void =>
      TEXT_OPS.has(opId) ? send(ruleStatus, Buffer.from(ruleMessage), TEXT) : sendError(ruleStatus, ruleMessage);
    if (rule && !rule.after) return refuse();
    const name = match.params.collection_name;
    if (name !== undefined) {
      const strict = opId === 'create_collection' || opId === 'recover_from_uploaded_snapshot';
      const bad = [...(strict ? '<>:"/\\|?*\0\x1f' : '/\0')].find((c) => name.includes(c));
      if (bad || name.length < 1 || name.length > 255 || name === '.' || name === '..') {
        const why = bad ? `collection name cannot contain "${bad}" char` : 'length must be between 1 and 255';
        return sendError(
          422,
          `Validation error in path parameters: [collection_name: ${why}]`,
          'invalid collection name',
        );
      }
    }
    const path = spec.validateParams(match, 'path', new Map(Object.entries(match.params)));
    if ('status' in path) return sendError(path.status, path.message, `path rejected by the spec: ${path.message}`);
    const q = spec.validateParams(match, 'query', new Map(url.searchParams));
    if ('status' in q) return sendError(q.status, q.message, `query rejected by the spec: ${q.message}`);

    const contentType = req.headers['content-type'] ?? '';
    let body: Obj = {};
    const accepts = spec.requestContentTypes(match);
    if (accepts.includes('application/json')) {
      const mime = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
      if (mime !== 'application/json' && !mime.endsWith('+json')) {
        return sendError(400, 'Content type error', `request without a JSON content type (${contentType || 'none'})`);
      }
      if (raw.length > MAX_JSON_BYTES) {
        const msg = `JSON payload (${raw.length} bytes) is larger than allowed (limit: ${MAX_JSON_BYTES} bytes).`;
        return sendError(400, msg, 'request body larger than Qdrant accepts');
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString('utf8')) as unknown;
      } catch (err) {
        const msg = `Format error in JSON body: ${(err as Error).message}`;
        return sendError(400, msg, `request body is not JSON: ${msg}`);
      }
      const rejected = spec.validateBody(match, parsed);
      if (rejected)
        return sendError(rejected.status, rejected.message, `request body rejected by the spec: ${rejected.message}`);
      body = parsed as Obj;
    } else if (
      accepts.includes('multipart/form-data') &&
      !contentType.toLowerCase().startsWith('multipart/form-data')
    ) {
      return sendError(
        400,
        'Multipart error: Content-Type is not multipart/form-data',
        'upload without multipart body',
      );
    }

    try {
      const handler = handlers[opId];
      if (!handler) throw unsupported(`operation ${opId}`);
      const reply = await handler({ params: match.params, path: path.values, query: q.values, body, raw, contentType });
      if (rule) return refuse();
      if (reply.kind === 'bytes') return send(reply.status ?? 200, Buffer.from(reply.body), reply.contentType);
      if (reply.kind === 'json') return sendJson(reply.status ?? 200, reply.body as Obj);
      return sendJson(reply.status ?? 200, { result: reply.result, status: 'ok', time: time() });
    } catch (err) {
      if (err instanceof QdrantError) {
        return sendError(err.status, err.message, err.violation ? err.message : undefined);
      }
      const msg = `Service internal error: ${(err as Error).stack ?? String(err)}`;
      return sendError(500, msg, `the double failed: ${msg}`);
    }
  }

  const server = createServer((req, res) => {
    track(
      handle(req, res).catch((err: unknown) => {
        violations.push(`${req.method} ${req.url}: the double failed: ${String(err)}`);
        res.destroy();
      }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    snapshotsDir,
    violations,
    requests,
    faults: {
      failNext(n, status = 503) {
        failCount = n;
        failStatus = status;
      },
      delay(ms) {
        delayMs = ms;
      },
      dropNext(n) {
        dropCount = n;
      },
      failWhen(rule) {
        if (rule.path === undefined && rule.operationId === undefined && rule.method === undefined)
          throw new Error('failWhen needs a method, path or operationId: use failNext to fail everything');
        const r = { ...rule, left: rule.times ?? 1, hit: 0, skipLeft: rule.skip ?? 0 };
        rules.push(r);
        return { hits: () => r.hit, clear: () => void (r.left = 0) };
      },
    },
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
      server.closeAllConnections();
      await closed;
      store.close();
    },
  };
}
