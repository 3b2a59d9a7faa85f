// Qdrant for integration tests: the double (test/qdrant-double) in a temp dir, or a real Qdrant when QDRANT_URL
// (and optional QDRANT_API_KEY) is set. Plus deterministic seeding, and a checksum of a whole collection (every id,
// payload and vector) to prove a state is exactly what it was.
import { QdrantClient } from '@qdrant/js-client-rest';
import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startQdrantDouble, type QdrantDouble } from '../qdrant-double/server.ts';

export interface TestQdrant {
  url: string;
  apiKey?: string;
  client: QdrantClient;
  double?: QdrantDouble;
  tmp: string;
  stop(): Promise<void>;
}

export async function startTestQdrant(): Promise<TestQdrant> {
  const tmp = await mkdtemp(join(tmpdir(), 'cortex-qdrant-'));
  const real = process.env.QDRANT_URL;
  const apiKey = process.env.QDRANT_API_KEY;
  if (real) {
    return {
      url: real,
      ...(apiKey ? { apiKey } : {}),
      client: new QdrantClient({ url: real, ...(apiKey ? { apiKey } : {}), checkCompatibility: false }),
      tmp,
      stop: async () => undefined,
    };
  }
  const double = await startQdrantDouble({ dataDir: join(tmp, 'qdrant') });
  return {
    url: double.url,
    client: new QdrantClient({ url: double.url, checkCompatibility: false }),
    double,
    tmp,
    stop: () => double.stop(),
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
