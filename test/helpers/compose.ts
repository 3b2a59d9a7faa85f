// Compose projects of a test's own for the Docker network rollback: a local image with `getent` (built FROM
// cortex-node-base:local, no registry), two services on a bridge network with a 172.31.x.0/24 subnet, the api
// published on 127.0.0.1 only. The service's /health waits while /ctl/hold exists (a bind-mounted directory), so a
// test can hold the verification at a point it chooses.
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execaRunner, type CommandRunner } from '../../activities/command.ts';
import { freePort } from './docker.ts';

export const PROBE_IMAGE = 'cortex-compose-probe:local';

const SERVER = `const fs = require('fs');
require('http').createServer((q, s) => {
  const answer = () => {
    s.setHeader('content-type', 'application/json');
    s.end(JSON.stringify({ status: 'healthy', service: process.env.SERVICE || '?' }));
  };
  const wait = () => (fs.existsSync('/ctl/hold') ? setTimeout(wait, 100) : answer());
  wait();
}).listen(8080, '0.0.0.0');
process.on('SIGTERM', () => process.exit(0));
`;

export async function ensureProbeImage(): Promise<void> {
  const getent = readFileSync('/usr/bin/getent');
  const hash = createHash('sha256').update(getent).update(SERVER).digest('hex').slice(0, 16);
  const have = await execa(
    'docker',
    ['image', 'inspect', '--format', '{{index .Config.Labels "cortex-test.hash"}}', PROBE_IMAGE],
    {
      reject: false,
    },
  );
  if (have.exitCode === 0 && have.stdout.trim() === hash) return;
  const ctx = mkdtempSync(join(tmpdir(), 'cortex-compose-probe-'));
  try {
    writeFileSync(join(ctx, 'getent'), getent, { mode: 0o755 });
    writeFileSync(join(ctx, 'nsswitch.conf'), 'hosts: files dns\n');
    writeFileSync(join(ctx, 'server.js'), SERVER);
    writeFileSync(
      join(ctx, 'Dockerfile'),
      `FROM cortex-node-base:local
COPY getent /usr/bin/getent
COPY nsswitch.conf /etc/nsswitch.conf
COPY server.js /probe/server.js
LABEL cortex-test.hash="${hash}"
ENTRYPOINT ["/usr/bin/node", "/probe/server.js"]
`,
    );
    await execa('docker', ['build', '-q', '-t', PROBE_IMAGE, ctx], { env: { DOCKER_BUILDKIT: '0' } });
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

export function composeFile(o: { subnet: string; port: number; ctl: string; network?: string }): string {
  const net = o.network ?? 'backend';
  return `services:
  api:
    image: ${PROBE_IMAGE}
    environment: { SERVICE: api }
    ports: ["127.0.0.1:${o.port}:8080"]
    volumes: ["${o.ctl}:/ctl"]
    networks: [${net}]
  db:
    image: ${PROBE_IMAGE}
    environment: { SERVICE: db }
    volumes: ["${o.ctl}:/ctl"]
    networks: [${net}]
networks:
  ${net}:
    ipam:
      config:
        - subnet: ${o.subnet}
`;
}

let seq = 0;

export interface Project {
  name: string;
  dir: string;
  /** The file the project runs from (the rollback replaces it). */
  current: string;
  /** The known-good file. */
  good: string;
  goodSubnet: string;
  currentSubnet: string;
  port: number;
  healthUrl: string;
  network: string;
  hold: () => void;
  release: () => void;
  compose: (args: string[]) => Promise<{ exitCode: number | undefined; stdout: string; stderr: string }>;
  containers: () => Promise<Array<{ id: string; service: string; state: string }>>;
  subnets: () => Promise<string[]>;
  resolves: (from: string, service: string) => Promise<boolean>;
  close: () => Promise<void>;
}

/** A project running from a "bad" file (another subnet); the known-good file beside it. */
export async function createProject(tag: string): Promise<Project> {
  seq += 1;
  const name = `cortex-netfix-${tag}-${process.pid}-${seq}`;
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const ctl = join(dir, 'ctl');
  await execa('mkdir', ['-p', ctl]);
  const octet = 100 + ((process.pid * 7 + seq * 2) % 150);
  const goodSubnet = `172.31.${octet}.0/24`;
  const currentSubnet = `172.31.${octet + 1}.0/24`;
  const port = await freePort();
  const good = join(dir, 'known-good.yml');
  const current = join(dir, 'docker-compose.yml');
  writeFileSync(good, composeFile({ subnet: goodSubnet, port, ctl }));
  writeFileSync(current, composeFile({ subnet: currentSubnet, port, ctl }));
  const network = `${name}_backend`;
  const compose = async (args: string[]) => {
    const r = await execa('docker', ['compose', '-p', name, '-f', current, ...args], { reject: false, cwd: dir });
    return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
  };
  const p: Project = {
    name,
    dir,
    current,
    good,
    goodSubnet,
    currentSubnet,
    port,
    healthUrl: `http://127.0.0.1:${port}/health`,
    network,
    hold: () => writeFileSync(join(ctl, 'hold'), ''),
    release: () => rmSync(join(ctl, 'hold'), { force: true }),
    compose,
    containers: async () => {
      const r = await compose(['ps', '-a', '--format', 'json']);
      return r.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { ID: string; Service: string; State: string })
        .map((c) => ({ id: c.ID, service: c.Service, state: c.State }))
        .sort((a, b) => a.service.localeCompare(b.service));
    },
    subnets: async () => {
      const r = await execa(
        'docker',
        ['network', 'inspect', network, '--format', '{{range .IPAM.Config}}{{.Subnet}} {{end}}'],
        {
          reject: false,
        },
      );
      return r.exitCode === 0 ? r.stdout.trim().split(/\s+/).filter(Boolean) : [];
    },
    resolves: async (from, service) => {
      const r = await execa('docker', ['exec', `${name}-${from}-1`, 'getent', 'hosts', service], { reject: false });
      return r.exitCode === 0 && r.stdout.trim() !== '';
    },
    close: async () => {
      p.release();
      await execa(
        'docker',
        ['compose', '-p', name, '-f', existsSync(current) ? current : good, 'down', '--remove-orphans'],
        {
          reject: false,
          cwd: dir,
        },
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const up = await compose(['up', '-d']);
  if (up.exitCode !== 0) {
    await p.close();
    throw new Error(`compose up of ${name}: ${up.stderr}`);
  }
  return p;
}

/**
 * Docker 20.10's lost alias, produced the way it happens: right after the workflow's first `up -d`, Compose
 * recreates the project's network twice (another subnet, then the known-good one again, as a concurrent deploy
 * would). The containers come back on the right subnet, but `db` no longer resolves inside `api`.
 */
export function recreateNetworkAfterFirstUp(p: Project): { run: CommandRunner; aliasLost: () => boolean | undefined } {
  let lost: boolean | undefined;
  const other = join(p.dir, 'other-subnet.yml');
  writeFileSync(other, readFileSync(p.current, 'utf8'));
  const compose = (file: string, args: string[]) =>
    execa('docker', ['compose', '-p', p.name, '-f', file, ...args], { cwd: p.dir });
  const run: CommandRunner = async (file, args, options) => {
    const r = await execaRunner(file, args, options);
    if (lost === undefined && args.includes(p.name) && args.includes('up') && r.exitCode === 0) {
      lost = false;
      await compose(other, ['up', '-d']);
      await compose(p.good, ['up', '-d']);
      lost = !(await p.resolves('api', 'db'));
    }
    return r;
  };
  return { run, aliasLost: () => lost };
}
