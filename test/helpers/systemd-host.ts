// A real systemd host for tests: a container of image cortex-systemd:bookworm (scripts/provision-systems.sh) running
// /lib/systemd/systemd as PID 1 on the host network, with the host's node and this checkout bind-mounted read-only,
// so a host worker (workers/host.ts) runs INSIDE it and reaches the Temporal dev server at 127.0.0.1.
// The worker is a process of the machine: kill() SIGKILLs it there (killing `docker exec` would not).
import { execa } from 'execa';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../common/tools.ts';
import { waitFor } from './docker.ts';

export const SYSTEMD_IMAGE = 'cortex-systemd:bookworm';

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface MachineWorker {
  /** The worker's Temporal identity (shows in ActivityTaskStarted events). */
  identity: string;
  ready: Promise<void>;
  output: () => string;
  /** SIGKILL inside the machine, as a crash would; resolves once the process is gone. */
  kill: () => Promise<void>;
  /** SIGTERM (graceful drain) and wait. */
  stop: () => Promise<void>;
}

export interface SystemdMachine {
  name: string;
  /** Runs a shell script inside the machine; never throws for a non-zero exit. */
  sh: (script: string) => Promise<ExecResult>;
  /** As sh, but throws with the output on a non-zero exit. */
  must: (script: string) => Promise<string>;
  /** Starts workers/host.ts inside the machine for `host`, talking to Temporal at `address`. */
  startWorker: (opts: { address: string; host: string; identity: string; script?: string }) => MachineWorker;
  remove: () => Promise<void>;
}

export async function systemdImagePresent(): Promise<boolean> {
  const r = await execa('docker', ['image', 'inspect', SYSTEMD_IMAGE], { reject: false });
  return r.exitCode === 0;
}

export async function startSystemdMachine(name: string): Promise<SystemdMachine> {
  await execa('docker', ['rm', '-f', name], { reject: false });
  const modules = realpathSync(join(PROJECT_ROOT, 'node_modules'));
  await execa('docker', [
    'run',
    '-d',
    '--name',
    name,
    '--label',
    'cortex-rollback.test=systemd-host',
    '--network',
    'host',
    '--stop-signal',
    'SIGRTMIN+3',
    '--cap-add',
    'ALL',
    '--cap-drop',
    'SYS_RESOURCE',
    '--security-opt',
    'seccomp=unconfined',
    '--security-opt',
    'apparmor=unconfined',
    '--cgroupns=host',
    '-v',
    '/sys/fs/cgroup:/sys/fs/cgroup:rw',
    '--tmpfs',
    '/run',
    '--tmpfs',
    '/run/lock',
    '-v',
    `${process.execPath}:/usr/bin/node:ro`,
    '-v',
    '/usr/lib/node_modules/npm:/usr/lib/node_modules/npm:ro',
    '-v',
    `${PROJECT_ROOT}:${PROJECT_ROOT}:ro`,
    ...(modules !== join(PROJECT_ROOT, 'node_modules') ? ['-v', `${modules}:${modules}:ro`] : []),
    SYSTEMD_IMAGE,
    '/lib/systemd/systemd',
  ]);
  const sh = async (script: string): Promise<ExecResult> => {
    const r = await execa('docker', ['exec', name, 'sh', '-c', script], { reject: false });
    return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
  };
  const must = async (script: string): Promise<string> => {
    const r = await sh(script);
    if (r.exitCode !== 0) throw new Error(`in ${name}: \`${script}\` exited ${r.exitCode}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  let last = '';
  await waitFor(
    async () => {
      last = (await sh('systemctl is-system-running')).stdout.trim();
      return last === 'running';
    },
    60_000,
    `systemd in ${name} to be running (last: ${last})`,
  );
  await must('ln -sf /usr/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm');

  let seq = 0;
  const startWorker: SystemdMachine['startWorker'] = ({ address, host, identity, script }) => {
    seq += 1;
    const pidFile = `/run/cortex-host-worker-${seq}.pid`;
    const entry = script ?? join(PROJECT_ROOT, 'workers', 'host.ts');
    let out = '';
    const proc = execa(
      'docker',
      [
        'exec',
        '-w',
        PROJECT_ROOT,
        '-e',
        `TEMPORAL_ADDRESS=${address}`,
        '-e',
        'TEMPORAL_NAMESPACE=default',
        name,
        'sh',
        '-c',
        `echo $$ > ${pidFile}; exec node --import tsx ${entry} --host ${host} --identity ${identity}`,
      ],
      { reject: false, all: true, buffer: false },
    );
    const ready = new Promise<void>((resolve, reject) => {
      proc.all?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('polling task queue')) resolve();
      });
      void proc.then((r) => reject(new Error(`host worker exited (${r.exitCode ?? r.signal}) before ready:\n${out}`)));
    });
    ready.catch(() => undefined);
    const signal = async (sig: 'KILL' | 'TERM'): Promise<void> => {
      await sh(`kill -${sig} $(cat ${pidFile}) 2>/dev/null || true`);
      await proc;
    };
    return { identity, ready, output: () => out, kill: () => signal('KILL'), stop: () => signal('TERM') };
  };

  return {
    name,
    sh,
    must,
    startWorker,
    remove: async () => {
      await execa('docker', ['rm', '-f', name], { reject: false });
    },
  };
}

export interface UnitSpec {
  unit: string;
  /** What ExecStart runs, e.g. `/usr/bin/node /srv/app/current/server.js`. */
  execStart: string;
  workingDirectory?: string;
  environment?: Record<string, string>;
}

/** Writes /etc/systemd/system/<unit>.service, reloads systemd and starts it. */
export async function installUnit(m: SystemdMachine, spec: UnitSpec): Promise<void> {
  const env = Object.entries(spec.environment ?? {})
    .map(([k, v]) => `Environment=${k}=${v}\n`)
    .join('');
  const text =
    `[Unit]\nDescription=${spec.unit} (cortex-rollback test)\n\n[Service]\nExecStart=${spec.execStart}\n` +
    (spec.workingDirectory ? `WorkingDirectory=${spec.workingDirectory}\n` : '') +
    env +
    `Restart=no\n\n[Install]\nWantedBy=multi-user.target\n`;
  await m.must(
    `cat > /etc/systemd/system/${spec.unit}.service <<'UNIT'\n${text}UNIT\n` +
      `systemctl daemon-reload && systemctl start ${spec.unit}`,
  );
}

/** `systemctl show` properties of a unit, read directly (not through the activities under test). */
export async function unitProps(m: SystemdMachine, unit: string): Promise<Record<string, string>> {
  const out = await m.must(`systemctl show ${unit} --property=InvocationID,ActiveState,SubState,MainPID,NRestarts`);
  return Object.fromEntries(
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** How each tag of the fixture app behaves. */
export const APP_TAGS = {
  'v0.8.0': 'build-fails',
  'v0.9.0': 'unhealthy',
  'v1.0.0': 'healthy',
  'v1.1.0': 'healthy',
  'v1.2.0': 'unhealthy',
} as const;
export type AppTag = keyof typeof APP_TAGS;

function appFiles(tag: AppTag): Record<string, string> {
  const mode = APP_TAGS[tag];
  return {
    'package.json': JSON.stringify({
      name: 'cortex-test-app',
      version: tag.slice(1),
      private: true,
      scripts: { build: 'node build.js' },
    }),
    // npm ci works offline against a lockfile without dependencies
    'package-lock.json': JSON.stringify({
      name: 'cortex-test-app',
      version: tag.slice(1),
      lockfileVersion: 3,
      requires: true,
      packages: { '': { name: 'cortex-test-app', version: tag.slice(1) } },
    }),
    'build.js':
      mode === 'build-fails'
        ? `console.error('build ${tag}: cannot find module ./generated'); process.exit(1);\n`
        : `require('fs').mkdirSync('dist', { recursive: true }); require('fs').writeFileSync('dist/build.txt', '${tag}\\n');\n`,
    'server.js': [
      `const fs = require('fs');`,
      `const VERSION = '${tag}';`,
      `const HEALTHY = ${mode === 'healthy'} && fs.existsSync(__dirname + '/dist/build.txt');`,
      `require('http').createServer((req, res) => {`,
      `  res.writeHead(HEALTHY ? 200 : 503, { 'content-type': 'application/json' });`,
      `  res.end(JSON.stringify({ status: HEALTHY ? 'healthy' : 'unhealthy', version: VERSION }));`,
      `}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('cortex-test-app ' + VERSION + ' listening on ' + process.env.PORT));`,
      ``,
    ].join('\n'),
  };
}

/** A bare git repository at `<dir>/app.git` in the machine holding every APP_TAGS tag (v1.1.0 annotated). */
export async function createAppRemote(m: SystemdMachine, dir: string): Promise<string> {
  const src = `${dir}/app-src`;
  const remote = `${dir}/app.git`;
  let script =
    `set -e; rm -rf ${src} ${remote}; mkdir -p ${src}; cd ${src}; git init -q -b main; ` +
    `git config user.email test@cortex; git config user.name test; `;
  for (const tag of Object.keys(APP_TAGS) as AppTag[]) {
    for (const [file, content] of Object.entries(appFiles(tag))) {
      script += `cat > ${file} <<'FILE'\n${content}\nFILE\n`;
    }
    script += `git add -A; git commit -qm 'release ${tag}'; `;
    script += tag === 'v1.1.0' ? `git tag -a ${tag} -m ${tag}; ` : `git tag ${tag}; `;
  }
  script += `git clone -q --bare ${src} ${remote}`;
  await m.must(script);
  return remote;
}

export interface DeployedApp {
  unit: string;
  root: string;
  port: number;
  healthUrl: string;
  /** While absent, the unit's ExecStartPre waits: a restart blocks in `activating`. */
  gate: string;
}

/**
 * Deploys `tag` as the runbook's layout expects: `<root>/releases/<tag>` (cloned, built), `<root>/current` → it,
 * and a unit running `node <root>/current/server.js` on `port`, started and waited for.
 */
export async function deployApp(
  m: SystemdMachine,
  a: { unit: string; root: string; remote: string; tag: AppTag; port: number },
): Promise<DeployedApp> {
  const dir = `${a.root}/releases/${a.tag}`;
  const gate = `/run/${a.unit}.gate`;
  await m.must(
    `set -e; rm -rf ${a.root}; mkdir -p ${a.root}/releases; ` +
      `git -c advice.detachedHead=false clone -q --branch ${a.tag} ${a.remote} ${dir}; cd ${dir}; npm run -s build; ` +
      `ln -s ${dir} ${a.root}/current; touch ${gate}`,
  );
  const unitText =
    `[Unit]\nDescription=${a.unit} (cortex-rollback test)\n\n[Service]\nEnvironment=PORT=${a.port}\n` +
    `ExecStartPre=/bin/sh -c 'while [ ! -e ${gate} ]; do sleep 0.05; done'\n` +
    `ExecStart=/usr/bin/node ${a.root}/current/server.js\nRestart=no\n`;
  await m.must(
    `cat > /etc/systemd/system/${a.unit}.service <<'UNIT'\n${unitText}UNIT\n` +
      `systemctl daemon-reload && systemctl start ${a.unit}`,
  );
  const healthUrl = `http://127.0.0.1:${a.port}/health`;
  await waitFor(async () => (await fetch(healthUrl)).status > 0, 20_000, `${a.unit} listening on ${a.port}`);
  return { unit: a.unit, root: a.root, port: a.port, healthUrl, gate };
}

/** Journal lines of a unit's starts ("Started <unit>.service …") so far. */
export async function startCount(m: SystemdMachine, unit: string): Promise<number> {
  const out = (await m.sh(`journalctl -u ${unit} -o cat --no-pager | grep -c '^Started ${unit}' || true`)).stdout;
  return Number(out.trim() || 0);
}
