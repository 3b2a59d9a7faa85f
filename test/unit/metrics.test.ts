// The metrics' reading of visibility rows (pure, no server): what a closed run counts as when it carries no
// RollbackOutcome (the phase it ended in decides; only 'completed' is a success), and time to restore vs time to
// close, each run held to its type's runbook target (database < 2 h, the others < 30 min).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { renderMetrics, runOf, summarize, withRestore, type RollbackRun } from '../../client/metrics.ts';

const T0 = new Date('2026-12-01T10:00:00Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);

function info(
  attrs: Record<string, string>,
  status: string,
  closeMinutes?: number,
  id = `wf-${Object.values(attrs).join('-')}`,
): WorkflowExecutionInfo {
  return {
    workflowId: id,
    runId: `run-${id}`,
    status: { name: status },
    startTime: T0,
    ...(closeMinutes !== undefined ? { closeTime: at(closeMinutes) } : {}),
    searchAttributes: Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, [v]])),
  } as unknown as WorkflowExecutionInfo;
}

describe('rollback metrics from visibility rows', () => {
  it("a completed run that ended in 'timed-out' (a Qdrant config approval time-out before the fix) is no success", () => {
    const r = runOf(info({ RollbackType: 'configuration', RollbackPhase: 'timed-out' }, 'COMPLETED', 5))!;
    assert.equal(r.outcome, 'approval-timed-out');
    const m = summarize([r], 'x');
    assert.equal(m.succeeded, 0);
    assert.equal(m.successRatePercent, undefined, 'a decision not to roll back is not in the rate');
  });

  it('a completed run without an outcome counts by the phase it ended in, for every decision and failure', () => {
    const cases: Array<[string, string]> = [
      ['completed', 'succeeded'],
      ['rejected', 'rejected'],
      ['approval-timed-out', 'approval-timed-out'],
      ['rolled-back-to-previous', 'failed'],
      ['completed-with-errors', 'completed-with-errors'],
      ['some-new-phase', 'ended-some-new-phase'],
    ];
    for (const [phase, outcome] of cases)
      assert.equal(
        runOf(info({ RollbackType: 'application', RollbackPhase: phase }, 'COMPLETED', 1))!.outcome,
        outcome,
      );
    const m = summarize(
      cases.map(([phase]) => runOf(info({ RollbackType: 'application', RollbackPhase: phase }, 'COMPLETED', 1))!),
      'x',
    );
    assert.equal(m.succeeded, 1);
    assert.equal(m.failed, 3, 'reverted, completed with errors and an unknown end are failures');
    assert.equal(m.successRatePercent, 25);
  });

  it('time to restore is held to the type target, time to close is reported apart', () => {
    const ok = (type: string, restoreMin: number, closeMin: number): RollbackRun =>
      withRestore(runOf(info({ RollbackType: type, RollbackOutcome: 'succeeded' }, 'COMPLETED', closeMin, type))!, {
        timeline: [
          { name: 'approval', state: 'completed', startedAt: T0.toISOString(), endedAt: at(1).toISOString() },
          {
            name: 'verify-health',
            state: 'completed',
            startedAt: at(restoreMin - 1).toISOString(),
            endedAt: at(restoreMin).toISOString(),
            restores: true,
          },
        ],
      });
    const app = ok('application', 12, 45); // the 30-minute watch makes close miss 30 min; restore is within
    const db = ok('database', 95, 100);
    assert.equal(app.restoreMinutes, 12);
    assert.equal(app.closeMinutes, 45);
    assert.equal(db.restoreTargetMinutes, 120);
    const unmarked = runOf(info({ RollbackType: 'application', RollbackOutcome: 'succeeded' }, 'COMPLETED', 3, 'old'))!;
    const m = summarize([app, db, withRestore(unmarked, { timeline: [] })], 'x');
    assert.deepEqual(m.timeToRestore.application, {
      runs: 1,
      meanMinutes: 12,
      met: true,
      targetMinutes: 30,
      unmeasured: 1,
    });
    assert.deepEqual(m.timeToRestore.database, {
      runs: 1,
      meanMinutes: 95,
      met: true,
      targetMinutes: 120,
      unmeasured: 0,
    });
    assert.equal(m.mttrMet, true);
    assert.equal(m.timeToCloseMinutes, Math.round(((45 + 100 + 3) / 3) * 100) / 100);
    const text = renderMetrics(m);
    assert.match(text, /application: 12 min over 1 \(target < 30 min: MET\); 1 succeeded without a recorded restore/);
    assert.match(text, /database: 95 min over 1 \(target < 120 min: MET\)/);
    assert.match(
      text,
      /time to close \(start → end, approval wait and watch included\): [\d.]+ min \(no runbook target\)/,
    );

    // a database restore of 2.5 h misses its target even though it is the only type measured
    const slow = summarize([ok('database', 150, 160)], 'x');
    assert.equal(slow.timeToRestore.database?.met, false);
    assert.equal(slow.mttrMet, false);
  });
});
