// The workflows this project registers with its workers (one bundle), and the messages they share.
export { dockerContainerRollback } from './docker-rollback.ts';
