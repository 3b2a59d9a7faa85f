// A Docker Engine API proxy on a unix socket, given to a worker process as DOCKER_HOST. It passes every request
// through to the real daemon and can catch one request matching a rule, so a crash test kills the worker at a
// point it knows exactly: "dockerd has received the stop" (forward, then tell the test) or "the container exists
// and its start was never sent" (hold: the request never reaches dockerd). When the worker's connection dies, the
// proxied request dies with it, as a direct connection to dockerd would.
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DOCKERD = '/var/run/docker.sock';

export interface GateRule {
  method: string;
  path: RegExp;
  /** hold: never forwarded; forward: forwarded, the catch is reported once dockerd has the whole request. */
  mode: 'hold' | 'forward';
}

export interface DockerGate {
  /** The DOCKER_HOST value for the worker. */
  host: string;
  /** Every request seen, in arrival order (method and path without the API version prefix). */
  requests: Array<{ method: string; path: string; status?: number }>;
  /** Catches the next request matching `rule`; resolves with its path once caught as the mode says. */
  arm(rule: GateRule): Promise<string>;
  close(): Promise<void>;
}

export async function startDockerGate(): Promise<DockerGate> {
  const dir = mkdtempSync(join(tmpdir(), 'crash-docker-gate-'));
  const socketPath = join(dir, 'docker.sock');
  const requests: DockerGate['requests'] = [];
  let armed: { rule: GateRule; caught: (path: string) => void } | undefined;

  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').replace(/^\/v[\d.]+\//, '/');
    const entry: DockerGate['requests'][number] = { method, path };
    requests.push(entry);
    const catching = armed && armed.rule.method === method && armed.rule.path.test(path) ? armed : undefined;
    if (catching) armed = undefined;
    if (catching?.rule.mode === 'hold') {
      catching.caught(path);
      return; // left unanswered: the worker is killed while it waits
    }
    const up = http.request({ socketPath: DOCKERD, method, path: req.url, headers: req.headers }, (upRes) => {
      entry.status = upRes.statusCode;
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
    if (catching) up.on('finish', () => catching.caught(path));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });

  return {
    host: `unix://${socketPath}`,
    requests,
    arm: (rule) =>
      new Promise<string>((resolve) => {
        armed = { rule, caught: resolve };
      }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
