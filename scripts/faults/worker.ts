// A warm standby worker for the fault matrix: connected, activities built, workflow bundle loaded — but polling
// only once it reads a line on stdin (the harness writes it the moment it SIGKILLs the active worker), so the worker
// that is killed is always the one that was running the rollback. (Not a signal: the SDK runtime treats SIGUSR2 as
// a shutdown request, and SIGUSR1 opens Node's inspector.)
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { parseArgs } from 'node:util';
import { createWorker } from '../../workers/worker.ts';

const go = new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
Runtime.install({ logger: new DefaultLogger('WARN') });
const { values } = parseArgs({ options: { identity: { type: 'string' } } });
const { worker, connection, taskQueue } = await createWorker(values.identity ? { identity: values.identity } : {});
console.log(`[worker] ${values.identity ?? process.pid} standby ready`);
await go;
process.stdin.pause();
console.log(`[worker] pid ${process.pid} polling task queue '${taskQueue}'`);
try {
  await worker.run();
} finally {
  await connection.close();
}
console.log('[worker] stopped');
