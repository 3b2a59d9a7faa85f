// `npm run demo`: the main job on the embedded default, from a fresh clone. Provisions what is missing
// (temporal binaries, Docker engine, demo images), starts the dev server (persistent, .data/) and a worker,
// runs the broken cortex-memory-mcp:v2.1.0 as `cortex-mcp` on 127.0.0.1:$DEMO_PORT (3000), rolls it back to
// v2.0.0 with an on-call approval and a short watch, and prints the result and where to look in the Web UI.
// `--keep` leaves the server and worker running afterwards (Ctrl-C stops them).
import Dockerode from 'dockerode';
import { execa } from 'execa';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect, getStatus, sendDecision, startDockerRollback, waitResult } from '../client/client.ts';
import { PROJECT_ROOT } from '../common/tools.ts';
import { startDevServer, startWorkerProcess } from './dev.ts';

const NAME = 'cortex-mcp';
const say = (s: string) => console.log(`\n=== ${s}`);

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { keep: { type: 'boolean' } } });
  const port = Number(process.env.DEMO_PORT ?? 3000);
  say('provisioning (temporal binaries, Docker engine, demo images)');
  await execa('bash', [join(PROJECT_ROOT, 'scripts', 'provision.sh')], { stdio: 'inherit' });

  say('starting the Temporal dev server and a worker');
  const { proc: server } = await startDevServer();
  const worker = startWorkerProcess();
  const rc = await connect();
  try {
    const docker = new Dockerode();
    say(`running the broken release: ${NAME} = cortex-memory-mcp:v2.1.0 on 127.0.0.1:${port}`);
    const existing = await docker
      .getContainer(NAME)
      .inspect()
      .catch(() => undefined);
    if (
      existing &&
      existing.Config.Labels?.['cortex-demo'] !== 'true' &&
      !existing.Config.Labels?.['cortex-rollback.run-id']
    ) {
      throw new Error(`a container named '${NAME}' exists and is not the demo's; remove it or run the demo elsewhere`);
    }
    if (existing) await docker.getContainer(existing.Id).remove({ force: true });
    const c = await docker.createContainer({
      name: NAME,
      Image: 'cortex-memory-mcp:v2.1.0',
      Env: [`PORT=${port}`, 'HOST=127.0.0.1', 'QDRANT_URL=http://127.0.0.1:6333'],
      Labels: { 'cortex-demo': 'true' },
      HostConfig: { NetworkMode: 'host', RestartPolicy: { Name: 'unless-stopped' } },
    });
    await c.start();
    await new Promise((r) => setTimeout(r, 800));
    const healthUrl = `http://127.0.0.1:${port}/health`;
    const before = await fetch(healthUrl).then(
      (r) => r.status,
      (e: Error) => e.message,
    );
    console.log(`GET ${healthUrl} -> ${before}`);

    say('starting the rollback (workflow dockerContainerRollback)');
    const { workflowId } = await startDockerRollback(rc, {
      containerName: NAME,
      targetImage: 'cortex-memory-mcp:v2.0.0',
      healthUrl,
      reason: 'demo: v2.1.0 answers /health with 503',
      requestedBy: 'demo',
      monitor: { durationSeconds: 10, intervalSeconds: 2 },
      searchAttributes: true,
    });
    console.log(`workflow id: ${workflowId}`);
    for (let i = 0; i < 100 && (await getStatus(rc, workflowId)).phase !== 'awaiting-approval'; i++) {
      await new Promise((r) => setTimeout(r, 200));
    }
    say(
      'approving as an on-call engineer (same as: cortex-rollback approve ' +
        workflowId +
        ' --approver oncall-eng --role on-call-engineer)',
    );
    await sendDecision(rc, workflowId, {
      approve: { approver: 'oncall-eng', role: 'on-call-engineer', comment: 'demo' },
    });

    say('waiting for verification and the 10 s watch');
    const r = await waitResult(rc, workflowId);
    const after = await fetch(healthUrl).then(
      (x) => x.text(),
      (e: Error) => e.message,
    );
    say('result');
    console.log(
      JSON.stringify(
        r.ok
          ? {
              outcome: r.result.outcome,
              from: r.result.from.image,
              to: r.result.to.image,
              verification: r.result.verification?.healthy,
              watch: r.result.monitoring && {
                samples: r.result.monitoring.samples,
                failures: r.result.monitoring.failures,
              },
            }
          : r,
        null,
        2,
      ),
    );
    console.log(`GET ${healthUrl} -> ${after}`);
    const [ip, tport] = rc.settings.address.split(':');
    console.log(
      `\nWeb UI: http://${ip}:${Number(tport) + 1000}/namespaces/${rc.settings.namespace}/workflows/${workflowId}`,
    );
    console.log(
      `Status: npx cortex-rollback status ${workflowId}   (or: temporal workflow query --workflow-id ${workflowId} --type status)`,
    );
    if (values.keep) {
      console.log('\n--keep: the dev server and worker keep running; Ctrl-C stops them.');
      await worker;
    }
    return r.ok && r.result.outcome === 'succeeded' ? 0 : 1;
  } finally {
    await rc.close();
    worker.kill('SIGTERM');
    await worker;
    server?.kill('SIGTERM');
    await server;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
