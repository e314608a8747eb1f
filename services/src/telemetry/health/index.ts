/**
 * Health, in three parts: the model (./model.ts: check, report, aggregation), the ready-made
 * checks and each role's list (./checks.ts), the GPU sampling and check (../gpu.ts).
 */
export * from './model';
export * from './checks';
export { gpuCheck, parseNvidiaSmi, type GpuSample } from '../gpu';
export * from './unhealthy-exit';
