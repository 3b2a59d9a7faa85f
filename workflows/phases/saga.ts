// Owns running a rollback's undo stack: undos run in reverse, each as a visible step; an undo that fails is
// collected and reported, never swallowed (the saga sample's flaw we do not copy). Deterministic.
import { errorMessage, type Progress } from './progress.ts';

export interface Undo {
  name: string;
  run: () => Promise<unknown>;
  /** What an operator does by hand if this undo fails: concrete commands, names and files. */
  manual?: string;
}

export async function runUndos(
  progress: Progress,
  undos: Undo[],
): Promise<{ restored: string[]; failed: string[]; manual: string[] }> {
  const restored: string[] = [];
  const failed: string[] = [];
  const manual: string[] = [];
  for (const undo of [...undos].reverse()) {
    try {
      await progress.step(`undo: ${undo.name}`, undo.run);
      restored.push(undo.name);
    } catch (err) {
      failed.push(`${undo.name}: ${errorMessage((err as { cause?: unknown }).cause ?? err)}`);
      manual.push(undo.manual ?? undo.name);
    }
  }
  return { restored, failed, manual };
}
