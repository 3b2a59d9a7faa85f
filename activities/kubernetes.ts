// Owns every Kubernetes side effect of a deployment rollback, through kubectl (the runbook's own tool) run by an
// injected runner. The cluster credentials stay in the worker's environment (KUBECONFIG): no activity takes a
// kubeconfig, token or server address as input, so none reaches workflow history.
// Invariants:
//  - reads use `-o json`, never parsed tables;
//  - `rolloutUndo` is idempotent: it first looks at what the deployment's pod template runs; already the target's
//    images → nothing is done (a retried undo never rolls twice); neither the expected "from" images nor the
//    target's → Conflict (someone else changed the deployment), nothing is done;
//  - kubectl missing, a context not in the kubeconfig, a missing namespace/deployment/revision and a refused
//    credential are permanent; an unreachable or overloaded API server is retryable.
import { execa } from 'execa';
import { FailureType } from '../common/failures.ts';
import { permanent, retryable } from './failures.ts';
import type { HealthSample } from './health.ts';
import { cancellationSignal, withHeartbeat } from './heartbeat.ts';

export interface KubectlResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl with `args`; throws only when kubectl cannot be started (then `code` is set, e.g. ENOENT). */
export type Kubectl = (args: string[], opts?: { timeoutMs?: number; signal?: AbortSignal }) => Promise<KubectlResult>;

/** kubectl from PATH (or `bin`), in this process's environment (KUBECONFIG) plus `env`. */
export function execaKubectl(opts: { bin?: string; env?: Record<string, string> } = {}): Kubectl {
  const bin = opts.bin ?? process.env.KUBECTL ?? 'kubectl';
  return async (args, o = {}) => {
    const r = await execa(bin, args, {
      reject: false,
      ...(opts.env ? { env: opts.env } : {}),
      ...(o.timeoutMs ? { timeout: o.timeoutMs } : {}),
      ...(o.signal ? { cancelSignal: o.signal } : {}),
      stdin: 'ignore',
    });
    if (r.isCanceled) throw new Error(`kubectl ${args.join(' ')} was cancelled`);
    if (r.exitCode === undefined && !r.timedOut) {
      const code = (r as { code?: string }).code;
      throw Object.assign(new Error(`cannot run '${bin}': ${code ?? r.message}`), { code });
    }
    return {
      exitCode: r.timedOut ? 124 : (r.exitCode ?? 1),
      stdout: r.stdout,
      stderr: r.timedOut ? `kubectl did not answer within ${o.timeoutMs} ms` : r.stderr,
    };
  };
}

/** Which deployment: the kube context (from the worker's kubeconfig; default its current one), namespace, name. */
export interface DeploymentRef {
  namespace: string;
  deployment: string;
  context?: string;
}

export interface RevisionInfo {
  revision: number;
  replicaSet: string;
  /** container name → image, from the ReplicaSet's pod template */
  images: Record<string, string>;
  replicas: number;
  readyReplicas: number;
  changeCause?: string;
}

export interface DeploymentState {
  revision: number;
  replicaSet?: string;
  images: Record<string, string>;
  /** The deployment's pod template as the API server returned it: what the compensation goes back to. */
  template: unknown;
  desired: number;
  ready: number;
  generation: number;
}

export interface KubePlan {
  container: string;
  current: DeploymentState & { image: string; replicaSet: string };
  /** The revision to roll back to; absent when the deployment already runs the target. */
  target?: RevisionInfo & { image: string };
  alreadyOnTarget: boolean;
  history: RevisionInfo[];
}

export interface UndoResult {
  applied: boolean;
  /** The deployment's revision after the call (a rollback to revision n makes it a new, highest revision). */
  revision: number;
  previousRevision: number;
  toRevision: number;
  images: Record<string, string>;
}

export interface RolloutWait {
  complete: boolean;
  elapsedMs: number;
  /** kubectl's last line: "successfully rolled out", or why it stopped waiting. */
  message: string;
}

export interface PodState {
  name: string;
  ready: boolean;
  phase: string;
  image?: string;
}

export interface DeploymentCheck {
  at: string;
  ok: boolean;
  revision: number;
  desired: number;
  ready: number;
  updated: number;
  /** Pods of the deployment, of any revision (old ones still terminating count here). */
  total: number;
  pods: PodState[];
  problems: string[];
}

const REVISION = 'deployment.kubernetes.io/revision';
const CHANGE_CAUSE = 'kubernetes.io/change-cause';

interface Meta {
  name: string;
  uid: string;
  generation?: number;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  ownerReferences?: Array<{ uid: string; kind: string; name: string }>;
  deletionTimestamp?: string;
}
interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec: { containers: Array<{ name: string; image: string }> };
}
interface K8sDeployment {
  metadata: Meta;
  spec: { replicas?: number; paused?: boolean; template: PodTemplate };
  status?: { replicas?: number; updatedReplicas?: number; readyReplicas?: number; observedGeneration?: number };
}
interface K8sReplicaSet {
  metadata: Meta;
  spec: { replicas?: number; template: PodTemplate };
  status?: { readyReplicas?: number };
}
interface K8sPod {
  metadata: Meta;
  spec: { containers: Array<{ name: string; image: string }> };
  status?: { phase?: string; conditions?: Array<{ type: string; status: string }> };
}

// The API server or the path to it is down or overloaded: another try may work.
const UNREACHABLE =
  /Unable to connect to the server|connection refused|was refused|Client\.Timeout|awaiting headers|connection reset|i\/o timeout|TLS handshake timeout|no such host|context deadline exceeded|ServiceUnavailable|currently unable to handle|Too ?Many ?Requests|InternalError|etcdserver|the object has been modified|did not answer within|unexpected EOF|http2: /i;

function images(t: PodTemplate): Record<string, string> {
  return Object.fromEntries(t.spec.containers.map((c) => [c.name, c.image]));
}
const sameImages = (a: Record<string, string>, b: Record<string, string>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);
const revisionOf = (m: Meta) => Number(m.annotations?.[REVISION] ?? 0);
const show = (imgs: Record<string, string>) =>
  Object.entries(imgs)
    .map(([c, i]) => `${c}=${i}`)
    .join(', ');

export function createKubernetesActivities({ kubectl }: { kubectl: Kubectl }) {
  /** Runs kubectl for `ref`; a non-zero exit becomes a typed failure (`what` names the step). */
  async function run(ref: DeploymentRef, args: string[], what: string, timeoutMs = 30_000): Promise<string> {
    const full = [...(ref.context ? ['--context', ref.context] : []), '--namespace', ref.namespace, ...args];
    const signal = cancellationSignal();
    let r: KubectlResult;
    try {
      r = await kubectl(full, { timeoutMs, ...(signal ? { signal } : {}) });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOENT' || code === 'EACCES') {
        throw permanent(
          FailureType.Unavailable,
          `${what}: kubectl cannot be run on this worker (${code}): install it or set KUBECTL to its path`,
        );
      }
      throw retryable(FailureType.Unavailable, `${what}: ${(err as Error).message}`, err);
    }
    if (r.exitCode !== 0) throw kubectlFailure(r, what, ref);
    return r.stdout;
  }

  async function getJson<T>(ref: DeploymentRef, args: string[], what: string): Promise<T> {
    const out = await run(ref, ['get', ...args, '-o', 'json', '--request-timeout=20s'], what);
    try {
      return JSON.parse(out) as T;
    } catch {
      throw retryable(FailureType.Unavailable, `${what}: kubectl printed no JSON: ${out.slice(0, 200)}`);
    }
  }

  const deploymentOf = (ref: DeploymentRef) =>
    getJson<K8sDeployment>(ref, ['deployment', ref.deployment], `read deployment/${ref.deployment}`);

  /** The deployment's ReplicaSets (its rollout history), newest revision first. */
  async function replicaSets(ref: DeploymentRef, d: K8sDeployment): Promise<K8sReplicaSet[]> {
    const list = await getJson<{ items: K8sReplicaSet[] }>(
      ref,
      ['replicasets'],
      `read the ReplicaSets of deployment/${ref.deployment}`,
    );
    return list.items
      .filter((rs) => rs.metadata.ownerReferences?.some((o) => o.kind === 'Deployment' && o.uid === d.metadata.uid))
      .sort((a, b) => revisionOf(b.metadata) - revisionOf(a.metadata));
  }

  function revisionInfo(rs: K8sReplicaSet): RevisionInfo {
    const cause = rs.metadata.annotations?.[CHANGE_CAUSE];
    return {
      revision: revisionOf(rs.metadata),
      replicaSet: rs.metadata.name,
      images: images(rs.spec.template),
      replicas: rs.spec.replicas ?? 0,
      readyReplicas: rs.status?.readyReplicas ?? 0,
      ...(cause ? { changeCause: cause } : {}),
    };
  }

  function stateOf(d: K8sDeployment, rss: K8sReplicaSet[]): DeploymentState {
    const revision = revisionOf(d.metadata);
    const rs = rss.find((r) => revisionOf(r.metadata) === revision);
    return {
      revision,
      ...(rs ? { replicaSet: rs.metadata.name } : {}),
      images: images(d.spec.template),
      template: d.spec.template,
      desired: d.spec.replicas ?? 1,
      ready: d.status?.readyReplicas ?? 0,
      generation: d.metadata.generation ?? 0,
    };
  }

  function pickContainer(ref: DeploymentRef, d: K8sDeployment, container?: string): string {
    const names = d.spec.template.spec.containers.map((c) => c.name);
    if (container) {
      if (!names.includes(container)) {
        throw permanent(
          FailureType.InvalidInput,
          `deployment/${ref.deployment} has no container '${container}' (it has: ${names.join(', ')})`,
        );
      }
      return container;
    }
    if (names.length !== 1) {
      throw permanent(
        FailureType.InvalidInput,
        `deployment/${ref.deployment} has ${names.length} containers (${names.join(', ')}): name one with 'container'`,
      );
    }
    return names[0]!;
  }

  async function check(ref: DeploymentRef & { container: string; image: string }): Promise<DeploymentCheck> {
    const at = new Date().toISOString();
    const d = await deploymentOf(ref);
    const rss = await replicaSets(ref, d);
    const revision = revisionOf(d.metadata);
    const current = rss.find((r) => revisionOf(r.metadata) === revision);
    const owners = new Set(rss.map((r) => r.metadata.uid));
    const pods = (
      await getJson<{ items: K8sPod[] }>(ref, ['pods'], `read the pods of deployment/${ref.deployment}`)
    ).items
      .filter((p) => !p.metadata.deletionTimestamp && p.metadata.ownerReferences?.some((o) => owners.has(o.uid)))
      .map((p) => ({
        pod: p,
        state: {
          name: p.metadata.name,
          ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
          phase: p.status?.phase ?? 'Unknown',
          ...(p.spec.containers.find((c) => c.name === ref.container)
            ? { image: p.spec.containers.find((c) => c.name === ref.container)!.image }
            : {}),
        } satisfies PodState,
      }));
    const desired = d.spec.replicas ?? 1;
    const ready = d.status?.readyReplicas ?? 0;
    const updated = d.status?.updatedReplicas ?? 0;
    const problems: string[] = [];
    const runs = d.spec.template.spec.containers.find((c) => c.name === ref.container)?.image;
    if (runs !== ref.image) problems.push(`the pod template runs ${runs ?? '(no such container)'}, not ${ref.image}`);
    if ((d.status?.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) problems.push('spec change not observed');
    if (ready !== desired) problems.push(`${ready}/${desired} replicas ready`);
    if (updated !== desired) problems.push(`${updated}/${desired} replicas updated`);
    const mine = pods.filter(
      (p) => current && p.pod.metadata.ownerReferences?.some((o) => o.uid === current.metadata.uid),
    );
    const readyMine = mine.filter((p) => p.state.ready && p.state.image === ref.image);
    if (readyMine.length !== desired) {
      problems.push(`${readyMine.length}/${desired} pods of revision ${revision} are Ready on ${ref.image}`);
    }
    const others = pods.length - mine.length;
    if (others > 0) problems.push(`${others} pod(s) of other revisions still running`);
    return {
      at,
      ok: problems.length === 0,
      revision,
      desired,
      ready,
      updated,
      total: pods.length,
      pods: pods.map((p) => p.state),
      problems,
    };
  }

  return {
    /**
     * Steps 1–2 of the runbook, read-only: the deployment, its rollout history (its ReplicaSets' pod templates),
     * and the revision whose template runs the target (newest such revision). No such revision → NotFound.
     */
    async planKubernetesRollback(
      req: DeploymentRef & { container?: string; targetImage?: string; targetRevision?: number },
    ): Promise<KubePlan> {
      const d = await deploymentOf(req);
      const container = pickContainer(req, d, req.container);
      const rss = await replicaSets(req, d);
      const history = rss.map(revisionInfo);
      const state = stateOf(d, rss);
      const listing = history.map((h) => `${h.revision}: ${h.images[container] ?? '?'}`).join('; ');
      if (!state.replicaSet) {
        throw permanent(
          FailureType.Conflict,
          `deployment/${req.deployment} has no ReplicaSet for its revision ${state.revision} yet: nothing to go back to`,
        );
      }
      const current = { ...state, replicaSet: state.replicaSet, image: state.images[container]! };
      let target: RevisionInfo | undefined;
      if (req.targetRevision !== undefined) {
        target = history.find((h) => h.revision === req.targetRevision);
        if (!target) {
          throw permanent(
            FailureType.NotFound,
            `deployment/${req.deployment} has no revision ${req.targetRevision} (revisions: ${listing || 'none'})`,
          );
        }
      } else {
        const image = req.targetImage!;
        if (current.image === image) return { container, current, alreadyOnTarget: true, history };
        target = history.find((h) => h.revision !== current.revision && h.images[container] === image);
        if (!target) {
          throw permanent(
            FailureType.NotFound,
            `no revision of deployment/${req.deployment} runs ${image} in container '${container}' ` +
              `(revisions: ${listing || 'none'})`,
          );
        }
      }
      if (target.revision === current.revision || sameImages(target.images, current.images)) {
        return { container, current, alreadyOnTarget: true, history };
      }
      if (d.spec.paused) {
        throw permanent(
          FailureType.Conflict,
          `deployment/${req.deployment} is paused: a rollback would not roll out (kubectl rollout resume first)`,
        );
      }
      return {
        container,
        current,
        target: { ...target, image: target.images[container]! },
        alreadyOnTarget: false,
        history,
      };
    },

    /**
     * `kubectl rollout undo --to-revision`, to the revision ReplicaSet `toReplicaSet` holds now. Idempotent: a
     * deployment already running that ReplicaSet's images is left alone (applied: false).
     */
    async rolloutUndo(
      req: DeploymentRef & { toReplicaSet: string; fromImages: Record<string, string> },
    ): Promise<UndoResult> {
      return withHeartbeat(async () => {
        const what = `roll deployment/${req.deployment} back to ReplicaSet ${req.toReplicaSet}`;
        const d = await deploymentOf(req);
        const rs = (await replicaSets(req, d)).find((r) => r.metadata.name === req.toReplicaSet);
        if (!rs) throw permanent(FailureType.NotFound, `${what}: the ReplicaSet is no longer in its rollout history`);
        const to = images(rs.spec.template);
        const now = images(d.spec.template);
        const before = revisionOf(d.metadata);
        if (sameImages(now, to)) {
          return { applied: false, revision: before, previousRevision: before, toRevision: before, images: now };
        }
        if (!sameImages(now, req.fromImages)) {
          throw permanent(
            FailureType.Conflict,
            `${what}: the deployment now runs ${show(now)}, neither what this rollback replaces (${show(req.fromImages)}) ` +
              `nor its target (${show(to)}): someone else changed it; nothing was done`,
          );
        }
        const toRevision = revisionOf(rs.metadata);
        await run(req, ['rollout', 'undo', `deployment/${req.deployment}`, `--to-revision=${toRevision}`], what);
        const after = await deploymentOf(req);
        return {
          applied: true,
          revision: revisionOf(after.metadata),
          previousRevision: before,
          toRevision,
          images: images(after.spec.template),
        };
      });
    },

    /** `kubectl rollout status --timeout`: complete, or not within the bound (a result, not an error). */
    async waitRollout(req: DeploymentRef & { timeoutSeconds: number }): Promise<RolloutWait> {
      const started = Date.now();
      return withHeartbeat(async () => {
        const what = `rollout status of deployment/${req.deployment}`;
        try {
          const out = await run(
            req,
            ['rollout', 'status', `deployment/${req.deployment}`, `--timeout=${req.timeoutSeconds}s`],
            what,
            (req.timeoutSeconds + 30) * 1000,
          );
          return { complete: true, elapsedMs: Date.now() - started, message: lastLine(out) };
        } catch (err) {
          const m = (err as Error).message;
          if (/timed out waiting for the condition|exceeded its progress deadline/.test(m)) {
            return { complete: false, elapsedMs: Date.now() - started, message: m };
          }
          throw err;
        }
      });
    },

    /** Ready replicas == desired, all updated, and every pod of the current revision Ready on `image`. */
    async checkDeployment(req: DeploymentRef & { container: string; image: string }): Promise<DeploymentCheck> {
      return check(req);
    },

    /** One watch sample (a failed check is data): ok, and the ready count / first problem as the status. */
    async sampleDeployment(req: DeploymentRef & { container: string; image: string }): Promise<HealthSample> {
      const started = Date.now();
      const c = await check(req);
      return {
        at: c.at,
        ok: c.ok,
        latencyMs: Date.now() - started,
        status: `${c.ready}/${c.desired} ready, revision ${c.revision}`,
        ...(c.ok ? {} : { error: c.problems.join('; ') }),
      };
    },
  };
}

function lastLine(s: string): string {
  return s.trim().split('\n').at(-1) ?? '';
}

/** kubectl's exit status and stderr → a typed failure; permanent unless the API server looks unreachable. */
export function kubectlFailure(r: KubectlResult, what: string, ref: DeploymentRef) {
  const err = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' ').slice(0, 600);
  const msg = `${what}: ${err || `kubectl exited ${r.exitCode}`}`;
  if (/context "[^"]*" does not exist|no context exists with the name/i.test(err)) {
    return permanent(
      FailureType.NotFound,
      `${what}: the worker's kubeconfig has no context '${ref.context ?? ''}' (${err})`,
    );
  }
  // kubectl's fallback when it found no kubeconfig at all: no retry on this worker can fix that
  if (/server localhost:8080 was refused/.test(err)) {
    return permanent(
      FailureType.Unavailable,
      `${what}: the worker has no kubeconfig (KUBECONFIG unset or naming no file): kubectl fell back to localhost:8080`,
    );
  }
  if (/\(Unauthorized\)|\(Forbidden\)|must be logged in|forbidden:/i.test(err)) {
    return permanent(FailureType.InvalidInput, `${msg} (the worker's credentials were refused)`);
  }
  if (/\(NotFound\)|not found|unable to find specified revision/i.test(err))
    return permanent(FailureType.NotFound, msg);
  if (UNREACHABLE.test(err)) return retryable(FailureType.Unavailable, `${msg} (Kubernetes API unreachable)`);
  if (/timed out waiting for the condition|exceeded its progress deadline/.test(err)) {
    return retryable(FailureType.Unavailable, msg);
  }
  if (/\(BadRequest\)|\(Invalid\)|unknown flag|invalid argument/i.test(err)) {
    return permanent(FailureType.InvalidInput, msg);
  }
  return retryable(FailureType.Unavailable, msg);
}
