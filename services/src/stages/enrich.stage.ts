import type { Stage } from '../pipeline/stage';

// Placeholder until the enrich stage lands: reports "not configured", never "done".
export function createEnrichStage(): Stage {
  return {
    name: 'enrich',
    needs: [],
    plan: () => ({ configured: false, reason: 'enrich stage not implemented yet' }),
    run: () => Promise.reject(new Error('enrich stage not implemented')),
  };
}
