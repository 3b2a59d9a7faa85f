// The rollback report from a run's recorded status (pure, no server): boxes ticked only on the record —
// "Stakeholders notified" only when a notification reached a channel, "Health checks passed" only when the target
// was verified healthy after the change — the template's Preventive Measures section, and time to restore held to
// the rollback type's target apart from time to close.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildReport, OWNER_FILLS, reportMarkdown } from '../../client/report.ts';
import type { RollbackStatus, StepRecord } from '../../workflows/phases/progress.ts';

const T0 = Date.parse('2026-12-01T10:00:00Z');
const at = (min: number) => new Date(T0 + min * 60_000).toISOString();
const step = (name: string, from: number, to: number, detail?: string, restores?: true): StepRecord => ({
  name,
  state: 'completed',
  startedAt: at(from),
  endedAt: at(to),
  ...(detail ? { detail } : {}),
  ...(restores ? { restores } : {}),
});

function status(rollbackType: string, steps: StepRecord[]): RollbackStatus {
  return {
    workflowType: 'dockerContainerRollback',
    workflowId: 'rollback-docker-cortex-mcp',
    runId: 'run-1',
    rollbackType,
    target: 'docker:cortex-mcp',
    phase: 'completed',
    steps,
    approvals: [],
  };
}

const box = (md: string, label: string) => new RegExp(`- \\[(x| )\\] ${label}`).exec(md)?.[1];

describe('the rollback report from the run record', () => {
  it('does not tick "Stakeholders notified" when no channel is configured', () => {
    const md = reportMarkdown(
      buildReport(
        status('application', [
          step('notify-started', 0, 0, 'slack not-configured, pagerduty not-configured'),
          step('verify-health', 1, 2, 'healthy after 1 probe(s)', true),
          step('notify-succeeded', 3, 3, 'slack not-configured, pagerduty not-configured'),
        ]),
        { ok: true, result: { outcome: 'succeeded' } },
      ),
    );
    assert.equal(box(md, 'Stakeholders notified'), ' ');
    assert.match(md, /- \[ \] Stakeholders notified — no notification channel reached \(slack not-configured/);
    const delivered = reportMarkdown(
      buildReport(status('application', [step('notify-started', 0, 0, 'slack delivered, pagerduty not-routed')]), {
        ok: true,
        result: { outcome: 'succeeded' },
      }),
    );
    assert.match(delivered, /- \[x\] Stakeholders notified — notify-started: slack delivered/);
  });

  it('does not tick "Health checks passed" when the health step completed unhealthy', () => {
    const rep = buildReport(
      status('application', [
        step('stop-current-container', 1, 1),
        step('verify-health', 1, 2, 'unhealthy after 30 probe(s)'),
      ]),
      { ok: false, type: 'VerificationFailed', message: 'did not answer healthy', details: undefined },
    );
    const md = reportMarkdown(rep);
    assert.equal(box(md, 'Health checks passed'), ' ');
    assert.match(md, /- \[ \] Health checks passed — verify-health completed: unhealthy after 30 probe\(s\)/);
    assert.equal(box(md, 'Basic functionality verified'), ' ');
    assert.equal(rep.executiveSummary.timeToRestoreMinutes, undefined);
    assert.match(md, /- \*\*Time to Restore\*\*: not restored: the target was never verified healthy/);
    const ok = reportMarkdown(
      buildReport(status('application', [step('verify-health', 1, 2, 'healthy after 1 probe(s)', true)]), {
        ok: true,
        result: { outcome: 'succeeded' },
      }),
    );
    assert.equal(box(ok, 'Health checks passed'), 'x');
  });

  it("has the template's Preventive Measures, for the incident owner to fill in, never ticked", () => {
    const md = reportMarkdown(
      buildReport(status('application', [step('verify-health', 1, 2, 'healthy', true)]), {
        ok: true,
        result: { outcome: 'succeeded' },
      }),
    );
    assert.ok(md.endsWith(''));
    const tail = md.slice(md.indexOf('\n## Preventive Measures\n'));
    assert.ok(tail.length > 0 && md.includes('\n## Preventive Measures\n'), 'no Preventive Measures section');
    for (const h of ['### Technical Improvements', '### Process Improvements', '### Monitoring Improvements'])
      assert.ok(tail.includes(`\n${h}\n- ${OWNER_FILLS}\n`), `${h} lacks its placeholder`);
    assert.doesNotMatch(tail, /\[x\]/);
  });

  it('holds time to restore to the type target and reports time to close apart', () => {
    // a database rollback: approval wait and restore 95 min, then a 30-minute watch; closes at 130 min
    const rep = buildReport(
      status('database', [
        step('approval', 0, 40, 'approved by eng-manager (engineering-manager)'),
        step('restore-backup', 40, 90),
        step('verify-sample-query', 90, 95, 'a stored vector finds its point', true),
        step('monitor', 95, 130),
      ]),
      { ok: true, result: { outcome: 'succeeded' } },
    );
    assert.equal(rep.executiveSummary.timeToRestoreMinutes, 95);
    assert.equal(rep.executiveSummary.restoreTargetMinutes, 120);
    assert.equal(rep.executiveSummary.timeToCloseMinutes, 130);
    const md = reportMarkdown(rep);
    assert.match(md, /- \*\*Time to Restore\*\*: 95 min, start → verified healthy \(target < 120 min: MET\)/);
    assert.match(md, /- \*\*Time to Close\*\*: 130 min, start → end/);
    assert.match(
      md,
      /### What Went Well\n- restored in 95 min: start → verified healthy \(target < 120 min for database\)/,
    );
    assert.match(md, /### Process Improvements\n- .*\n- seen in this run: the approval took 40 min/);
    // the same times for an application rollback miss its 30-minute target
    const app = reportMarkdown(
      buildReport(status('application', rep.rollbackProcess.timeline), { ok: true, result: { outcome: 'succeeded' } }),
    );
    assert.match(app, /- \*\*Time to Restore\*\*: 95 min, start → verified healthy \(target < 30 min: MISSED\)/);
  });
});
