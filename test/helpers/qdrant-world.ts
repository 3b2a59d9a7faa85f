// One Qdrant test world for the integration suites: the real dev server, Qdrant (a real Qdrant 1.18.3 server behind
// the fault proxy, or QDRANT_URL's, or the double when asked: see qdrant.ts), a worker with the real activities on its
// own task queue, and optionally the deterministic embedder. stop() tears it all down in order and asserts that every
// request the activities sent was valid per Qdrant's OpenAPI spec.
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { join } from 'node:path';
import { createWorker } from '../../workers/worker.ts';
import { startEmbeddings } from './embeddings.ts';
import { startTestQdrant, type TestQdrant, type TestQdrantOptions } from './qdrant.ts';
import { localEnv, uniqueQueue } from './temporal.ts';

export interface QdrantWorld {
  env: TestWorkflowEnvironment;
  q: TestQdrant;
  taskQueue: string;
  backupRoot: string;
  embeddings?: Awaited<ReturnType<typeof startEmbeddings>>;
  stop(): Promise<void>;
}

export async function startQdrantWorld(opts: {
  queue: string;
  embedderSize?: number;
  qdrant?: TestQdrantOptions;
}): Promise<QdrantWorld> {
  const env = await localEnv();
  const q = await startTestQdrant(opts.qdrant);
  const embeddings = opts.embedderSize ? await startEmbeddings(opts.embedderSize) : undefined;
  const backupRoot = join(q.tmp, 'backups');
  const taskQueue = uniqueQueue(opts.queue);
  const { worker } = await createWorker({
    settings: { address: env.address, namespace: 'default', taskQueue },
    connection: env.nativeConnection,
    deps: {
      qdrant: {
        client: q.client,
        url: q.url,
        ...(q.apiKey ? { apiKey: q.apiKey } : {}),
        backupRoot,
        ...(embeddings ? { embeddings: { url: embeddings.url, model: 'test-embedder' } } : {}),
      },
    },
  });
  const running = worker.run();
  return {
    env,
    q,
    taskQueue,
    backupRoot,
    ...(embeddings ? { embeddings } : {}),
    async stop() {
      worker.shutdown();
      await running;
      await env.teardown();
      await embeddings?.stop();
      await q.stop();
      assert.deepEqual(q.violations, [], "every request the activities sent is valid per Qdrant's OpenAPI spec");
    },
  };
}
