// The load benchmark's bundle: the real workflows plus its baseline workflows.
export * from '../../workflows/index.ts';
export { emptyWorkflow, rollbackShapedWorkflow } from './empty.ts';
