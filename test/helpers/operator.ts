// The two doors the README gives an operator, for the acceptance tests: the project CLI (`cortex-rollback`, run as
// `node --import tsx client/cli.ts`, which is what client/bin.js loads) and the plain temporal CLI
// (.tools/bin/temporal), both pointed at a test's dev server and task queue; plus the wait for a run's approval
// request under the policy.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { execa, type Result } from 'execa';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { PROJECT_ROOT, temporalCliPath } from '../../common/tools.ts';
import { statusQuery, type RollbackStatus } from '../../workflows/phases/progress.ts';
import { waitFor } from './docker.ts';

export interface Operator {
  /** `cortex-rollback <args>`; resolves with the exit code and output (never rejects). */
  cli: (...args: string[]) => Promise<Result<{ reject: false }>>;
  /** `temporal <args> --address … --namespace default`. */
  temporal: (...args: string[]) => Promise<Result<{ reject: false }>>;
  /** `temporal workflow start --type … --task-queue … --workflow-id … --input '<json>'`, asserted to exit 0. */
  temporalStart: (type: string, workflowId: string, input: object) => Promise<void>;
  /** `temporal workflow signal --workflow-id … --name <name> --input '<json>'`, asserted to exit 0. */
  temporalSignal: (workflowId: string, name: string, input: object) => Promise<void>;
  /** `temporal workflow query --type status -o json`: the status as the temporal CLI shows it. */
  temporalStatus: (workflowId: string) => Promise<RollbackStatus>;
  /** Waits until the run waits for a decision with the policy's request in its status (roles, contact). */
  awaitingApproval: (workflowId: string) => Promise<RollbackStatus>;
}

export function assertExit0(r: Result, what: string): void {
  assert.equal(r.exitCode, 0, `${what}: exit ${String(r.exitCode)}\n${String(r.stderr)}\n${String(r.stdout)}`);
}

export function operator(env: TestWorkflowEnvironment, taskQueue: string): Operator {
  const cli = (...args: string[]) =>
    execa('node', ['--import', 'tsx', join(PROJECT_ROOT, 'client', 'cli.ts'), ...args], {
      reject: false,
      cwd: PROJECT_ROOT,
      env: { TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', TEMPORAL_TASK_QUEUE: taskQueue },
    });
  const temporal = (...args: string[]) =>
    execa(temporalCliPath(), [...args, '--address', env.address, '--namespace', 'default'], { reject: false });
  return {
    cli,
    temporal,
    async temporalStart(type, workflowId, input) {
      const r = await temporal(
        'workflow',
        'start',
        '--type',
        type,
        '--task-queue',
        taskQueue,
        '--workflow-id',
        workflowId,
        '--input',
        JSON.stringify(input),
      );
      assertExit0(r, `temporal workflow start --type ${type}`);
    },
    async temporalSignal(workflowId, name, input) {
      const r = await temporal(
        'workflow',
        'signal',
        '--workflow-id',
        workflowId,
        '--name',
        name,
        '--input',
        JSON.stringify(input),
      );
      assertExit0(r, `temporal workflow signal --name ${name}`);
    },
    async temporalStatus(workflowId) {
      const r = await temporal('workflow', 'query', '--workflow-id', workflowId, '--type', 'status', '-o', 'json');
      assertExit0(r, 'temporal workflow query --type status');
      return (JSON.parse(String(r.stdout)) as { queryResult: RollbackStatus[] }).queryResult[0]!;
    },
    async awaitingApproval(workflowId) {
      const handle = env.client.workflow.getHandle(workflowId);
      let s: RollbackStatus | undefined;
      await waitFor(
        // the phase is set as the gate starts; the request (roles, contact) once the policy is loaded
        async () => {
          s = await handle.query(statusQuery).catch(() => undefined);
          return s?.phase === 'awaiting-approval' && s.pendingApproval !== undefined;
        },
        90_000,
        `${workflowId} awaiting approval`,
      );
      return s!;
    },
  };
}

/** The decisions of a run as [decision, approver, via]. */
export const decisions = (r: { approvals: Array<{ decision: string; approver: string; via: string }> }) =>
  r.approvals.map((a) => [a.decision, a.approver, a.via]);
