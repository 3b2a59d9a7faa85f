// The watch's alert thresholds (the runbook's Post-Rollback Alert Thresholds): the rule over two /metrics samples,
// and a 30-minute watch at 30 s on the time-skipping server whose scripted metrics cross each threshold once —
// each alert raised once through `notify`, and the watch within its history budget (WATCH_BUDGET).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../common/tools.ts';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { NotifyInput, ServiceMetrics, ServiceSample } from '../../activities/index.ts';
import { workflowBundle } from '../../workers/bundle.ts';
import type { DockerRollbackInput, DockerRollbackResult } from '../../workflows/application/docker-container.ts';
import { breachedThresholds, RUNBOOK_ALERT_THRESHOLDS } from '../../workflows/phases/monitor.ts';
import { stubActivities } from '../helpers/stub-activities.ts';
import { APPROVER, REQUESTER, timeSkippingEnv, uniqueQueue } from '../helpers/temporal.ts';

const sample = (metrics: ServiceMetrics, latencyMs = 5): ServiceSample => ({
  at: '2026-11-29T08:00:00.000Z',
  ok: true,
  httpStatus: 200,
  latencyMs,
  metrics,
});
const base: ServiceMetrics = {
  requests: 1000,
  errors: 0,
  durationSecondsSum: 10,
  durationCount: 1000,
  dbUp: 1,
  dbErrors: 0,
  residentBytes: 100 * 1048576,
};

// The watch's history budget: per sample a timer (started, fired), one workflow task (scheduled, started, completed)
// and one local-activity marker (health and metrics in one sample) = 6 events; one marker per alert sent; 7 after the
// watch (the previous container removed, completion) and 6 for the closing `succeeded` notification (an activity and
// its workflow task). Reading /metrics adds nothing per sample. (Before the approval policy the whole run of a
// 30-minute watch was 408 events; the policy's load and the `started` notification add events before the watch.)
const WATCH_BUDGET = 60 * 6 + 4 + 7 + 6;

describe('the runbook alert thresholds', () => {
  const rules = (now: ServiceMetrics, prev: ServiceMetrics = base) =>
    breachedThresholds(RUNBOOK_ALERT_THRESHOLDS, sample(now), prev).map((a) => `${a.rule}: ${a.figure}`);

  it('error rate over 1% of the requests since the last sample; exactly 1% does not alert', () => {
    assert.deepEqual(rules({ ...base, requests: 1100, errors: 2, durationCount: 1100, durationSecondsSum: 11 }), [
      'error-rate: 2% (2/100)',
    ]);
    assert.deepEqual(rules({ ...base, requests: 1100, errors: 1, durationCount: 1100, durationSecondsSum: 11 }), []);
  });

  it('mean response time over 500 ms since the last sample, else the probe latency', () => {
    assert.deepEqual(rules({ ...base, durationCount: 1010, durationSecondsSum: 16.01 }), ['response-time: 601 ms']);
    assert.deepEqual(
      breachedThresholds(RUNBOOK_ALERT_THRESHOLDS, sample({}, 750), undefined).map((a) => a.figure),
      ['750 ms'],
    );
  });

  it('memory over 4 GB; any database connection error or a database down', () => {
    assert.deepEqual(rules({ ...base, residentBytes: 4097 * 1048576 }), ['memory: 4097 MB']);
    assert.deepEqual(rules({ ...base, dbErrors: 1 }), ['database-connection: database up, 1 connection error(s)']);
    assert.deepEqual(rules({ ...base, dbUp: 0 }), ['database-connection: database down']);
    assert.deepEqual(rules(base), []);
  });
});

describe('the watch with /metrics (time-skipping, stubbed activities)', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await timeSkippingEnv();
  });
  after(async () => {
    await env?.teardown();
  });

  it('records each threshold when it starts firing and sends each rule once through notify, within the watch budget', async () => {
    const { activities, calls } = stubActivities({ health: [true] });
    const notified: NotifyInput[] = [];
    let n = 0;
    // samples 10–12: 5% errors; 20: 900 ms; 30–31 and 35: database down; 40: 5 GB resident
    const scripted = (): ServiceSample => {
      n += 1;
      const m = { ...base, requests: 1000 + n * 100, durationCount: 1000 + n * 100, durationSecondsSum: 10 + n };
      if (n >= 10 && n <= 12) m.errors = (n - 9) * 5;
      else if (n > 12) m.errors = 15;
      if (n === 20) m.durationSecondsSum += 89;
      else if (n > 20) m.durationSecondsSum += 89;
      if (n === 30 || n === 31 || n === 35) m.dbUp = 0;
      if (n === 40) m.residentBytes = 5 * 1024 * 1048576;
      return { ...sample(m), at: new Date().toISOString() };
    };
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: uniqueQueue('watch-thresholds'),
      workflowBundle: await workflowBundle(),
      activities: {
        ...activities,
        sampleService: async () => {
          calls.push('sampleService');
          return scripted();
        },
        notify: async (i: NotifyInput) => {
          notified.push(i);
          return { key: i.workflowId, slack: 'not-configured', pagerDuty: 'not-configured' };
        },
      },
    });
    const input: DockerRollbackInput = {
      containerName: 'cortex-mcp',
      targetImage: 'cortex-memory-mcp:v2.0.0',
      healthUrl: 'http://127.0.0.1:3000/health',
      metricsUrl: 'http://127.0.0.1:3000/metrics',
      reason: 'v2.1.0 fails /health',
      requestedBy: REQUESTER,
      monitor: {},
      approval: { preApproved: APPROVER.ci },
    };
    const { r, events, watchEvents } = await worker.runUntil(async () => {
      const h = await env.client.workflow.start('dockerContainerRollback', {
        taskQueue: worker.options.taskQueue,
        workflowId: uniqueQueue('rollback-docker-thresholds'),
        args: [input],
      });
      const r = (await h.result()) as DockerRollbackResult;
      const history = await h.fetchHistory();
      // CORTEX_RECORD_HISTORIES=1 adds this path's history for replay.test.ts (never overwrites a committed one)
      const file = join(PROJECT_ROOT, 'test', 'histories', 'docker-watch-metrics-alerts.json');
      if (process.env.CORTEX_RECORD_HISTORIES === '1' && !existsSync(file)) writeFileSync(file, historyToJSON(history));
      const all = history.events ?? [];
      // the watch's part: from its first timer (pre-approved: the watch's sample timers are the only timers) to the end
      const first = all.findIndex((e) => e.timerStartedEventAttributes);
      return { r, events: all.length, watchEvents: first < 0 ? all.length : all.length - first };
    });
    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.monitoring?.samples, 60);
    assert.equal(calls.filter((c) => c === 'sampleService').length, 60);
    assert.deepEqual(
      r.monitoring?.alerts?.map((a) => `${a.rule}: ${a.figure}`),
      [
        'error-rate: 5% (5/100)',
        'response-time: 900 ms',
        'database-connection: database down',
        'database-connection: database down',
        'memory: 5120 MB',
      ],
    );
    // each rule is sent once: the database going down again is recorded, not sent again (between the rollback's
    // own started and succeeded)
    assert.deepEqual(
      notified.map((i) => [i.event, i.details?.rule]),
      [
        ['started', undefined],
        ...['error-rate', 'response-time', 'database-connection', 'memory'].map((rule) => ['watch-alert', rule]),
        ['succeeded', undefined],
      ],
    );
    console.log(
      `30-minute watch at 30 s with metrics, 5 alerts, 4 sent: ${events} history events, ${watchEvents} in the watch`,
    );
    assert.ok(watchEvents <= WATCH_BUDGET, `the watch took ${watchEvents} history events`);
  });
});
