// The Temporal Web UI in a real browser (playwright-core driving Debian's /usr/bin/chromium; no browser download):
// a dev server started here serves the UI with --ui-codec-endpoint pointing at the project's codec server; the
// worker and client encrypt payloads. Case 1: an operator finds the rollback waiting for approval by its search
// attribute, sends `approve` from the Send a Signal dialog and sees the workflow complete. Case 2: the UI shows the
// encrypted input, approval and result decoded through the codec server. Case 3: a failed rollback's failure
// message, encrypted in history (common/failure-converter.ts), shows decoded too. Every request to a host other than
// 127.0.0.1/localhost (the UI's news feed) is blocked. Screenshots of a failing case go to .data/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { connect, getStatus, startDockerRollback, waitResult, type RollbackClient } from '../../client/client.ts';
import { codecDataConverter, EncryptionCodec, isEncrypted } from '../../common/codec.ts';
import { startCodecServer, type RunningCodecServer } from '../../common/codec-server.ts';
import { PROJECT_ROOT } from '../../common/tools.ts';
import { createWorker } from '../../workers/worker.ts';
import { BAD, ensureImages, freePort, GOOD, removeByPrefix, startApp, waitFor } from '../helpers/docker.ts';
import { APPROVER, localEnv, REQUESTER, uniqueQueue } from '../helpers/temporal.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('Temporal Web UI in Chromium: approve a rollback, read its payloads decoded', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let rc: RollbackClient;
  let codecServer: RunningCodecServer;
  let browser: BrowserContext;
  let page: Page;
  let ui: string;
  let profile: string;
  let workflowId: string;
  const blocked: string[] = [];
  const decodeCalls: string[] = [];
  const name = `webui-it-${Date.now().toString(36)}`;
  const reason = `webui-secret-reason-${randomBytes(4).toString('hex')}`;

  before(async () => {
    await ensureImages();
    const codec = new EncryptionCodec([{ id: 'webui-test', key: randomBytes(32) }]);
    const uiPort = await freePort();
    ui = `http://127.0.0.1:${uiPort}`;
    codecServer = await startCodecServer(codec, { port: 0, origins: [ui, `http://localhost:${uiPort}`] });
    env = await localEnv({}, { uiPort, extraArgs: ['--ui-codec-endpoint', codecServer.url] });
    const settings = { address: env.address, namespace: 'default', taskQueue: uniqueQueue('webui-it') };
    const dataConverter = codecDataConverter(codec);
    ({ worker } = await createWorker({ settings, connection: env.nativeConnection, dataConverter }));
    running = worker.run();
    rc = await connect(settings, { dataConverter });
    const app = await startApp(name, BAD);
    ({ workflowId } = await startDockerRollback(rc, {
      containerName: name,
      targetImage: GOOD,
      healthUrl: app.healthUrl,
      reason,
      requestedBy: REQUESTER,
      monitor: { durationSeconds: 0 },
      searchAttributes: true,
    }));
    await waitFor(async () => (await getStatus(rc, workflowId)).phase === 'awaiting-approval', 30_000, 'approval');

    profile = mkdtempSync(join(tmpdir(), 'webui-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1400, height: 1000 },
    });
    await browser.route('**/*', (route) => {
      const host = new URL(route.request().url()).hostname;
      if (host === '127.0.0.1' || host === 'localhost') return route.continue();
      blocked.push(route.request().url());
      return route.abort('blockedbyclient');
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(20_000);
    page.on('request', (r) => {
      if (r.url().startsWith(`${codecServer.url}/decode`)) decodeCalls.push(r.url());
    });
  });
  after(async () => {
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await removeByPrefix(name);
    await rc?.close();
    worker?.shutdown();
    await running;
    await env?.teardown();
    await codecServer?.close();
  });

  /** Runs a case; on failure keeps a full-page screenshot in .data/ and says where. */
  async function withScreenshot(label: string, body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (err) {
      mkdirSync(join(PROJECT_ROOT, '.data'), { recursive: true });
      const file = join(PROJECT_ROOT, '.data', `webui-${label}-${Date.now()}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
      throw Object.assign(err as Error, { message: `${(err as Error).message}\n(screenshot: ${file})` });
    }
  }

  it('finds the rollback by RollbackPhase="awaiting-approval", approves it from Send a Signal, sees it complete', () =>
    withScreenshot('approve', async () => {
      await page.goto(
        `${ui}/namespaces/default/workflows?query=${encodeURIComponent('RollbackPhase="awaiting-approval"')}`,
      );
      await page.getByRole('link', { name: workflowId }).click();
      await page.waitForURL(new RegExp(`/workflows/${workflowId}/`));
      await page.getByRole('button', { name: 'More Actions' }).click();
      await page.getByRole('menuitem', { name: 'Send a Signal' }).click();
      const dialog = page.locator('dialog[open]');
      await dialog.getByTestId('signal-select-button').click();
      // the option's name is the signal's name followed by its description (workflows/phases/approval.ts)
      await dialog.getByRole('option', { name: /^approve\b/ }).click();
      // the roster's on-call engineer, as an operator would type it (the committed policy is in force)
      const input = { ...APPROVER.application, comment: 'approved in the Web UI' };
      // Written already pretty-printed: the editor re-formats on blur, which would move the Submit button.
      await dialog.getByRole('textbox', { name: 'Data' }).fill(JSON.stringify(input, null, 2));
      await dialog.getByRole('heading', { name: 'Send a Signal' }).click();
      await dialog.getByRole('button', { name: 'Submit' }).click();
      await page.getByText('Workflow signaled.').first().waitFor();

      const r = await waitResult(rc, workflowId);
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.result.outcome, 'succeeded');
      assert.deepEqual(
        r.result.approvals.map((a) => [a.approver, a.role, a.via, a.comment]),
        [[APPROVER.application.approver, APPROVER.application.role, 'signal', 'approved in the Web UI']],
      );
      // The page's status badge is not pushed: reload until it shows what the server holds.
      await waitFor(
        async () => {
          await page.reload();
          return page
            .getByText(/^completed$/i)
            .first()
            .waitFor({ timeout: 3_000 })
            .then(
              () => true,
              () => false,
            );
        },
        30_000,
        'the UI shows the workflow completed',
      );
      assert.ok(
        blocked.some((u) => !/^https?:\/\/(127\.0\.0\.1|localhost)[:/]/.test(u)),
        'the news feed was blocked',
      );
    }));

  it('shows the encrypted input, approval and result decoded through the codec server', () =>
    withScreenshot('decoded', async () => {
      const raw = await env.client.workflow.getHandle(workflowId).fetchHistory();
      const started = raw.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      assert.ok(started && isEncrypted(started), 'the input is encrypted in history');

      decodeCalls.length = 0;
      await page.goto(`${ui}/namespaces/default/workflows/${workflowId}`);
      const body = page.locator('body');
      await page.getByText(`"reason": "${reason}"`).first().waitFor();
      const text = await body.innerText();
      assert.match(text, new RegExp(`"containerName": "${name}"`), 'decoded input');
      assert.match(text, /"comment": "approved in the Web UI"/, 'decoded result: the approval from case 1');
      assert.match(text, /"decision": "approved"/, 'decoded result: the decision');
      assert.ok(!text.includes('binary/encrypted'), 'no payload left encoded');
      assert.ok(decodeCalls.length > 0, 'the UI called the codec server');
    }));

  it("shows a failed rollback's encrypted failure message decoded through the codec server", () =>
    withScreenshot('failure', async () => {
      const missing = `${name}-missing`;
      const { workflowId: failedId } = await startDockerRollback(rc, {
        containerName: missing,
        targetImage: GOOD,
        healthUrl: 'http://127.0.0.1:9/health',
        reason,
        requestedBy: REQUESTER,
        monitor: { durationSeconds: 0 },
        searchAttributes: true,
      });
      const r = await waitResult(rc, failedId);
      assert.ok(!r.ok && r.message.includes(`'${missing}' does not exist`), JSON.stringify(r));
      const raw = await env.client.workflow.getHandle(failedId).fetchHistory();
      const failure = raw.events?.find((e) => e.workflowExecutionFailedEventAttributes)
        ?.workflowExecutionFailedEventAttributes?.failure;
      assert.equal(failure?.message, 'Encoded failure', 'the message is not in history in plain text');
      assert.ok(failure?.encodedAttributes && isEncrypted(failure.encodedAttributes), 'it is encrypted there');

      decodeCalls.length = 0;
      await page.goto(`${ui}/namespaces/default/workflows/${failedId}`);
      await page.getByText(`'${missing}' does not exist on this host`).first().waitFor();
      // the failure event as the UI shows it: the encoded attributes decoded, message and stack trace readable
      const text = await page.locator('body').innerText();
      assert.match(text, /"message": "Encoded failure"/);
      assert.match(
        text,
        new RegExp(`"encodedAttributes": \\{\\s*"message": "container '${missing}' does not exist on this host`),
      );
      assert.match(text, /"stack_trace": "ApplicationFailure: container/);
      assert.ok(decodeCalls.length > 0, 'the UI called the codec server');
    }));
});
