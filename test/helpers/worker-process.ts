// A worker as a child process (`node --import tsx workers/main.ts`), so tests can SIGKILL it mid-rollback
// exactly as a crash would, and start a replacement.
import { execa, type ResultPromise } from 'execa';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../common/tools.ts';
import { RUNBOOK_APPROVAL_POLICY } from './approval-policy.ts';

export interface WorkerProcess {
  proc: ResultPromise;
  output: () => string;
  ready: Promise<void>;
  kill: () => Promise<void>;
}

export function spawnWorker(
  env: { address: string; taskQueue: string; extra?: Record<string, string>; script?: string },
  args: string[] = [],
): WorkerProcess {
  let out = '';
  const script = env.script ?? join(PROJECT_ROOT, 'workers', 'main.ts');
  const proc = execa('node', ['--import', 'tsx', script, ...args], {
    cwd: PROJECT_ROOT,
    env: {
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_TASK_QUEUE: env.taskQueue,
      TEMPORAL_NAMESPACE: 'default',
      // the committed policy unless the test says otherwise
      CORTEX_APPROVAL_POLICY: process.env.CORTEX_APPROVAL_POLICY ?? RUNBOOK_APPROVAL_POLICY,
      ...env.extra,
    },
    reject: false,
    all: true,
    buffer: false,
  });
  const ready = new Promise<void>((resolve, reject) => {
    proc.all?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('polling task queue')) resolve();
    });
    void proc.then((r) => reject(new Error(`worker exited (${r.exitCode ?? r.signal}) before it was ready:\n${out}`)));
  });
  ready.catch(() => undefined);
  return {
    proc,
    output: () => out,
    ready,
    kill: async () => {
      proc.kill('SIGKILL');
      await proc;
    },
  };
}
