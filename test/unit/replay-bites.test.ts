// Proves the replay check can fail: a copy of the workflow sources with two activity calls of the Docker rollback
// swapped (stop before preserve) is bundled, and replaying a committed history against it must end in a
// DeterminismViolationError that names the two activity types; the real bundle replays the same history.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../common/tools.ts';
import { workflowBundle } from '../../workers/bundle.ts';
import '../helpers/temporal.ts';

const HISTORY = 'docker-approved-watched.json';
const PRESERVE = /\n {4}await progress\.step\(\n {6}'preserve-current-container',[\s\S]*?\n {4}\);\n/;
const STOP = /\n {4}await progress\.step\('stop-current-container',[\s\S]*?\n {4}\);\n/;

/** The Docker rollback's source with its preserve and stop steps swapped (throws if either is not found). */
function swapped(source: string): string {
  const preserve = PRESERVE.exec(source)?.[0];
  const stop = STOP.exec(source)?.[0];
  assert.ok(preserve && stop, 'the preserve and stop steps are where this test expects them');
  assert.ok(source.indexOf(preserve) < source.indexOf(stop));
  const out = source.replace(preserve, '\n/*PRESERVE*/\n').replace(stop, preserve).replace('\n/*PRESERVE*/\n', stop);
  assert.ok(out.indexOf("'stop-current-container'") < out.indexOf("'preserve-current-container'"));
  return out;
}

const quiet = (): void => undefined;
const logger = { trace: quiet, debug: quiet, info: quiet, warn: quiet, error: console.error, log: quiet };

describe('replay bites: a reordered copy of a workflow fails to replay a committed history', () => {
  const copy = join(PROJECT_ROOT, '.data', `replay-bites-${process.pid}`);
  const history = historyFromJSON(JSON.parse(readFileSync(join(PROJECT_ROOT, 'test', 'histories', HISTORY), 'utf8')));
  let reordered: { code: string };

  before(async () => {
    mkdirSync(copy, { recursive: true });
    for (const dir of ['workflows', 'common', 'activities'])
      cpSync(join(PROJECT_ROOT, dir), join(copy, dir), { recursive: true });
    const file = join(copy, 'workflows', 'application', 'docker-container.ts');
    writeFileSync(file, swapped(readFileSync(file, 'utf8')));
    reordered = await bundleWorkflowCode({ workflowsPath: join(copy, 'workflows', 'index.ts'), logger });
  });
  after(() => rmSync(copy, { recursive: true, force: true }));

  it('the unmodified workflow replays the history', async () => {
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, HISTORY);
  });

  it('the copy with stop and preserve swapped fails with a determinism violation naming both activities', async () => {
    const err = await Worker.runReplayHistory({ workflowBundle: reordered }, history, HISTORY).then(
      () => assert.fail('the reordered workflow replayed the history without error'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof DeterminismViolationError, `expected DeterminismViolationError, got ${String(err)}`);
    assert.match(err.message, /preserveContainer/);
    assert.match(err.message, /stopContainer/);
  });
});
