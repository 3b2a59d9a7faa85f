// Owns the assembly of all activities from injected clients. Workflows see only `type Activities`.
import type Dockerode from 'dockerode';
import { createDockerActivities } from './docker.ts';
import { createEnvFileActivities } from './envfile.ts';
import { createHealthActivities } from './health.ts';
import { createQdrantActivities, type QdrantDeps } from './qdrant.ts';

export interface ActivityDeps {
  docker: Dockerode;
  qdrant: QdrantDeps;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createDockerActivities({ docker: deps.docker }),
    ...createHealthActivities(),
    ...createEnvFileActivities({ docker: deps.docker }),
    ...createQdrantActivities(deps.qdrant),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ContainerSnapshot, ImageInfo, RunResult, RunSpec } from './docker.ts';
export type { ConnectionCheck, ContainerEnv, EnvFileInfo, EnvKeyDigest, EnvProblem } from './envfile.ts';
export type { HealthSample, HealthWait } from './health.ts';
export type { BackupManifest, CarriedSettings, CollectionState, QdrantDeps, VectorParams } from './qdrant.ts';
