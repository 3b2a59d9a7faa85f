// The workflows this project registers with its workers (one bundle).
export { dockerContainerRollback } from './application/docker-container.ts';
export { systemServiceRollback } from './application/system-service.ts';
export {
  pointInTimeRecovery,
  qdrantBackup,
  qdrantConfigRollback,
  qdrantDataRecovery,
  qdrantSchemaRollback,
} from './qdrant.ts';
