import type { Stage } from '../pipeline/stage';

// Placeholder until the transcribe stage lands: reports "not configured", never "done".
export function createTranscribeStage(): Stage {
  return {
    name: 'transcribe',
    needs: [],
    plan: () => ({ configured: false, reason: 'transcribe stage not implemented yet' }),
    run: () => Promise.reject(new Error('transcribe stage not implemented')),
  };
}
