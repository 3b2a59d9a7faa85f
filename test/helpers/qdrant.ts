// Qdrant for integration tests: the double (test/qdrant-double) in a temp dir, or a real Qdrant when QDRANT_URL
// (and optional QDRANT_API_KEY) is set. Plus deterministic seeding.
import { QdrantClient } from '@qdrant/js-client-rest';
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
