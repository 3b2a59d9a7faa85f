// Owns the one comparison of Qdrant configs shared by workflows (config rollback) and activities (schema rollback).

/** `want` is contained in `have`: every leaf of want equals the same leaf of have. */
export function configContains(have: unknown, want: unknown): boolean {
  if (want === null || typeof want !== 'object') return JSON.stringify(have) === JSON.stringify(want);
  if (have === null || typeof have !== 'object') return false;
  return Object.entries(want as Record<string, unknown>).every(([k, w]) =>
    configContains((have as Record<string, unknown>)[k], w),
  );
}
