// The load benchmark's worker process: the real workflows plus the bench baselines (bench/workflows), on stub
// activities (test/helpers/stub-activities.ts) and a no-op, with the production worker's tuning. Prints
// "polling task queue" when ready. Env: TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE, BENCH_TUNING (JSON worker options
// over the production tuning, to try others).
import { bundleWorkflowCode, NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { join } from 'node:path';
import { dataConverter, encodesFailures, FAILURE_CONVERTER_PATH } from '../common/codec.ts';
import { loadTemporalSettings } from '../common/config.ts';
import { connectionOptions } from '../common/connection.ts';
import { PROJECT_ROOT } from '../common/tools.ts';
import { stubActivities } from '../test/helpers/stub-activities.ts';
import '../test/helpers/temporal.ts';
import { workerTuning } from '../workers/worker.ts';

const noop = (): void => undefined;
const converter = dataConverter(); // the clients' (CORTEX_CODEC_KEYS), failures encoded with it
const { code } = await bundleWorkflowCode({
  workflowsPath: join(PROJECT_ROOT, 'bench', 'workflows', 'index.ts'),
  ...(encodesFailures(converter) ? { failureConverterPath: FAILURE_CONVERTER_PATH } : {}),
  logger: { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop },
});
const connection = await NativeConnection.connect(connectionOptions(loadTemporalSettings()));
const taskQueue = process.env.TEMPORAL_TASK_QUEUE!;
const worker = await Worker.create({
  connection,
  taskQueue,
  workflowBundle: { code },
  dataConverter: converter,
  activities: { ...stubActivities({}).activities, noop: async () => undefined },
  ...workerTuning,
  ...(JSON.parse(process.env.BENCH_TUNING ?? '{}') as Partial<WorkerOptions>),
});
console.log(`[bench worker] pid ${process.pid} polling task queue '${taskQueue}'`);
await worker.run();
await connection.close();
