// Post-Rollback Verification against real parts: the dev server, a worker with the real activities, the demo
// service in Docker (healthy v2.0.0 and unhealthy v2.1.0), a real Qdrant server, and real check commands.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../common/tools.ts';
import type { DockerRollbackResult } from '../../workflows/application/docker-container.ts';
import { buildReport, reportMarkdown } from '../../client/report.ts';
import { createWorker } from '../../workers/worker.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import type { VerificationCheck, VerificationResult } from '../../workflows/verification/post-rollback.ts';
import { BAD, ensureImages, GOOD, removeByPrefix, startApp } from '../helpers/docker.ts';
import { seed, startTestQdrant, type TestQdrant } from '../helpers/qdrant.ts';
import { localEnv, uniqueQueue } from '../helpers/temporal.ts';

describe('postRollbackVerification on the real demo service', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let qdrant: TestQdrant;
  let queue: string;
  const prefix = `verify-it-${Date.now().toString(36)}`;

  before(async () => {
    await ensureImages();
    qdrant = await startTestQdrant();
    await seed(qdrant.client, `${prefix}-memories`, 12, 8);
    env = await localEnv();
    queue = uniqueQueue('verify');
    ({ worker } = await createWorker({
      settings: { address: env.address, namespace: 'default', taskQueue: queue },
      connection: env.nativeConnection,
      deps: { qdrant: { client: qdrant.client, url: qdrant.url, apiKey: qdrant.apiKey, backupRoot: qdrant.tmp } },
    }));
    running = worker.run();
  });
  after(async () => {
    await removeByPrefix(prefix);
    worker?.shutdown();
    await running;
    await env?.teardown();
    await qdrant?.stop();
  });

  const byName = (checks: VerificationCheck[]) => Object.fromEntries(checks.map((c) => [c.name, c]));

  it('passes every check on the healthy v2.0.0, each with its figure', async () => {
    const app = await startApp(`${prefix}-good`, GOOD);
    const t0 = Date.now();
    const r = (await env.client.workflow.execute('postRollbackVerification', {
      taskQueue: queue,
      workflowId: `${prefix}-pass`,
      args: [
        {
          service: 'cortex-mcp',
          healthUrl: app.healthUrl,
          container: app.name,
          collections: { [`${prefix}-memories`]: 12 },
          commands: [{ name: 'prod:health', command: ['node', '-e', 'console.log("health ok")'], timeoutSeconds: 20 }],
        },
      ],
    })) as VerificationResult;
    console.log(`verification (pass) took ${Date.now() - t0} ms`);
    assert.equal(r.passed, true, JSON.stringify(r.checks));
    const c = byName(r.checks);
    assert.deepEqual(Object.keys(c).sort(), [
      'command:prod:health',
      `data-integrity:${prefix}-memories`,
      'log-errors',
      'memory',
      'memory-api-response-time',
      'memory-store-find',
      'qdrant-ready',
      'response-time',
      'service-health',
    ]);
    for (const check of r.checks) assert.equal(check.status, 'pass', `${check.name}: ${check.figure}`);
    assert.equal(c['service-health']!.figure, 'HTTP 200 healthy');
    assert.match(c['response-time']!.figure, /^\d+ ms/);
    assert.match(c['memory-store-find']!.figure, /store HTTP 201, find HTTP 200, 1 found/);
    assert.equal(c[`data-integrity:${prefix}-memories`]!.figure, '12 points');
    assert.match(c.memory!.figure, /^[\d.]+ MB \(docker stats\)$/);
    assert.ok(Number.parseFloat(c.memory!.figure) > 0 && Number.parseFloat(c.memory!.figure) < 2048);
    assert.match(c['log-errors']!.figure, /^0 error line\(s\) in [1-9]\d* line\(s\)/);
    assert.match(c['command:prod:health']!.output!, /health ok/);
  });

  it('fails on the unhealthy v2.1.0 and says which checks failed with their figures', async () => {
    const app = await startApp(`${prefix}-bad`, BAD);
    const base = `http://127.0.0.1:${app.port}`;
    // a malformed call makes the service log an ERROR line
    const bad = await fetch(`${base}/api/v1/memory/store`, { method: 'POST', body: 'not json' });
    assert.equal(bad.status, 400);
    const err = await env.client.workflow
      .execute('postRollbackVerification', {
        taskQueue: queue,
        workflowId: `${prefix}-fail`,
        args: [
          {
            healthUrl: app.healthUrl,
            container: app.name,
            collections: { [`${prefix}-memories`]: 13 },
            maxMemoryMb: 1,
            commands: [
              { name: 'test:connection', command: ['node', '-e', 'console.error("no db"); process.exit(3)'] },
              { name: 'perf:gate:ci', command: ['sleep', '30'], timeoutSeconds: 1 },
            ],
          },
        ],
      })
      .then(
        () => assert.fail('verification of v2.1.0 passed'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof WorkflowFailedError);
    const cause = err.cause;
    assert.ok(cause instanceof ApplicationFailure);
    assert.equal(cause.type, 'VerificationFailed');
    const r = cause.details?.[0] as VerificationResult;
    assert.equal(r.passed, false);
    const c = byName(r.checks);
    assert.equal(c['service-health']!.status, 'fail');
    assert.equal(c['service-health']!.figure, 'HTTP 503 unhealthy');
    assert.equal(c[`data-integrity:${prefix}-memories`]!.status, 'fail');
    assert.equal(c[`data-integrity:${prefix}-memories`]!.figure, '12 points');
    assert.equal(c.memory!.status, 'fail');
    assert.equal(c['log-errors']!.status, 'fail');
    assert.match(c['log-errors']!.output!, /ERROR \/api\/v1\/memory\/store: invalid request body/);
    assert.equal(c['command:test:connection']!.status, 'fail');
    assert.match(c['command:test:connection']!.figure, /^exit 3 in \d+ ms$/);
    assert.match(c['command:test:connection']!.output!, /no db/);
    assert.equal(c['command:perf:gate:ci']!.figure, 'timed out after 1s');
    // the store/find API still works on v2.1.0, and passes
    assert.equal(c['memory-store-find']!.status, 'pass');
    assert.match(cause.message, /service-health \(HTTP 503 unhealthy\)/);
  });

  it('runs as a child of dockerContainerRollback when asked, and its figures are in the result', async () => {
    const app = await startApp(`${prefix}-roll`, BAD);
    const workflowId = `rollback-docker-${app.name}`;
    const h = await env.client.workflow.start('dockerContainerRollback', {
      taskQueue: queue,
      workflowId,
      args: [
        {
          containerName: app.name,
          targetImage: GOOD,
          healthUrl: app.healthUrl,
          reason: 'v2.1.0 fails /health',
          requestedBy: 'verification-test',
          monitor: { durationSeconds: 0 },
          approval: { preApproved: { approver: 'ci-deploy-gate', role: 'on-call-engineer' } },
          verification: { collections: { [`${prefix}-memories`]: 12 } },
        },
      ],
    });
    const r = (await h.result()) as DockerRollbackResult;
    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.postVerification?.passed, true, JSON.stringify(r.postVerification?.checks));
    const c = byName(r.postVerification.checks);
    assert.equal(c['service-health']!.figure, 'HTTP 200 healthy');
    assert.equal(c[`data-integrity:${prefix}-memories`]!.status, 'pass');
    assert.equal(c['log-errors']!.status, 'pass');
    assert.ok(r.timeline.some((s) => s.name === 'post-rollback-verification' && s.state === 'completed'));
    // the runbook's report, filled from this run: every section of the template, figures included
    const rep = buildReport(await h.query(statusQuery), { ok: true, result: r });
    const md = reportMarkdown(rep);
    for (const heading of [
      '## Executive Summary',
      '## Rollback Details',
      '### Source Version',
      '### Target Version',
      '## Rollback Process',
      '### Pre-Rollback Actions',
      '### Rollback Execution',
      '### Post-Rollback Verification',
      '## Impact Assessment',
      '### User Impact',
      '### Business Impact',
      '## Root Cause Analysis',
      '### Primary Cause',
      '### Contributing Factors',
      '### Detection Gaps',
      '## Lessons Learned',
      '### What Went Well',
      '### Areas for Improvement',
      '### Action Items',
    ])
      assert.ok(md.includes(`\n${heading}\n`), `report lacks ${heading}`);
    assert.match(
      md,
      /- \*\*Impact\*\*: before the rollback the service was unhealthy: 503; service interrupted for [\d.]+ min/,
    );
    assert.match(
      md,
      /- \*\*Issues Identified\*\*:\n {2}- trigger: v2\.1\.0 fails \/health\n {2}- health before the rollback: unhealthy: 503/,
    );
    assert.match(md, /\| service-health \| PASS \| HTTP 200 healthy \| 2xx and healthy \|/);
    assert.match(md, /- \[x\] Data integrity confirmed — data-integrity:verify-it-\w+-memories: 12 points/);
    assert.match(md, /- \[x\] Performance validated — response-time: \d+ ms/);
    assert.match(
      md,
      /- \[ \] Write the root cause analysis of cortex-memory-mcp:v2\.1\.0 .* - Owner: verification-test - Due: \d{4}-\d{2}-\d{2}/,
    );
    assert.match(
      md,
      /### What Went Well\n- restored in [\d.]+ min: start → verified healthy \(target < 30 min for application\)/,
    );
    assert.match(md, /- \[x\] Health checks passed — healthy after \d+ probe\(s\)/);
    // no notification channel is configured for this worker: nobody was told, and the report says so
    assert.match(md, /- \[ \] Stakeholders notified — no notification channel reached/);
    assert.match(md, /\n## Preventive Measures\n### Technical Improvements\n- to be filled in by the incident owner\n/);
    assert.equal(rep.executiveSummary.outcome, 'succeeded');
    assert.equal(rep.rollbackProcess.verificationChecks.length, r.postVerification.checks.length);
    const history = await h.fetchHistory();
    const file = join(PROJECT_ROOT, 'test', 'histories', 'docker-post-verification.json');
    if (process.env.CORTEX_RECORD_HISTORIES === '1' && !existsSync(file)) writeFileSync(file, historyToJSON(history));
  });
});
