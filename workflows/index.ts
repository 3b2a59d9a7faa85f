// The workflows this project registers with its workers (one bundle).
export { dockerContainerRollback } from './application/docker-container.ts';
export {
  pointInTimeRecovery,
  qdrantBackup,
  qdrantConfigRollback,
  qdrantDataRecovery,
  qdrantSchemaRollback,
} from './qdrant.ts';
export { networkRollback } from './infrastructure/network.ts';
export { dockerNetworkRollback } from './infrastructure/docker-network.ts';
