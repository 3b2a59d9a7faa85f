// A real Kubernetes control plane for tests: scripts/kube-up.sh (etcd, kube-apiserver, kube-controller-manager,
// kwok as the kubelet of node kwok-node-0) in its own process group, ready when the script has seen /readyz ok and
// the node Ready. One per test file (start in `before`, stop in `after`): a start takes a few seconds.
// Pods are never scheduled (no kube-scheduler): test deployments set spec.nodeName: KWOK_NODE.
import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../common/tools.ts';
import { execaKubectl, type Kubectl } from '../../activities/kubernetes.ts';

export const KWOK_NODE = 'kwok-node-0';
/** A pod template label kwok honours: such pods run but never become Ready (a broken release). */
export const NEVER_READY_LABEL = 'cortex-rollback.test/ready';

export interface KubeCluster {
  kubeconfig: string;
  dir: string;
  /** kubectl against this cluster (KUBECONFIG set for it alone, not for the test process). */
  kubectl: Kubectl;
  /** kubectl, throwing on a non-zero exit; returns stdout. */
  k: (...args: string[]) => Promise<string>;
  /** kubectl apply of a manifest (JSON or YAML text). */
  apply: (manifest: string) => Promise<void>;
  stop: () => Promise<void>;
}

export async function startKubeCluster(timeoutMs = 120_000): Promise<KubeCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'kube-cluster-'));
  const proc: ResultPromise = execa('bash', [join(PROJECT_ROOT, 'scripts', 'kube-up.sh'), dir], {
    detached: true,
    reject: false,
    all: true,
    buffer: false,
    stdin: 'ignore',
  });
  let out = '';
  const kubeconfig = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kube-up not ready within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    proc.all?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /KUBECONFIG=(\S+)\nready\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void proc.then((r) => {
      clearTimeout(timer);
      reject(new Error(`kube-up exited (${r.exitCode ?? r.signal}) before it was ready:\n${out}`));
    });
  }).catch(async (err: unknown) => {
    await stopGroup(proc);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  const kubectl = execaKubectl({ env: { KUBECONFIG: kubeconfig } });
  const k = async (...args: string[]) => {
    const r = await kubectl(args, { timeoutMs: 60_000 });
    if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  let applied = 0;
  return {
    kubeconfig,
    dir,
    kubectl,
    k,
    apply: async (manifest) => {
      const file = join(dir, `manifest-${++applied}.json`);
      writeFileSync(file, manifest);
      await k('apply', '-f', file);
    },
    stop: async () => {
      await stopGroup(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** SIGTERM to the script (it stops its processes in order); after 30 s SIGKILL to its whole process group. */
async function stopGroup(proc: ResultPromise): Promise<void> {
  const pid = proc.pid;
  if (proc.exitCode !== null || pid === undefined) return;
  proc.kill('SIGTERM');
  const timer = setTimeout(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, 30_000);
  await proc;
  clearTimeout(timer);
}

/** A Deployment manifest whose pods land on the kwok node; `neverReady` makes its pods never Ready. */
export function deploymentManifest(opts: {
  namespace: string;
  name: string;
  image: string;
  replicas?: number;
  container?: string;
  neverReady?: boolean;
  minReadySeconds?: number;
  progressDeadlineSeconds?: number;
}): string {
  const labels: Record<string, string> = {
    app: opts.name,
    ...(opts.neverReady ? { [NEVER_READY_LABEL]: 'never' } : {}),
  };
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: opts.name, namespace: opts.namespace },
    spec: {
      replicas: opts.replicas ?? 2,
      ...(opts.minReadySeconds ? { minReadySeconds: opts.minReadySeconds } : {}),
      ...(opts.progressDeadlineSeconds ? { progressDeadlineSeconds: opts.progressDeadlineSeconds } : {}),
      selector: { matchLabels: { app: opts.name } },
      template: {
        metadata: { labels },
        spec: { nodeName: KWOK_NODE, containers: [{ name: opts.container ?? 'app', image: opts.image }] },
      },
    },
  });
}

/**
 * A deployment with revision 1 = `first` and revision 2 = `second`, both rolled out. `firstNeverReady`: revision 1's
 * pods never become Ready (revision 2 drops the label: a fixed release). `minReadySeconds` is set afterwards (not
 * part of the pod template, so no new revision): only later rollouts wait for it.
 */
export async function deployTwoRevisions(
  cluster: KubeCluster,
  opts: {
    namespace: string;
    name: string;
    first: string;
    second: string;
    firstNeverReady?: boolean;
    minReadySeconds?: number;
  },
): Promise<void> {
  const { namespace, name } = opts;
  await cluster.apply(
    deploymentManifest({ namespace, name, image: opts.first, neverReady: opts.firstNeverReady ?? false }),
  );
  if (opts.firstNeverReady) {
    await cluster.apply(deploymentManifest({ namespace, name, image: opts.second }));
  } else {
    await cluster.k('-n', namespace, 'rollout', 'status', `deployment/${name}`, '--timeout=60s');
    await cluster.k('-n', namespace, 'set', 'image', `deployment/${name}`, `app=${opts.second}`);
  }
  await cluster.k('-n', namespace, 'rollout', 'status', `deployment/${name}`, '--timeout=60s');
  if (opts.minReadySeconds) {
    const patch = JSON.stringify({ spec: { minReadySeconds: opts.minReadySeconds } });
    await cluster.k('-n', namespace, 'patch', `deployment/${name}`, '--type=merge', '-p', patch);
  }
}
