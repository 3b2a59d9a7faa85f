// Owns the validation of names that reach the file system or Qdrant URLs (collections, backups), so a bad name
// is refused before any side effect and can never escape its directory. Pure: usable by workflows and CLI.

const COLLECTION = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$/;
const BACKUP = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,199}$/;

export function isValidCollectionName(name: unknown): name is string {
  return typeof name === 'string' && COLLECTION.test(name) && !name.includes('..');
}

export function isValidBackupName(name: unknown): name is string {
  return typeof name === 'string' && BACKUP.test(name) && !name.includes('..');
}

/**
 * The part of a Temporal run id that tells runs apart, for names a run creates (pre-rollback backups, preserved
 * containers). Run ids are UUIDv7: the leading digits are a timestamp shared by every run started in the same
 * minute or so, the trailing ones are random.
 */
export function runSuffix(runId: string): string {
  return runId.replace(/-/g, '').slice(-8);
}
