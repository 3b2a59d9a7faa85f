// Host worker entry point: `node --import tsx workers/host.ts --host <name> [--identity <id>]`, run ON the host it
// names (e.g. as a systemd service there). It serves only that host's activities (systemd, release folders,
// host-local health, Terraform) on task queue cortex-rollback-host-<name>; the workflows run on the main workers.
// Connects to TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE; drains in-flight tasks on SIGINT/SIGTERM.
import { NativeConnection, Worker } from '@temporalio/worker';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { createHostActivities } from '../activities/index.ts';
import { dataConverter } from '../common/codec.ts';
import { hostTaskQueue, loadTemporalSettings } from '../common/config.ts';
import { connectionOptions } from '../common/connection.ts';
import { networkBackupRootFromEnv, terraformFromEnv } from './worker.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { host: { type: 'string' }, identity: { type: 'string' } } });
  const host = values.host ?? process.env.CORTEX_HOST;
  if (!host) throw new Error('--host <name> (or CORTEX_HOST) is required: the host this worker runs on');
  const settings = loadTemporalSettings();
  const taskQueue = hostTaskQueue(host);
  const connection = await NativeConnection.connect(connectionOptions(settings));
  try {
    const worker = await Worker.create({
      connection,
      namespace: settings.namespace,
      taskQueue,
      activities: createHostActivities({
        terraform: terraformFromEnv(),
        networkBackupRoot: networkBackupRootFromEnv(),
      }),
      dataConverter: dataConverter(),
      shutdownGraceTime: '10s',
      identity: values.identity ?? `host-worker:${host}:${process.pid}@${hostname()}`,
    });
    console.log(`[host-worker] pid ${process.pid} polling task queue '${taskQueue}'`);
    await worker.run();
  } finally {
    await connection.close();
  }
  console.log('[host-worker] stopped');
}

main().catch((err: unknown) => {
  console.error('[host-worker] fatal:', err instanceof Error ? err.message : err);
  process.exit(1);
});
