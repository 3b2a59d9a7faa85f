// The fault matrix's environmentConfigRollback row: a container of the demo image on the harness dockerd, started
// like `docker run --env-file .env` (its CORTEX_HEALTH makes a bad env observable at /health), the known-good file
// beside it, Qdrant the harness's real server. Completed: .env holds the known-good bytes, one backup of the old bytes,
// one container of that name (recreated by the run) on the file's env, healthy. Anything else: .env holds the old
// bytes, the original container runs (same id), at most one backup of the old bytes, nothing of the run left.
// Persistent faults: the known-good env answers /health unhealthy for ever (never-healthy); Qdrant refuses the
// file's API key after the file was replaced and the container recreated (refused).
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RUN_ID_LABEL } from '../../../activities/docker.ts';
import { containersNamed, docker, GOOD, removeByPrefix, startApp } from '../../../test/helpers/docker.ts';
import { startQdrantServer, type QdrantServer } from '../../../test/helpers/qdrant-server.ts';
import { common, expect, healthStatus, ONCALL, type Ctx, type Run, type Scenario } from '../row.ts';

interface Variant {
  /** CORTEX_HEALTH of the current file and of the known-good one. */
  from: 'healthy' | 'unhealthy';
  to: 'healthy' | 'unhealthy';
  /** The Qdrant the known-good file names (a real server with another API key refuses it). */
  qdrantUrl?: string;
}

export function envFileRow(): Scenario {
  let root = '';
  let keyed: QdrantServer | undefined;
  const run = async (ctx: Ctx, tag: string, v: Variant): Promise<Run> => {
    const name = `faults-env-${tag}`;
    const dir = join(root, tag);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const lines = (health: string, url = ctx.q.url) => [
      '# cortex-mcp production env (fault matrix)',
      `QDRANT_URL=${url}`,
      'QDRANT_API_KEY=faults-key',
      'OPENAI_API_KEY=sk-faults',
      `CORTEX_HEALTH=${health}`,
    ];
    const envFile = join(dir, '.env');
    const knownGoodFile = join(dir, 'production.env.backup');
    const current = lines(v.from);
    await writeFile(envFile, `${current.join('\n')}\n`, { mode: 0o640 });
    await writeFile(knownGoodFile, `${lines(v.to, v.qdrantUrl).join('\n')}\n`, { mode: 0o600 });
    const [oldBytes, goodBytes] = [await readFile(envFile), await readFile(knownGoodFile)];
    const app = await startApp(name, GOOD, current.slice(1));
    const proxy = ctx.healthProxy ? await ctx.healthProxy(app.port) : undefined;
    const since = Date.now();
    const statusOf = (h: string) => (h === 'healthy' ? 200 : 503);
    return {
      workflowId: `faults-env-${tag}`,
      input: {
        envFile,
        knownGoodFile,
        target: { kind: 'docker', containerName: name, healthUrl: proxy ? `${proxy.url}/health` : app.healthUrl },
        ...common,
        stopTimeoutSeconds: 5,
        verifyTimeoutSeconds: v.to === 'unhealthy' || v.qdrantUrl ? 5 : 30,
        monitor: { durationSeconds: 0 },
        approval: { preApproved: ONCALL },
      },
      check: async (ending, runId) => {
        const problems: string[] = [];
        const files = await readdir(dir);
        const backups = files.filter((f) => f.startsWith('.env.backup-'));
        const temps = files.filter((f) => !['.env', 'production.env.backup'].includes(f) && !backups.includes(f));
        expect(problems, temps.length === 0, `files left: ${temps.join(', ')}`);
        expect(problems, backups.length <= 1, `backups: ${backups.join(', ')}`);
        for (const b of backups)
          expect(problems, (await readFile(join(dir, b))).equals(oldBytes), `${b} does not hold the old bytes`);
        const now = await readFile(envFile);
        const named = (await containersNamed(name)).map((c) => c.Names[0]);
        expect(problems, named.length === 1 && named[0] === `/${name}`, `containers: ${named.join(', ')}`);
        const c = await docker
          .getContainer(name)
          .inspect()
          .catch(() => undefined);
        expect(problems, c?.State.Running === true, `'${name}' is not running`);
        const created = ctx.events.filter(
          (e) => e.at >= since && e.action === 'create' && e.attributes[RUN_ID_LABEL] === runId,
        );
        expect(problems, created.length <= 1, `${created.length} containers created by the run`);
        const env = c?.Config.Env ?? [];
        if (ending.kind === 'completed') {
          expect(problems, now.equals(goodBytes), '.env does not hold the known-good bytes');
          expect(problems, backups.length === 1, 'no backup of the old file');
          expect(problems, c !== undefined && c.Id !== app.id, 'the container was not recreated');
          expect(problems, env.includes(`CORTEX_HEALTH=${v.to}`), 'the container does not run on the known-good env');
          const h = await healthStatus(app.healthUrl, statusOf(v.to));
          expect(problems, h === statusOf(v.to), `/health answers ${h ?? 'nothing'}`);
        } else {
          expect(problems, now.equals(oldBytes), '.env does not hold the old bytes');
          expect(problems, c?.Id === app.id, 'the original container is not the one running');
          expect(problems, env.includes(`CORTEX_HEALTH=${v.from}`), 'the container does not run on the old env');
          const h = await healthStatus(app.healthUrl, statusOf(v.from));
          expect(problems, h === statusOf(v.from), `/health answers ${h ?? 'nothing'}`);
        }
        return problems;
      },
      cleanup: async () => {
        await proxy?.close();
        await removeByPrefix(name);
        await rm(dir, { recursive: true, force: true });
      },
    };
  };
  return {
    name: 'environmentConfigRollback',
    workflowType: 'environmentConfigRollback',
    system: 'env files + the harness dockerd',
    uses: { docker: true, qdrant: true },
    prepare: async (ctx) => {
      root = join(ctx.dir, 'envfile');
      await rm(root, { recursive: true, force: true });
      await mkdir(root, { recursive: true });
      keyed = await startQdrantServer({ apiKey: 'another-key' });
    },
    setup: (ctx, tag) => run(ctx, tag, { from: 'unhealthy', to: 'healthy' }),
    persistent: {
      'never-healthy': (ctx, tag) => run(ctx, tag, { from: 'healthy', to: 'unhealthy' }),
      refused: (ctx, tag) => run(ctx, tag, { from: 'unhealthy', to: 'healthy', qdrantUrl: keyed!.url }),
    },
    teardown: async () => {
      await keyed?.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
