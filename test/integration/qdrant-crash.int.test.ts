// Crash safety of the long Qdrant transfers: the worker (a child process) is SIGKILLed in the middle of an
// emergency export and of a copy with re-embedding, once Temporal has recorded a checkpoint of the activity's
// attempt 1 (heartbeat details read from DescribeWorkflowExecution). The history then shows the call completed on
// attempt >= 2, starting from that checkpoint and reading only the pages after it (its result's resumedFrom and
// pagesRead); the export file has every point once, and the fault proxy's log (in front of a real Qdrant 1.18.3
// server) shows each remaining batch upserted once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { QdrantRecoveryResult } from '../../workflows/database/data-recovery.ts';
import type { QdrantSchemaRollbackResult } from '../../workflows/database/schema.ts';
import { startEmbeddings } from '../helpers/embeddings.ts';
import { activityRuns, untilPending } from '../helpers/history.ts';
import { count, seed, startTestQdrant, type TestQdrant } from '../helpers/qdrant.ts';
import { APPROVER, localEnv, REQUESTER, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

// the committed approval policy: roster approvers, the requester someone else (four eyes)
const EM = APPROVER.database;

describe('a SIGKILLed worker mid-transfer resumes from its checkpoint', () => {
  let env: TestWorkflowEnvironment;
  let q: TestQdrant;
  let embeddings: Awaited<ReturnType<typeof startEmbeddings>>;
  const workers: WorkerProcess[] = [];

  before(async () => {
    env = await localEnv();
    q = await startTestQdrant();
    embeddings = await startEmbeddings(4);
  });
  after(async () => {
    for (const w of workers) w.proc.kill('SIGKILL');
    await env?.teardown();
    await embeddings?.stop();
    await q?.stop();
    if (q) assert.deepEqual(q.violations, [], "every request sent to Qdrant is valid per Qdrant's OpenAPI spec");
  });

  const EXPORT_BATCH = 256; // qdrantExportNdjson's default page size

  /**
   * Runs the first worker until Temporal has recorded a checkpoint of `activity` (its attempt 1 heartbeated an
   * offset: it is mid-transfer), SIGKILLs it there and starts a replacement. Returns the checkpoint seen.
   */
  async function killAtCheckpoint(
    taskQueue: string,
    workflowId: string,
    activity: string,
  ): Promise<{ second: WorkerProcess; checkpoint: { nextOffset: number | null }; killedAt: number }> {
    const extra = {
      QDRANT_URL: q.url,
      CORTEX_BACKUP_DIR: join(q.tmp, 'backups'),
      CORTEX_EMBEDDINGS_URL: embeddings.url,
    };
    const handle = env.client.workflow.getHandle(workflowId);
    const first = spawnWorker({ address: env.address, taskQueue, extra }, ['--identity', 'qcrash-first']);
    workers.push(first);
    await first.ready;
    const pending = await untilPending(
      handle,
      activity,
      (a) => a.attempt === 1 && (a.heartbeat as { nextOffset?: unknown } | undefined)?.nextOffset != null,
      60_000,
    );
    await first.kill();
    const killedAt = Date.now(); // every request to Qdrant that arrives later comes from the replacement
    const second = spawnWorker({ address: env.address, taskQueue, extra }, ['--identity', 'qcrash-second']);
    workers.push(second);
    await second.ready;
    return { second, checkpoint: pending.heartbeat as { nextOffset: number | null }, killedAt };
  }

  /** The retried call of `activity`: it completed on attempt >= 2, resuming from at least `checkpoint`. */
  async function resumedRun(
    workflowId: string,
    activity: string,
    checkpoint: { nextOffset: number | null },
  ): Promise<{ resumedFrom: number; pagesRead: number }> {
    const runs = await activityRuns(env.client.workflow.getHandle(workflowId), activity);
    assert.equal(runs.length, 1, `${activity} scheduled once`);
    const run = runs[0]!;
    assert.ok(run.completed && run.attempt >= 2, `${activity} was interrupted and retried: ${JSON.stringify(run)}`);
    assert.equal(run.identity, 'qcrash-second', 'the retry ran on the replacement worker');
    const r = run.result as { resumedFrom: number | null; pagesRead: number };
    assert.ok(r.resumedFrom !== null, 'the retry started from a checkpoint, not from the start');
    // Heartbeats sent after the one the test saw may have reached the server before the kill: never an earlier one.
    assert.ok(r.resumedFrom >= checkpoint.nextOffset!, `resumed from ${r.resumedFrom} < ${checkpoint.nextOffset}`);
    return { resumedFrom: r.resumedFrom, pagesRead: r.pagesRead };
  }

  it('killed during the emergency export: the NDJSON file ends with every point exactly once', async (t) => {
    await seed(q.client, 'crash-export', 3000, 8);
    const taskQueue = uniqueQueue('qcrash');
    // a backup to recover from, taken before the worker dance starts
    const prep = spawnWorker({
      address: env.address,
      taskQueue,
      extra: { QDRANT_URL: q.url, CORTEX_BACKUP_DIR: join(q.tmp, 'backups') },
    });
    workers.push(prep);
    await prep.ready;
    await env.client.workflow.execute('qdrantBackup', {
      taskQueue,
      workflowId: uniqueQueue('backup'),
      args: [{ collection: 'crash-export', backupName: 'base' }],
    });
    await prep.kill();

    q.faults.delay(400);
    const workflowId = uniqueQueue('rollback-database-crash-export');
    await env.client.workflow.start('qdrantDataRecovery', {
      taskQueue,
      workflowId,
      args: [
        {
          collection: 'crash-export',
          backup: 'base',
          reason: 'crash test',
          requestedBy: REQUESTER,
          approval: { preApproved: EM },
        },
      ],
    });
    const { second, checkpoint } = await killAtCheckpoint(taskQueue, workflowId, 'qdrantExportNdjson');
    q.faults.delay(0);
    const r = (await env.client.workflow.getHandle(workflowId).result()) as QdrantRecoveryResult;
    await second.kill();
    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.emergencyExport?.exported, 3000);
    const { resumedFrom, pagesRead } = await resumedRun(workflowId, 'qdrantExportNdjson', checkpoint);
    // ids 1..3000 scroll in order: the retry read exactly the pages from its checkpoint on, fewer than the whole
    assert.equal(pagesRead, Math.ceil((3000 - resumedFrom + 1) / EXPORT_BATCH));
    assert.ok(pagesRead < Math.ceil(3000 / EXPORT_BATCH), `read ${pagesRead} pages: not the whole collection`);
    t.diagnostic(
      `checkpoint seen ${checkpoint.nextOffset}; retry resumed from ${resumedFrom}, read ${pagesRead} pages`,
    );
    const lines = (await readFile(r.emergencyExport.path, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 3000, 'no duplicated and no missing lines');
    const ids = lines.map((l) => (JSON.parse(l) as { id: number }).id);
    assert.deepEqual(
      ids,
      Array.from({ length: 3000 }, (_, i) => i + 1),
      'every point once, in scroll order',
    );
    assert.equal(await count(q.client, 'crash-export'), 3000);
  });

  it('killed during the import (copy with re-embedding): the new collection has the exact count', async (t) => {
    await seed(q.client, 'crash-import-v8', 2000, 8);
    await q.client.updateCollectionAliases({
      actions: [{ create_alias: { alias_name: 'crash-import', collection_name: 'crash-import-v8' } }],
    });
    const taskQueue = uniqueQueue('qcrash');
    const workflowId = uniqueQueue('rollback-database-crash-import');
    q.faults.delay(40);
    await env.client.workflow.start('qdrantSchemaRollback', {
      taskQueue,
      workflowId,
      args: [
        {
          collection: 'crash-import',
          target: { size: 4 },
          reembed: { contentField: 'content' },
          batchSize: 50,
          reason: 'crash test',
          requestedBy: REQUESTER,
          approval: { preApproved: EM },
        },
      ],
    });
    const { second, checkpoint, killedAt } = await killAtCheckpoint(taskQueue, workflowId, 'qdrantCopyPoints');
    q.faults.delay(0);
    const r = (await env.client.workflow.getHandle(workflowId).result()) as QdrantSchemaRollbackResult;
    await second.kill();
    assert.equal(r.outcome, 'succeeded');
    assert.equal(await count(q.client, r.to.collection), 2000);
    assert.equal(await count(q.client, 'crash-import'), 2000);
    const { resumedFrom, pagesRead } = await resumedRun(workflowId, 'qdrantCopyPoints', checkpoint);
    assert.equal(pagesRead, Math.ceil((2000 - resumedFrom + 1) / 50));
    assert.ok(pagesRead < 2000 / 50, `read ${pagesRead} pages: not the whole collection`);
    t.diagnostic(
      `checkpoint seen ${checkpoint.nextOffset}; retry resumed from ${resumedFrom}, read ${pagesRead} pages`,
    );
    // The proxy's log: after the kill, each remaining batch was upserted once (one upsert per page read);
    // before it, the dead attempt had upserted at least every batch up to its checkpoint.
    const upserts = q.requests.filter((x) => x.method === 'PUT' && x.path === `/collections/${r.to.collection}/points`);
    assert.equal(upserts.filter((x) => x.at > killedAt).length, pagesRead, 'each batch after the checkpoint once');
    assert.ok(upserts.filter((x) => x.at <= killedAt).length >= (resumedFrom - 1) / 50);
    const copy = r.timeline.filter((s) => s.name.startsWith('copy '));
    assert.ok(copy.length === 1 && copy[0]!.state === 'completed');
  });
});
