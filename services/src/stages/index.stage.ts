import type { Stage } from '../pipeline/stage';

// Placeholder until the index stage lands: reports "not configured", never "done".
export function createIndexStage(): Stage {
  return {
    name: 'index',
    needs: [],
    plan: () => ({ configured: false, reason: 'index stage not implemented yet' }),
    run: () => Promise.reject(new Error('index stage not implemented')),
  };
}
