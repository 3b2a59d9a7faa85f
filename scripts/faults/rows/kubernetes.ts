// The fault matrix's kubernetesRollback row on a real Kubernetes control plane (etcd, kube-apiserver,
// kube-controller-manager; kwok as the kubelet): a deployment at revision 2 (v2) rolled back to v1. The workers'
// kubectl reads $KUBECONFIG, a fixed path under the harness dir the row fills in when its cluster is up.
// Completed: the pod template runs v1 as revision 3, both Ready pods run v1. Anything else: the template runs v2
// (revision 2: untouched, or 4: undone once), both Ready pods run v2.
// Persistent fault: revision 1's pods never become Ready, so the rollout never completes (never-healthy).
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { deployTwoRevisions, startKubeCluster, type KubeCluster } from '../../../test/helpers/kube-cluster.ts';
import { common, expect, ONCALL, type Run, type Scenario } from '../row.ts';

const NS = 'faults';
const V1 = 'cortex-memory-mcp:v2.0.0';
const V2 = 'cortex-memory-mcp:v2.1.0';

/** Where the harness's workers find the kubeconfig (their KUBECONFIG). */
export const kubeconfigPath = (dir: string) => join(dir, 'kubeconfig');

export function kubernetesRow(): Scenario {
  let cluster: KubeCluster | undefined;
  let seq = 0;
  const observe = async (name: string) => {
    const d = JSON.parse(await cluster!.k('-n', NS, 'get', 'deployment', name, '-o', 'json')) as {
      metadata: { annotations: Record<string, string> };
      spec: { template: { spec: { containers: Array<{ image: string }> } } };
    };
    const pods = JSON.parse(await cluster!.k('-n', NS, 'get', 'pods', '-l', `app=${name}`, '-o', 'json')) as {
      items: Array<{
        metadata: { deletionTimestamp?: string };
        spec: { containers: Array<{ image: string }> };
        status: { conditions?: Array<{ type: string; status: string }> };
      }>;
    };
    const live = pods.items.filter((p) => !p.metadata.deletionTimestamp);
    return {
      image: d.spec.template.spec.containers[0]!.image,
      revision: Number(d.metadata.annotations['deployment.kubernetes.io/revision']),
      ready: live
        .filter((p) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
        .map((p) => p.spec.containers[0]!.image),
    };
  };
  const run = async (tag: string, firstNeverReady: boolean): Promise<Run> => {
    seq += 1;
    const name = `web-${seq}`;
    await deployTwoRevisions(cluster!, { namespace: NS, name, first: V1, second: V2, firstNeverReady });
    return {
      workflowId: `faults-kube-${tag}`,
      input: {
        namespace: NS,
        deployment: name,
        targetImage: V1,
        ...common,
        rolloutTimeoutSeconds: firstNeverReady ? 3 : 60,
        monitor: { durationSeconds: 0 },
        approval: { preApproved: ONCALL },
      },
      check: async (ending) => {
        const problems: string[] = [];
        // the controller may still be replacing pods: wait (bounded) for the Ready pods to settle
        let o = await observe(name);
        const want = ending.kind === 'completed' ? V1 : V2;
        for (let i = 0; i < 50 && !(o.ready.length === 2 && o.ready.every((x) => x === want)); i++) {
          await new Promise((r) => setTimeout(r, 200));
          o = await observe(name);
        }
        expect(problems, o.image === want, `the pod template runs ${o.image}, want ${want}`);
        expect(problems, o.ready.length === 2 && o.ready.every((x) => x === want), `Ready pods: ${o.ready.join(', ')}`);
        if (ending.kind === 'completed') expect(problems, o.revision === 3, `revision ${o.revision}, want 3`);
        else expect(problems, o.revision === 2 || o.revision === 4, `revision ${o.revision} (2, or 4: undone once)`);
        return problems;
      },
      cleanup: async () => {
        await cluster!.k('-n', NS, 'delete', 'deployment', name, '--wait=false').catch(() => undefined);
      },
    };
  };
  return {
    name: 'kubernetesRollback',
    workflowType: 'kubernetesRollback',
    system: 'kube-apiserver + kwok',
    uses: { docker: false, qdrant: false },
    prepare: async (ctx) => {
      cluster = await startKubeCluster();
      copyFileSync(cluster.kubeconfig, kubeconfigPath(ctx.dir));
      await cluster.k('create', 'namespace', NS);
    },
    setup: (_ctx, tag) => run(tag, false),
    persistent: { 'never-healthy': (_ctx, tag) => run(tag, true) },
    teardown: async () => {
      await cluster?.stop();
    },
  };
}
