// Owns the quick CI slice of the fault matrix (`npm run faults -- --ci`): for every workflow the fault-free run and
// one or two faulted cells, chosen so that every workflow and every fault kind is met at least once, each cell cut
// to one fault point (the middle activity boundary, the middle long activity, the middle Docker call). The full
// matrix (`npm run faults`) runs every fault at every point; this slice keeps `.ci/run` inside its hour.
import type { FaultName } from './matrix.ts';

export interface SlicePlan {
  /** kill-boundary: only this boundary ('mid': the middle one). */
  k?: number | 'mid';
  /** kill-mid, dockerd-restart: at most this many fault points, from the middle of the run. */
  points?: number;
  /** qdrant-restart: only in this activity. */
  at?: string;
}

const MID: SlicePlan = { k: 'mid' };
const ONE: SlicePlan = { points: 1 };

export const CI_SLICE: Record<string, Partial<Record<FaultName, SlicePlan>>> = {
  dockerContainerRollback: { 'dockerd-restart': ONE, 'never-healthy': {} },
  fleetRollback: { 'kill-boundary': MID, 'never-healthy': {} },
  qdrantBackup: { 'kill-mid': ONE, 'qdrant-503': {} },
  qdrantDataRecovery: { 'kill-boundary': MID, 'qdrant-drop': {}, 'qdrant-restart': { at: 'qdrantRestoreBackup' } },
  pointInTimeRecovery: { 'temporal-restart': {} },
  'qdrantSchemaRollback (alias)': { 'qdrant-slow': {} },
  'qdrantSchemaRollback (recreate)': { 'kill-boundary': MID },
  qdrantConfigRollback: { 'qdrant-503': {} },
  dataCorruptionEmergency: { 'qdrant-drop': {} },
  securityBreachEmergency: { 'kill-boundary': MID, 'never-healthy': {} },
  emergencyRollback: { 'kill-boundary': MID, 'never-healthy': {} },
  rollbackGuard: { 'kill-boundary': MID },
  postRollbackVerification: { 'never-healthy': {}, 'qdrant-503': {} },
  environmentConfigRollback: { refused: {}, 'kill-boundary': MID },
  systemServiceRollback: { 'host-gone': {}, 'never-healthy': {} },
  terraformRollback: { refused: {}, 'kill-mid': ONE },
  networkRollback: { 'never-healthy': {}, 'temporal-restart': {} },
  dockerNetworkRollback: { 'dockerd-restart': ONE, 'never-healthy': {} },
  kubernetesRollback: { 'never-healthy': {}, 'kill-boundary': MID },
};
