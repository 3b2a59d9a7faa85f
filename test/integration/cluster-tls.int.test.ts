// A cluster that requires mTLS (scripts/cluster.ts with tls: a private CA, the frontend's certificate, a client
// certificate): a worker process and the client configured only through the TEMPORAL_TLS_* variables run a Docker
// rollback end to end; a plain connection and a TLS one without the client certificate are refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Connection } from '@temporalio/client';
import { connect, startDockerRollback, waitResult, type RollbackClient } from '../../client/client.ts';
import { loadTemporalSettings } from '../../common/config.ts';
import { connectionOptions } from '../../common/connection.ts';
import { BAD, docker, ensureImages, GOOD, imageId, removeByPrefix, startApp } from '../helpers/docker.ts';
import { startTestCluster, type TestCluster } from '../helpers/cluster.ts';
import { APPROVER, REQUESTER, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

describe('a real cluster that requires mTLS, reached through the TEMPORAL_TLS_* variables', () => {
  let cluster: TestCluster;
  let worker: WorkerProcess | undefined;
  let rc: RollbackClient | undefined;
  const name = `cluster-tls-mcp-${Date.now().toString(36)}`;

  before(async () => {
    await ensureImages();
    cluster = await startTestCluster((m) => console.log(`[cluster] ${m}`), { tls: true });
  });
  after(async () => {
    await worker?.kill();
    await rc?.close();
    await removeByPrefix(name);
    await cluster?.stop();
  });

  it('a worker and the client with the certificate files from the environment roll a container back', async () => {
    const taskQueue = uniqueQueue('cluster-tls');
    worker = spawnWorker({ address: cluster.address, taskQueue, extra: cluster.env }, ['--identity', 'cluster-tls']);
    await worker.ready;
    rc = await connect(loadTemporalSettings({ ...cluster.env, TEMPORAL_TASK_QUEUE: taskQueue }));
    const app = await startApp(name, BAD);
    const { workflowId } = await startDockerRollback(rc, {
      containerName: name,
      targetImage: GOOD,
      healthUrl: app.healthUrl,
      reason: 'cluster tls test',
      requestedBy: REQUESTER,
      monitor: { durationSeconds: 0 },
      approval: { preApproved: APPROVER.application },
    });
    const r = await waitResult(rc, workflowId);
    assert.ok(r.ok, `${JSON.stringify(r)}\n${worker.output()}`);
    assert.equal(r.result.outcome, 'succeeded');
    assert.equal((await docker.getContainer(name).inspect()).Image, await imageId(GOOD));
  });

  it('refuses a plain connection and a TLS one without the client certificate', async () => {
    const env = cluster.env;
    const attempt = (vars: Record<string, string>) =>
      Connection.connect({ ...connectionOptions(loadTemporalSettings(vars)), connectTimeout: 5000 }).then((c) =>
        c.close(),
      );
    await assert.rejects(attempt({ TEMPORAL_ADDRESS: cluster.address }), 'plain gRPC refused');
    await assert.rejects(
      attempt({
        TEMPORAL_ADDRESS: cluster.address,
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: env.TEMPORAL_TLS_SERVER_CA_CERT_PATH!,
        TEMPORAL_TLS_SERVER_NAME: env.TEMPORAL_TLS_SERVER_NAME!,
      }),
      'TLS without a client certificate refused',
    );
    await attempt(env); // and the same call with the certificate succeeds
  });
});
