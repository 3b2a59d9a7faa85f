// Guards every workflow change: the committed histories under test/histories must replay against the current
// workflow code without a non-determinism error. A change that breaks this needs patched(), not a re-record.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../common/tools.ts';
import { workflowBundle } from '../../workers/bundle.ts';
import '../helpers/temporal.ts';

const dir = join(PROJECT_ROOT, 'test', 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('replay of committed workflow histories', () => {
  let bundle: { codePath: string };
  before(async () => {
    bundle = await workflowBundle();
  });
  it('has histories to replay', () => {
    assert.ok(files.length >= 14, `expected at least 14 histories in ${dir}, found ${files.length}`);
  });
  it('has crash-and-resume histories: an activity interrupted by a worker kill and completed on a retry', () => {
    for (const file of [
      'docker-crash-resumed.json',
      'qdrant-copy-crash-resumed.json',
      'system-service-crash-resumed.json',
      'kubernetes-crash-resumed.json',
    ]) {
      assert.ok(files.includes(file), `${file} is missing`);
      const history = historyFromJSON(JSON.parse(readFileSync(join(dir, file), 'utf8')));
      const retried = (history.events ?? []).filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 0) >= 2);
      assert.equal(retried.length, 1, `${file}: one activity completed on a retry`);
    }
  });
  for (const file of files) {
    it(`replays ${file}`, async () => {
      const history = historyFromJSON(JSON.parse(readFileSync(join(dir, file), 'utf8')));
      assert.ok((history.events?.length ?? 0) > 5);
      await Worker.runReplayHistory({ workflowBundle: bundle }, history, file);
    });
  }
});
