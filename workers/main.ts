// Worker entry point: `npm run worker [-- --host <name>]`. Connects to TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE,
// serves TEMPORAL_TASK_QUEUE (workflows + activities) or, with --host, that host's activity queue.
// Shuts down gracefully on SIGINT/SIGTERM (the SDK runtime's signal handlers drain in-flight tasks).
import { parseArgs } from 'node:util';
import { createWorker } from './worker.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { host: { type: 'string' }, identity: { type: 'string' } } });
  const { worker, connection, taskQueue } = await createWorker({
    ...(values.host ? { host: values.host } : {}),
    ...(values.identity ? { identity: values.identity } : {}),
  });
  console.log(`[worker] pid ${process.pid} polling task queue '${taskQueue}'`);
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
  console.log('[worker] stopped');
}

main().catch((err: unknown) => {
  console.error('[worker] fatal:', err instanceof Error ? err.message : err);
  process.exit(1);
});
