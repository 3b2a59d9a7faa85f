// The workflows this project registers with its workers (one bundle).
export { dockerContainerRollback } from './docker-rollback.ts';
export {
  pointInTimeRecovery,
  qdrantBackup,
  qdrantConfigRollback,
  qdrantDataRecovery,
  qdrantSchemaRollback,
} from './qdrant.ts';
