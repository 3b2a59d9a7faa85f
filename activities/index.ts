// Owns the assembly of all activities from injected clients. Workflows see only `type Activities`.
import type Dockerode from 'dockerode';
import { createDockerActivities } from './docker.ts';
import { createHealthActivities } from './health.ts';
import { createKubernetesActivities, execaKubectl, type Kubectl } from './kubernetes.ts';
import { createQdrantActivities, type QdrantDeps } from './qdrant.ts';

export interface ActivityDeps {
  docker: Dockerode;
  qdrant: QdrantDeps;
  /** kubectl in the worker's environment (KUBECONFIG) unless injected. */
  kubectl?: Kubectl;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createDockerActivities({ docker: deps.docker }),
    ...createHealthActivities(),
    ...createQdrantActivities(deps.qdrant),
    ...createKubernetesActivities({ kubectl: deps.kubectl ?? execaKubectl() }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ContainerSnapshot, ImageInfo, RunResult, RunSpec } from './docker.ts';
export type { HealthSample, HealthWait } from './health.ts';
export type { DeploymentCheck, KubePlan, RolloutWait, UndoResult } from './kubernetes.ts';
export type { BackupManifest, CarriedSettings, CollectionState, QdrantDeps, VectorParams } from './qdrant.ts';
