#!/usr/bin/env node
import os from 'node:os';
import { resolveProject, startSocketProxy } from './socket-proxy';

/**
 * The socket-proxy service of docker-compose.yml (control/socket-proxy.ts):
 *   node services/dist/control/socket-proxy-main.js
 * DOCKER_SOCKET (default /var/run/docker.sock), PROXY_PORT (2375), PROXY_HOST (0.0.0.0),
 * COMPOSE_PROJECT_NAME (default: the project label of its own container). One JSON line per event.
 */
const line = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), service: 'podbrain-socket-proxy', ...o })}\n`);

async function main(): Promise<void> {
  const enginePath = process.env.DOCKER_SOCKET || '/var/run/docker.sock';
  const port = Number(process.env.PROXY_PORT || 2375);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PROXY_PORT: expected a port, got ${process.env.PROXY_PORT}`);
  const project = await resolveProject(enginePath, process.env, os.hostname());
  const proxy = await startSocketProxy({ enginePath, project, port, host: process.env.PROXY_HOST || '0.0.0.0', log: line });
  line({ msg: 'socket proxy listening', port: proxy.port, project, engine: enginePath });
  const stop = () => void proxy.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  line({ msg: 'socket proxy failed to start', err: e instanceof Error ? e.message : String(e) });
  process.exit(1);
});
