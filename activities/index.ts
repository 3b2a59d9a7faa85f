// Owns the assembly of all activities from injected clients. Workflows see only `type Activities`.
import type Dockerode from 'dockerode';
import { createDockerActivities } from './docker.ts';
import { createHealthActivities } from './health.ts';
import { createQdrantActivities, type QdrantDeps } from './qdrant.ts';
import { createTerraformActivities, type TerraformDeps } from './terraform.ts';

export interface ActivityDeps {
  docker: Dockerode;
  qdrant: QdrantDeps;
  terraform: TerraformDeps;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createDockerActivities({ docker: deps.docker }),
    ...createHealthActivities(),
    ...createQdrantActivities(deps.qdrant),
    ...createTerraformActivities(deps.terraform),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ContainerSnapshot, ImageInfo, RunResult, RunSpec } from './docker.ts';
export type { HealthSample, HealthWait } from './health.ts';
export type { BackupManifest, CarriedSettings, CollectionState, QdrantDeps, VectorParams } from './qdrant.ts';
export type {
  ApplyResult,
  CommitInfo,
  PlanResult,
  PlanSummary,
  StateBackup,
  StateRef,
  TerraformDeps,
  Verification,
} from './terraform.ts';
