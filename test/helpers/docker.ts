// Real Docker for integration tests: the demo images (built by scripts/build-images.sh), app containers on the
// host network bound to 127.0.0.1 on a free port, and cleanup by name.
import Dockerode from 'dockerode';
import { execa } from 'execa';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../common/tools.ts';

export const docker = new Dockerode();
export const GOOD = 'cortex-memory-mcp:v2.0.0';
export const BAD = 'cortex-memory-mcp:v2.1.0';

export async function ensureImages(): Promise<void> {
  await execa('bash', [join(PROJECT_ROOT, 'scripts', 'build-images.sh')], { stdio: 'inherit' });
}

/** Ports this process handed out: containers started in parallel bind theirs later, so the OS may offer one twice. */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export interface App {
  name: string;
  port: number;
  healthUrl: string;
  id: string;
}

/** `labels` gets the app's health URL (known once its port is chosen) and returns labels to add. */
export async function startApp(
  name: string,
  image: string,
  env: string[] = [],
  labels?: (healthUrl: string) => Record<string, string>,
): Promise<App> {
  await removeByPrefix(name);
  const port = await freePort();
  const healthUrl = `http://127.0.0.1:${port}/health`;
  const c = await docker.createContainer({
    name,
    Image: image,
    Env: [`PORT=${port}`, 'HOST=127.0.0.1', ...env],
    Labels: { 'cortex-test': 'true', team: 'platform', ...labels?.(healthUrl) },
    HostConfig: { NetworkMode: 'host', RestartPolicy: { Name: 'unless-stopped' } },
  });
  await c.start();
  const app = { name, port, healthUrl, id: c.id };
  await waitFor(
    async () => (await fetch(app.healthUrl).catch(() => undefined)) !== undefined,
    10_000,
    `${name} listening`,
  );
  return app;
}

/** Containers whose name is `prefix` or starts with it, oldest first. */
export async function containersNamed(prefix: string): Promise<Dockerode.ContainerInfo[]> {
  const all = await docker.listContainers({ all: true, filters: { name: [prefix] } });
  return all.filter((c) => c.Names.some((n) => n === `/${prefix}` || n.startsWith(`/${prefix}-`)));
}

export async function removeByPrefix(prefix: string): Promise<void> {
  for (const c of await containersNamed(prefix)) {
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
}

export async function imageId(ref: string): Promise<string> {
  return (await docker.getImage(ref).inspect()).Id;
}

export async function health(url: string): Promise<{ status: number; body: { status?: string; version?: string } }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return { status: res.status, body: (await res.json()) as { status?: string; version?: string } };
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
