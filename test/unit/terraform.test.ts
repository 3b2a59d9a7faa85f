// Terraform pieces that need no binary: the plan summary from `show -json`, the input schema's refusals, and the
// apply activity's stale-versus-already-applied decision through an injected command runner.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import {
  createTerraformActivities,
  stateRefOf,
  summarizePlan,
  type CommandRunner,
} from '../../activities/terraform.ts';
import { parseInput } from '../../workflows/phases/schema.ts';
import { terraformRollbackInput, terraformRollbackWorkflowId } from '../../workflows/infrastructure/terraform.ts';

const state = (serial: number) => JSON.stringify({ version: 4, serial, lineage: 'L', resources: [] });

describe('terraform plan summary', () => {
  it('counts create/update/delete/replace per address and leaves no-ops out', () => {
    const show = JSON.stringify({
      resource_changes: [
        { address: 'a.one', change: { actions: ['no-op'] } },
        { address: 'a.two', change: { actions: ['update'] } },
        { address: 'a.three', change: { actions: ['delete', 'create'] } },
        { address: 'a.four', change: { actions: ['create', 'delete'] } },
        { address: 'a.five', change: { actions: ['delete'] } },
        { address: 'a.six', change: { actions: ['create'] } },
      ],
      output_changes: { x: { actions: ['update'] }, y: { actions: ['no-op'] } },
    });
    const { summary, hasChanges } = summarizePlan(show, { id: 'p', commit: 'c', state: stateRefOf(state(3)) });
    assert.equal(hasChanges, true);
    assert.deepEqual(summary.counts, { create: 1, update: 1, delete: 1, replace: 2, read: 0 });
    assert.equal(
      summary.changes.map((c) => `${c.address}:${c.action}`).join(' '),
      'a.two:update a.three:replace a.four:replace a.five:delete a.six:create',
    );
    assert.deepEqual(summary.outputChanges, [{ name: 'x', action: 'update' }]);
    assert.deepEqual(summary.state, { serial: 3, lineage: 'L', exists: true });
    assert.equal(summarizePlan('{}', { id: '', commit: '', state: stateRefOf('') }).hasChanges, false);
  });
});

describe('terraform rollback input', () => {
  const ok = { repo: '/srv/infra', commit: 'a1b2c3d', reason: 'r', requestedBy: 'me' };
  it('fills defaults and derives the business key', () => {
    const v = parseInput(terraformRollbackInput, ok);
    assert.equal(v.directory, '.');
    assert.equal(v.tool, 'tofu');
    assert.equal(v.maxPlanRounds, 3);
    assert.equal(v.approval.timeoutSeconds, 3600);
    assert.equal(terraformRollbackWorkflowId(v), 'rollback-terraform-infra');
    assert.equal(
      terraformRollbackWorkflowId({ repo: 'git@example.invalid:org/infra.git', directory: 'envs/prod', host: 'h1' }),
      'rollback-terraform-h1-infra-envs-prod',
    );
  });
  for (const [field, value, message] of [
    ['repo', 'relative/path', /neither an absolute path nor a git URL/],
    ['repo', 'https://user:secret@example.invalid/infra.git', /credentials/],
    ['directory', '../up', /relative directory/],
    ['directory', '/abs', /relative directory/],
    ['commit', '--upload-pack=touch /tmp/x', /not a commit/],
    ['commit', 'main..feature', /not a commit/],
    ['stateFile', 'state.tfstate', /absolute path/],
    ['tool', 'pulumi', /./],
    ['maxPlanRounds', 0, /from 1 to 10/],
  ] as const) {
    it(`refuses ${field} = ${JSON.stringify(value)}`, () => {
      assert.throws(
        () => parseInput(terraformRollbackInput, { ...ok, [field]: value }),
        (e: Error) => e.message.includes(`${field}:`) && message.test(e.message),
      );
    });
  }
});

describe('tfApply through an injected runner', () => {
  const workRoot = mkdtempSync(join(tmpdir(), 'tofu-unit-'));
  process.on('exit', () => rmSync(workRoot, { recursive: true, force: true }));

  function runner(
    serials: number[],
    planExit: number,
    applyOut: { exitCode: number; stderr: string },
  ): {
    run: CommandRunner;
    calls: string[];
  } {
    const calls: string[] = [];
    const run: CommandRunner = (_file, args) => {
      calls.push(args[0]!);
      const r = (exitCode: number, stdout = '', stderr = '') =>
        Promise.resolve({ exitCode, stdout, stderr, failed: exitCode !== 0 });
      if (args[0] === 'state') return r(0, state(serials.shift() ?? 99));
      if (args[0] === 'apply') return r(applyOut.exitCode, '', applyOut.stderr);
      if (args[0] === 'plan') return r(planExit);
      if (args[0] === 'show') return r(0, '{}');
      if (args[0] === 'output')
        return r(0, JSON.stringify({ x: { value: 'a' }, pw: { value: 's3', sensitive: true } }));
      return r(1, '', `unexpected ${args.join(' ')}`);
    };
    return { run, calls };
  }
  const expect = { serial: 5, lineage: 'L', exists: true };
  const call = (run: CommandRunner) =>
    createTerraformActivities({ run, workRoot, binary: () => '/bin/false' }).tfApply({
      workdir: workRoot,
      tool: 'tofu',
      planFile: 'p.tfplan',
      expect,
    });

  it('applies when the state is the planned one; sensitive outputs stay out of the result', async () => {
    const { run, calls } = runner([5, 6], 0, { exitCode: 0, stderr: '' });
    const r = await call(run);
    assert.deepEqual([r.applied, r.alreadyApplied, r.after.serial], [true, false, 6]);
    assert.deepEqual(r.outputs, { x: 'a', pw: '(sensitive)' });
    assert.deepEqual(calls, ['state', 'apply', 'state', 'output']);
  });
  it('a retry after apply finds the state moved and converged: already applied, no second apply', async () => {
    const { run, calls } = runner([6, 6], 0, { exitCode: 0, stderr: '' });
    const r = await call(run);
    assert.deepEqual([r.applied, r.alreadyApplied], [false, true]);
    assert.ok(!calls.includes('apply'));
  });
  it('a state moved elsewhere (plan shows changes) is a stale plan: Conflict, never applied', async () => {
    const { run, calls } = runner([7, 7], 2, { exitCode: 0, stderr: '' });
    await assert.rejects(call(run), (e: ApplicationFailure) => {
      assert.equal(e.type, 'Conflict');
      assert.deepEqual((e.details?.[0] as { stale?: boolean }).stale, true);
      return /the plan is stale/.test(e.message);
    });
    assert.ok(!calls.includes('apply'));
  });
  it('a retry of an apply that had started and left changes is a half-way failure (compensate), not a stale plan', async () => {
    const { run, calls } = runner([7, 7], 2, { exitCode: 0, stderr: '' });
    const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { applying: true } });
    const acts = createTerraformActivities({ run, workRoot, binary: () => '/bin/false' });
    await assert.rejects(
      retry.run(() => acts.tfApply({ workdir: workRoot, tool: 'tofu', planFile: 'p.tfplan', expect })),
      (e: ApplicationFailure) => {
        assert.equal(e.type, 'CommandFailed');
        assert.deepEqual((e.details?.[0] as { halfway?: boolean }).halfway, true);
        return /interrupted/.test(e.message);
      },
    );
    assert.ok(!calls.includes('apply'));
  });
  it('tofu refusing the saved plan as stale is a Conflict too; any other apply error is CommandFailed', async () => {
    const stale = runner([5, 8], 2, { exitCode: 1, stderr: 'Error: Saved plan is stale' });
    await assert.rejects(call(stale.run), (e: ApplicationFailure) => e.type === 'Conflict');
    const broken = runner([5, 6], 0, { exitCode: 1, stderr: 'Error: boom' });
    await assert.rejects(call(broken.run), (e: ApplicationFailure) => {
      assert.equal(e.type, 'CommandFailed');
      assert.equal(e.nonRetryable, true);
      return (e.details?.[0] as { halfway?: boolean }).halfway === true;
    });
  });
});
