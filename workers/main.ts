// Worker entry point: `npm run worker [-- --host <name>]`. Connects to TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE,
// serves TEMPORAL_TASK_QUEUE (workflows + activities) or, with --host, that host's activity queue.
// Shuts down gracefully on SIGINT/SIGTERM (the SDK runtime's signal handlers drain in-flight tasks).
// CORTEX_WORKER_METRICS_PORT (a port, or host:port; host default 127.0.0.1): the SDK runtime's Prometheus metrics
// (task latencies, slots, polls, activity/workflow outcomes) at http://<host:port>/metrics; off when unset.
import { parseArgs } from 'node:util';
import { Runtime } from '@temporalio/worker';
import { createWorker } from './worker.ts';

/** The Prometheus bind address from CORTEX_WORKER_METRICS_PORT, or undefined when metrics are off. */
export function metricsBindAddress(value: string | undefined): string | undefined {
  const v = value?.trim();
  if (!v || v === '0' || v === 'off') return undefined;
  const m = /^(?:(.+):)?(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) > 65535) throw new Error(`CORTEX_WORKER_METRICS_PORT must be a port or host:port, got '${v}'`);
  return `${m[1] ?? '127.0.0.1'}:${m[2]}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { host: { type: 'string' }, identity: { type: 'string' } } });
  const bindAddress = metricsBindAddress(process.env.CORTEX_WORKER_METRICS_PORT);
  if (bindAddress) {
    // before anything creates the default runtime (the connection in createWorker would)
    Runtime.install({ telemetryOptions: { metrics: { prometheus: { bindAddress } } } });
    console.log(`[worker] Prometheus metrics at http://${bindAddress}/metrics`);
  }
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
