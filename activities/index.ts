// Owns the assembly of all activities from injected clients. Workflows see only `type Activities`.
import type Dockerode from 'dockerode';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApprovalPolicyActivities } from './approval-policy.ts';
import type { CommandRunner } from './command.ts';
import { createComposeActivities } from './compose.ts';
import { createDockerActivities } from './docker.ts';
import { createEnvFileActivities, createEnvFileDockerActivities } from './envfile.ts';
import { createGuardActivities } from './guard.ts';
import { createHealthActivities } from './health.ts';
import { createIptablesActivities } from './iptables.ts';
import { createKubernetesActivities, execaKubectl, type Kubectl } from './kubernetes.ts';
import { createNotifyActivities, type NotifySettings } from './notify.ts';
import { PROJECT_ROOT } from '../common/tools.ts';
import { createQdrantActivities, type QdrantDeps } from './qdrant.ts';
import { createReleaseActivities } from './release.ts';
import { createSecretActivities, type SecretDeps } from './secrets.ts';
import { createSystemdActivities } from './systemd.ts';
import { createTerraformActivities, type TerraformDeps } from './terraform.ts';
import { createVerificationActivities } from './verification.ts';
import { createVisibilityActivities, type VisibilityDeps } from './visibility.ts';

export interface ActivityDeps {
  docker: Dockerode;
  qdrant: QdrantDeps;
  terraform: TerraformDeps;
  /** Runs host commands (systemctl, journalctl, git, tar, builds, iptables, docker compose); default: execa. */
  run?: CommandRunner;
  /** kubectl in the worker's environment (KUBECONFIG) unless injected. */
  kubectl?: Kubectl;
  /** Notification channels (worker configuration); none configured unless given. */
  notify?: NotifySettings;
  /** The approval policy file (worker configuration); default config/approval-policy.json. */
  approvalPolicyPath?: string;
  /** Where network rollbacks keep their backups on this host; default .data/backups/network. */
  networkBackupRoot?: string;
  /** Secret rotators by name (default: `random`, crypto-random values). */
  secrets?: SecretDeps;
  /** The namespace's search attributes and the codec's digest (workers/worker.ts); none: nothing is upserted. */
  visibility?: VisibilityDeps;
}

/**
 * What a host worker (workers/host.ts, on the host) serves: systemd, releases, env files, host-local health,
 * Terraform (plan files and state backups stay on the host that planned), iptables and Docker Compose (their backups
 * stay on the host too).
 */
export function createHostActivities(deps: {
  run?: CommandRunner;
  terraform: TerraformDeps;
  networkBackupRoot?: string;
  secrets?: SecretDeps;
}) {
  const run = deps.run ? { run: deps.run } : {};
  const network = { ...run, ...(deps.networkBackupRoot ? { backupRoot: deps.networkBackupRoot } : {}) };
  return {
    ...createSystemdActivities(run),
    ...createReleaseActivities(run),
    ...createHealthActivities(),
    ...createGuardActivities(),
    ...createEnvFileActivities(),
    ...createTerraformActivities(deps.terraform),
    ...createIptablesActivities(network),
    ...createComposeActivities(network),
    ...createSecretActivities(deps.secrets ?? {}),
  };
}

/** The committed policy encoding the runbook (Rollback Classification, Appendix B). */
export const DEFAULT_APPROVAL_POLICY = join(PROJECT_ROOT, 'config', 'approval-policy.json');

export function createActivities(deps: ActivityDeps) {
  return {
    ...createDockerActivities({ docker: deps.docker }),
    ...createEnvFileDockerActivities({ docker: deps.docker }),
    ...createQdrantActivities(deps.qdrant),
    ...createHostActivities({
      ...(deps.run ? { run: deps.run } : {}),
      terraform: deps.terraform,
      ...(deps.networkBackupRoot ? { networkBackupRoot: deps.networkBackupRoot } : {}),
      ...(deps.secrets ? { secrets: deps.secrets } : {}),
    }),
    ...createKubernetesActivities({ kubectl: deps.kubectl ?? execaKubectl() }),
    ...createVerificationActivities({ docker: deps.docker, ...(deps.run ? { run: deps.run } : {}) }),
    ...createNotifyActivities(deps.notify ?? { stateDir: join(tmpdir(), 'cortex-rollback-notify') }),
    ...createApprovalPolicyActivities({ path: deps.approvalPolicyPath ?? DEFAULT_APPROVAL_POLICY }),
    ...createVisibilityActivities(deps.visibility ?? {}),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type HostActivities = ReturnType<typeof createHostActivities>;
export type {
  ComposeBackup,
  ComposeCheck,
  ComposeContainer,
  ComposeFileInfo,
  ComposeState,
  ExpectedNetwork,
} from './compose.ts';
export type { ContainerSnapshot, ImageInfo, LabelledContainer, RunResult, RunSpec } from './docker.ts';
export type { ConnectionCheck, ContainerEnv, EnvFileInfo, EnvKeyDigest, EnvProblem } from './envfile.ts';
export type { GuardCounters, GuardSample } from './guard.ts';
export type { HealthSample, HealthWait } from './health.ts';
export type { ChannelOutcome, NotifyEvent, NotifyInput, NotifyResult, NotifySettings } from './notify.ts';
export type { NetworkHealth, RestoredRules, RulesBackup, RulesState, TargetRules } from './iptables.ts';
export type { VisibilityPlan, VisibilityPlanInput } from './visibility.ts';
export type { CheckCommandResult, MemoryApiCheck, ServiceMetrics, ServiceSample } from './verification.ts';
export type { RotatedKey, SecretRotation, SecretRotator } from './secrets.ts';
export type { DeploymentCheck, KubePlan, RolloutWait, UndoResult } from './kubernetes.ts';
export type { BackupManifest, CarriedSettings, CollectionState, QdrantDeps, VectorParams } from './qdrant.ts';
export type { Checkout, CommandRun, ReleaseBackup, ReleaseState, RemoteTag, Swap } from './release.ts';
export type { CommandResult, CommandRunner, RestartResult, UnitState } from './systemd.ts';
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
