// `node --import tsx scripts/machine-state.ts snapshot <file> | compare <file> | around [options] -- <command…>`:
// the check that a test run leaves the machine as it found it (issue 16). A snapshot is the Docker daemon's
// containers and networks and, in the root network namespace, the links, the named network namespaces and the
// iptables filter and nat rules; what counts as a difference is scripts/machine-state/compare.ts's to say.
//   snapshot <file>   writes a snapshot
//   compare <file>    takes another and compares; exit 1 and the differences when the machine changed
//   around -- <cmd>   snapshot, run <cmd> (its output as is), compare; the exit code is <cmd>'s if it failed, else 1
//                     when the machine changed, else 0 (`npm test` and `npm run faults` run this way)
// Options: --docker <socket> (default: DOCKER_HOST, else /var/run/docker.sock), --settle <seconds> (how long a
// difference may take to go away after the run, e.g. a container still being removed; default 20).
// Invariant: reads only (the Docker API's container and network lists, ip, iptables-save); changes nothing.
import Dockerode from 'dockerode';
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { parseArgs } from 'node:util';
import {
  compareStates,
  formatDifferences,
  inconsistencies,
  parseIpAddr,
  parseIptablesSave,
  type Difference,
  type MachineState,
  type NetworkState,
} from './machine-state/compare.ts';

export interface SnapshotOptions {
  /** The Docker daemon's unix socket; default: DOCKER_HOST (unix://…), else the machine's /var/run/docker.sock. */
  dockerSocket?: string;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

function dockerSocket(o: SnapshotOptions): string {
  if (o.dockerSocket) return o.dockerSocket;
  const host = process.env.DOCKER_HOST;
  return host?.startsWith('unix://') ? host.slice('unix://'.length) : '/var/run/docker.sock';
}

export async function takeSnapshot(o: SnapshotOptions = {}): Promise<MachineState> {
  const socket = dockerSocket(o);
  const state: MachineState = {
    takenAt: new Date().toISOString(),
    docker: socket,
    errors: {},
    containers: [],
    networks: [],
    links: [],
    netns: [],
    iptables: {},
  };
  const docker = new Dockerode({ socketPath: socket });
  await Promise.all([
    (async () => {
      try {
        const [containers, networks] = await Promise.all([docker.listContainers({ all: true }), docker.listNetworks()]);
        state.containers = containers
          .map((c) => ({
            id: c.Id,
            name: (c.Names[0] ?? c.Id).replace(/^\//, ''),
            image: c.Image,
            state: c.State,
            labels: c.Labels ?? {},
          }))
          .sort((a, b) => a.name.localeCompare(b.name));
        state.networks = networks
          .map((n): NetworkState => ({
            id: n.Id,
            name: n.Name,
            driver: n.Driver,
            ...(n.Driver === 'bridge'
              ? { bridge: n.Options?.['com.docker.network.bridge.name'] ?? `br-${n.Id.slice(0, 12)}` }
              : {}),
            subnets: (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').filter(Boolean),
            labels: n.Labels ?? {},
          }))
          .sort((a, b) => a.name.localeCompare(b.name));
      } catch (err) {
        state.errors.docker = message(err);
      }
    })(),
    (async () => {
      try {
        state.links = parseIpAddr((await execa('ip', ['-j', '-d', 'addr', 'show'])).stdout);
      } catch (err) {
        state.errors.links = message(err);
      }
    })(),
    (async () => {
      try {
        const out = (await execa('ip', ['-j', 'netns', 'list'])).stdout.trim();
        state.netns = ((out ? JSON.parse(out) : []) as Array<{ name: string }>).map((n) => n.name).sort();
      } catch (err) {
        state.errors.netns = message(err);
      }
    })(),
    (async () => {
      try {
        for (const table of ['filter', 'nat'] as const)
          state.iptables[table] = parseIptablesSave((await execa('iptables-save', ['-t', table])).stdout);
      } catch (err) {
        state.errors.iptables = message(err);
      }
    })(),
  ]);
  return state;
}

/**
 * Compares snapshots until none differs from `before` or `settleMs` has passed: what the run's last teardown is
 * still doing (a container being removed, its veth going) is not a change; what is still there then is.
 */
export async function compareSettled(
  before: MachineState,
  o: SnapshotOptions & { settleMs?: number } = {},
): Promise<Difference[]> {
  const end = Date.now() + (o.settleMs ?? 20_000);
  for (;;) {
    const diffs = compareStates(before, await takeSnapshot({ ...o, dockerSocket: before.docker }));
    if (diffs.length === 0 || Date.now() >= end) return diffs;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Prints the verdict; true when the machine is as it was. */
export function report(diffs: Difference[], what: string): boolean {
  if (diffs.length === 0) {
    console.error(`[machine-state] ${what} left the machine as it found it`);
    return true;
  }
  console.error(
    `[machine-state] FAIL: ${what} changed the machine (${diffs.length} difference${diffs.length > 1 ? 's' : ''}; ` +
      `- gone or changed, + left behind):\n${formatDifferences(diffs)}`,
  );
  return false;
}

/** A machine broken before the run: said at once, so the failures it causes are not blamed on the run. */
function warnIfBroken(s: MachineState): void {
  if (s.errors.docker) console.error(`[machine-state] warning: Docker not readable: ${s.errors.docker}`);
  for (const w of inconsistencies(s)) console.error(`[machine-state] warning, before the run: ${w}`);
}

async function around(command: string[], o: SnapshotOptions & { settleMs: number }): Promise<number> {
  const before = await takeSnapshot(o);
  warnIfBroken(before);
  const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit' });
  // Ctrl-C reaches the command from the terminal itself: this process only stays alive to compare afterwards.
  // A SIGTERM (a CI timeout) is passed on.
  const onInt = () => undefined;
  const onTerm = () => child.kill('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const code = await new Promise<number>((resolve) => {
    child.on('error', (err) => {
      console.error(`[machine-state] could not run ${command[0]}: ${err.message}`);
      resolve(127);
    });
    child.on('exit', (c, signal) => resolve(c ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
  process.off('SIGINT', onInt);
  process.off('SIGTERM', onTerm);
  const clean = report(await compareSettled(before, o), `\`${command.join(' ').slice(0, 120)}\``);
  return code !== 0 ? code : clean ? 0 : 1;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { docker: { type: 'string' }, settle: { type: 'string' } },
  });
  const o = {
    ...(values.docker ? { dockerSocket: values.docker } : {}),
    settleMs: Number(values.settle ?? 20) * 1000,
  };
  const [cmd, ...rest] = positionals;
  switch (cmd) {
    case 'snapshot': {
      if (!rest[0]) break;
      const s = await takeSnapshot(o);
      warnIfBroken(s);
      writeFileSync(rest[0], `${JSON.stringify(s, null, 2)}\n`);
      return 0;
    }
    case 'compare': {
      if (!rest[0]) break;
      const before = JSON.parse(readFileSync(rest[0], 'utf8')) as MachineState;
      return report(await compareSettled(before, o), `the run since ${before.takenAt}`) ? 0 : 1;
    }
    case 'around':
      if (rest.length === 0) break;
      return around(rest, o);
  }
  console.error(
    'usage: machine-state.ts snapshot <file> | compare <file> | around [--docker S] [--settle N] -- <cmd…>',
  );
  return 2;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
