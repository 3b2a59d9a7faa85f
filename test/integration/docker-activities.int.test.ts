// The Docker activities on their own against the real engine: each one repeated (as a retry after a crash would)
// finds its own earlier effect and does not repeat it; errors are classified (404 permanent, unreachable socket
// retryable); nothing removes a container it did not create or preserve.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Dockerode from 'dockerode';
import { createDockerActivities } from '../../activities/docker.ts';
import { activityFailure } from '../helpers/failures.ts';
import {
  BAD,
  containersNamed,
  docker,
  ensureImages,
  GOOD,
  imageId,
  removeByPrefix,
  startApp,
} from '../helpers/docker.ts';

const acts = createDockerActivities({ docker });

const failure = activityFailure;

describe('Docker activities against the real engine', () => {
  const name = `cortex-mcp-acts-${Date.now().toString(36)}`;
  after(async () => {
    await removeByPrefix(name);
  });

  it('classifies a missing image as permanent and an unreachable engine as retryable', async () => {
    const missing = await failure(acts.findImage({ ref: 'cortex-memory-mcp:v0.0.404' }));
    assert.equal(missing.type, 'NotFound');
    assert.equal(missing.nonRetryable, true);
    const blind = createDockerActivities({ docker: new Dockerode({ socketPath: '/nonexistent/docker.sock' }) });
    const down = await failure(blind.inspectContainer({ name: 'anything' }));
    assert.equal(down.type, 'Unavailable');
    assert.equal(down.nonRetryable, false);
    assert.match(down.message, /Docker engine unreachable \(ENOENT/);
  });

  it('every step, repeated, finds its own earlier effect', async () => {
    await ensureImages();
    const app = await startApp(name, BAD, ['EXTRA=1']);
    const snap = await acts.inspectContainer({ name });
    assert.deepEqual(
      snap.spec.env.filter((e) => !e.startsWith('PATH=')),
      [`PORT=${app.port}`, 'HOST=127.0.0.1', 'EXTRA=1'],
    );
    const preservedName = `${name}-pre-rollback-test`;
    const move = { name, preservedName, expectedId: app.id };
    assert.deepEqual(await acts.preserveContainer(move), { renamed: true });
    assert.deepEqual(await acts.preserveContainer(move), { renamed: false });
    const policy = async (n: string) => (await docker.getContainer(n).inspect()).HostConfig.RestartPolicy?.Name;
    assert.equal(await policy(preservedName), 'no', 'a preserved container cannot come back by itself');
    assert.deepEqual(await acts.stopContainer({ name: preservedName, timeoutSeconds: 5 }), { stopped: true });
    assert.deepEqual(await acts.stopContainer({ name: preservedName, timeoutSeconds: 5 }), { stopped: false });
    const run = { name, image: GOOD, spec: snap.spec, runId: 'run-1', workflowId: 'wf-1', rolledBackFrom: BAD };
    const first = await acts.runContainer(run);
    const second = await acts.runContainer(run);
    assert.deepEqual([first.reused, second.reused, second.id], [false, true, first.id]);
    assert.equal(first.imageId, await imageId(GOOD));

    // another run may not claim or remove this container
    const foreign = await failure(acts.runContainer({ ...run, runId: 'run-2' }));
    assert.equal(foreign.type, 'Conflict');
    const refuse = await failure(acts.removeOwnContainer({ name, runId: 'run-2' }));
    assert.equal(refuse.type, 'Conflict');
    assert.equal((await containersNamed(name)).length, 2);

    assert.deepEqual(await acts.removeOwnContainer({ name, runId: 'run-1' }), { removed: true });
    assert.deepEqual(await acts.removeOwnContainer({ name, runId: 'run-1' }), { removed: false });
    const restore = { ...move, restartPolicy: { Name: 'unless-stopped' } };
    assert.deepEqual(await acts.restorePreserved(restore), { restored: true });
    assert.deepEqual(await acts.restorePreserved(restore), { restored: false });
    assert.equal(await policy(name), 'unless-stopped', 'the original restart policy is back');
    const back = await docker.getContainer(name).inspect();
    assert.deepEqual([back.Id, back.State.Running], [app.id, true]);
    assert.deepEqual(await acts.removePreserved({ preservedName, expectedId: app.id }), { removed: false });
  });
});
