// Qdrant for integration tests. By default a real Qdrant 1.18.3 server process of its own (qdrant-server.ts) with the
// fault proxy (qdrant-fault-proxy.ts) in front: `url` and `client` go through the proxy, so `faults` and `requests`
// work as the double's do; `server` reaches the process itself (kill, restart) and `snapshotsDir` its snapshots path.
// With QDRANT_URL (and optional QDRANT_API_KEY, QDRANT_SNAPSHOTS_DIR) the proxy fronts that server instead and
// nothing is started (unless the caller needs an API key of its own). `{ double: true }` asks for the REST double
// (test/qdrant-double) for the few cases only it can produce; then `double` is set too. Plus deterministic seeding,
// and a checksum of a whole collection (every id, payload and vector) to prove a state is exactly what it was.
import { QdrantClient } from '@qdrant/js-client-rest';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startQdrantDouble, type QdrantDouble } from '../qdrant-double/server.ts';
import { startQdrantFaultProxy, type QdrantFaults, type QdrantRequestLog } from './qdrant-fault-proxy.ts';
import { startQdrantServer, type QdrantServer } from './qdrant-server.ts';

export interface TestQdrant {
  /** Where clients go: the fault proxy (or the double). */
  url: string;
  apiKey?: string;
  client: QdrantClient;
  /** The double's fault switches, on the proxy (or on the double itself). */
  faults: QdrantFaults;
  /** Every request answered through `url`. */
  requests: QdrantRequestLog;
  /** Requests through `url` that break Qdrant's OpenAPI spec (checked by the proxy, or by the double). */
  violations: string[];
  /** The server's snapshots folder (undefined for a QDRANT_URL server unless QDRANT_SNAPSHOTS_DIR names it). */
  snapshotsDir: string | undefined;
  /** The real server process this helper started (absent for QDRANT_URL and the double). */
  server?: QdrantServer;
  /** Only with `{ double: true }`. */
  double?: QdrantDouble;
  tmp: string;
  stop(): Promise<void>;
}

export interface TestQdrantOptions {
  /** The REST double instead of a real server: only for a case a real server cannot be made to produce. */
  double?: boolean;
  /** Require this API key: a server of its own is started even with QDRANT_URL set (that one has its own key). */
  apiKey?: string;
}

export async function startTestQdrant(opts: TestQdrantOptions = {}): Promise<TestQdrant> {
  const tmp = await mkdtemp(join(tmpdir(), 'cortex-qdrant-'));
  const removeTmp = () => rm(tmp, { recursive: true, force: true });
  if (opts.double) {
    const double = await startQdrantDouble({
      dataDir: join(tmp, 'qdrant'),
      ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
    });
    return {
      url: double.url,
      ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
      client: new QdrantClient({
        url: double.url,
        ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
        checkCompatibility: false,
      }),
      faults: double.faults,
      requests: double.requests,
      violations: double.violations,
      snapshotsDir: double.snapshotsDir,
      double,
      tmp,
      stop: async () => {
        await double.stop();
        await removeTmp();
      },
    };
  }
  const external = opts.apiKey ? undefined : process.env.QDRANT_URL;
  const server = external ? undefined : await startQdrantServer(opts.apiKey ? { apiKey: opts.apiKey } : {});
  const apiKey = external ? process.env.QDRANT_API_KEY || undefined : opts.apiKey;
  const proxy = await startQdrantFaultProxy(server?.url ?? (external as string));
  return {
    url: proxy.url,
    ...(apiKey ? { apiKey } : {}),
    client: new QdrantClient({ url: proxy.url, ...(apiKey ? { apiKey } : {}), checkCompatibility: false }),
    faults: proxy.faults,
    requests: proxy.requests,
    violations: proxy.violations,
    snapshotsDir: server?.snapshotsPath ?? (process.env.QDRANT_SNAPSHOTS_DIR || undefined),
    ...(server ? { server } : {}),
    tmp,
    stop: async () => {
      await proxy.stop();
      await server?.stop();
      await removeTmp();
    },
  };
}

export function vectorFor(id: number, dim: number): number[] {
  const v = Array.from({ length: dim }, (_, i) => Math.sin(id * 12.9898 + i * 78.233) + 0.01 * i);
  const n = Math.hypot(...v) || 1;
  return v.map((x) => x / n);
}

export async function seed(
  client: QdrantClient,
  collection: string,
  count: number,
  dim: number,
  startId = 1,
): Promise<void> {
  if (!(await client.collectionExists(collection)).exists) {
    await client.createCollection(collection, { vectors: { size: dim, distance: 'Cosine' } });
  }
  for (let i = 0; i < count; i += 256) {
    const ids = Array.from({ length: Math.min(256, count - i) }, (_, k) => startId + i + k);
    await client.upsert(collection, {
      wait: true,
      points: ids.map((id) => ({
        id,
        vector: vectorFor(id, dim),
        payload: { content: `memory item ${id}`, kind: 'observation' },
      })),
    });
  }
}

export async function count(client: QdrantClient, collection: string): Promise<number> {
  return (await client.count(collection, { exact: true })).count;
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
}

/**
 * sha256 over every point of a collection (or alias) — id, payload and vector, sorted by id, keys canonical — read
 * by scrolling all of it. Two collections with the same checksum hold the same points with the same content.
 */
export async function collectionChecksum(
  client: QdrantClient,
  collection: string,
): Promise<{ count: number; checksum: string; ids: Array<string | number> }> {
  const rows: Array<{ id: string | number; line: string }> = [];
  let offset: string | number | null | undefined;
  do {
    const page = await client.scroll(collection, {
      limit: 256,
      with_payload: true,
      with_vector: true,
      ...(offset != null ? { offset } : {}),
    });
    for (const p of page.points)
      rows.push({ id: p.id, line: canonical({ id: p.id, payload: p.payload ?? {}, vector: p.vector }) });
    offset = page.next_page_offset as string | number | null | undefined;
  } while (offset != null);
  rows.sort((a, b) =>
    typeof a.id === typeof b.id ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : typeof a.id === 'number' ? -1 : 1,
  );
  const h = createHash('sha256');
  for (const r of rows) h.update(`${r.line}\n`);
  return { count: rows.length, checksum: h.digest('hex'), ids: rows.map((r) => r.id) };
}

/** Where each alias points, as a plain object. */
export async function aliasMap(client: QdrantClient): Promise<Record<string, string>> {
  const { aliases } = await client.getAliases();
  return Object.fromEntries(aliases.map((a) => [a.alias_name, a.collection_name]));
}

/** Names of all collections, sorted. */
export async function collectionNames(client: QdrantClient): Promise<string[]> {
  return (await client.getCollections()).collections.map((c) => c.name).sort();
}
