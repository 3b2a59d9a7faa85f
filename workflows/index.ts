// The workflows this project registers with its workers (one bundle). One line per scenario.
export { dockerContainerRollback } from './application/docker-container.ts';
export { systemServiceRollback } from './application/system-service.ts';
export { kubernetesRollback } from './application/kubernetes.ts';
export { qdrantBackup } from './database/qdrant-backup.ts';
export { qdrantDataRecovery } from './database/data-recovery.ts';
export { qdrantSchemaRollback } from './database/schema.ts';
export { pointInTimeRecovery } from './database/point-in-time.ts';
export { environmentConfigRollback } from './configuration/env-file.ts';
export { qdrantConfigRollback } from './configuration/qdrant-config.ts';
export { terraformRollback } from './infrastructure/terraform.ts';
export { notificationCheck } from './operations/notification-check.ts';
export { rollbackGuard } from './triggers/guard.ts';
