// Crash safety of the long Qdrant transfers: the worker (a child process) is SIGKILLed in the middle of an
// emergency export and in the middle of an import (copy with re-embedding); a replacement worker resumes from the
// heartbeated checkpoint and the result has the exact count and no duplicates.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { QdrantRecoveryResult, QdrantSchemaRollbackResult } from '../../workflows/qdrant.ts';
import { statusQuery } from '../../workflows/progress.ts';
import { waitFor } from '../helpers/docker.ts';
import { startEmbeddings } from '../helpers/embeddings.ts';
import { count, seed, startTestQdrant, type TestQdrant } from '../helpers/qdrant.ts';
import { localEnv, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

const EM = { approver: 'erin', role: 'engineering-manager' };

describe(
  'a SIGKILLed worker mid-transfer resumes from its checkpoint',
  { skip: process.env.QDRANT_URL ? "slows the transfer with the double's delay switch" : false },
  () => {
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
      if (q?.double) assert.deepEqual(q.double.violations, []);
      await q?.stop();
    });

    /** The attempt number the given activity type completed on (> 1: the kill interrupted it and it was retried). */
    async function completedAttempt(workflowId: string, activityType: string): Promise<number> {
      const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
      const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activityType);
      const started = events.find(
        (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(scheduled?.eventId),
      );
      return started?.activityTaskStartedEventAttributes?.attempt ?? 0;
    }

    async function killDuring(taskQueue: string, workflowId: string, stepPrefix: string): Promise<WorkerProcess> {
      const extra = {
        QDRANT_URL: q.url,
        CORTEX_BACKUP_DIR: join(q.tmp, 'backups'),
        CORTEX_EMBEDDINGS_URL: embeddings.url,
      };
      const handle = env.client.workflow.getHandle(workflowId);
      const first = spawnWorker({ address: env.address, taskQueue, extra });
      workers.push(first);
      await first.ready;
      await waitFor(
        async () =>
          (await handle.query(statusQuery)).steps.some((s) => s.name.startsWith(stepPrefix) && s.state === 'running'),
        60_000,
        `${stepPrefix} running`,
      );
      await new Promise((r) => setTimeout(r, 1500)); // some pages are done and checkpointed
      await first.kill();
      const second = spawnWorker({ address: env.address, taskQueue, extra });
      workers.push(second);
      await second.ready;
      return second;
    }

    it('killed during the emergency export: the NDJSON file ends with every point exactly once', async () => {
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

      q.double!.faults.delay(400);
      const workflowId = uniqueQueue('rollback-database-crash-export');
      await env.client.workflow.start('qdrantDataRecovery', {
        taskQueue,
        workflowId,
        args: [
          {
            collection: 'crash-export',
            backup: 'base',
            reason: 'crash test',
            requestedBy: 'test',
            approval: { preApproved: EM },
          },
        ],
      });
      const second = await killDuring(taskQueue, workflowId, 'emergency-export');
      q.double!.faults.delay(0);
      const r = (await env.client.workflow.getHandle(workflowId).result()) as QdrantRecoveryResult;
      await second.kill();
      assert.equal(r.outcome, 'succeeded');
      assert.equal(r.emergencyExport?.exported, 3000);
      assert.ok(
        (await completedAttempt(workflowId, 'qdrantExportNdjson')) >= 2,
        'the export was interrupted and retried',
      );
      const lines = (await readFile(r.emergencyExport.path, 'utf8')).trim().split('\n');
      assert.equal(lines.length, 3000, 'no duplicated and no missing lines');
      assert.equal(new Set(lines.map((l) => (JSON.parse(l) as { id: number }).id)).size, 3000);
      assert.equal(await count(q.client, 'crash-export'), 3000);
    });

    it('killed during the import (copy with re-embedding): the new collection has the exact count', async () => {
      await seed(q.client, 'crash-import-v8', 2000, 8);
      await q.client.updateCollectionAliases({
        actions: [{ create_alias: { alias_name: 'crash-import', collection_name: 'crash-import-v8' } }],
      });
      const taskQueue = uniqueQueue('qcrash');
      const workflowId = uniqueQueue('rollback-database-crash-import');
      q.double!.faults.delay(40);
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
            requestedBy: 'test',
            approval: { preApproved: EM },
          },
        ],
      });
      const second = await killDuring(taskQueue, workflowId, 'copy ');
      q.double!.faults.delay(0);
      const r = (await env.client.workflow.getHandle(workflowId).result()) as QdrantSchemaRollbackResult;
      await second.kill();
      assert.equal(r.outcome, 'succeeded');
      assert.equal(await count(q.client, r.to.collection), 2000);
      assert.equal(await count(q.client, 'crash-import'), 2000);
      assert.ok((await completedAttempt(workflowId, 'qdrantCopyPoints')) >= 2, 'the copy was interrupted and retried');
      const copy = r.timeline.filter((s) => s.name.startsWith('copy '));
      assert.ok(copy.length === 1 && copy[0]!.state === 'completed');
    });
  },
);
