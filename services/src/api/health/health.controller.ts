import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { errorMessage } from '../../core/errors';
import { httpStatusFor, type HealthModel, type HealthReport, type HealthStatus } from '../../telemetry/health';
import { renderMetrics } from '../../telemetry/metrics';
import { Public, Reads } from '../access';
import { ApiContext } from '../context';
import { ApiAnswer, responses, type HealthView, type RoleHealthView } from '../contract';

export const API_HEALTH = Symbol('API_HEALTH');

const RANK: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 };

/** `role=url` pairs of API_HEALTH_TARGETS. */
function parseHealthTargets(spec: string): { role: string; url: string }[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const eq = s.indexOf('=');
      return eq > 0 ? { role: s.slice(0, eq).trim(), url: s.slice(eq + 1).trim() } : { role: s, url: s };
    });
}

const view = (r: Pick<HealthReport, 'status' | 'checks' | 'uptime_seconds' | 'version'>): RoleHealthView => ({
  status: r.status,
  checks: Object.fromEntries(Object.entries(r.checks ?? {}).map(([k, v]) => [k, v.detail ? { status: v.status, detail: v.detail } : { status: v.status }])),
  uptime_seconds: r.uptime_seconds,
  version: r.version,
});

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(
    @Inject(API_HEALTH) private readonly health: HealthModel,
    private readonly ctx: ApiContext,
  ) {}

  /** This process (E.6.1): 200 healthy/degraded, 503 unhealthy. */
  @Get('healthz')
  @Public()
  @ApiExcludeEndpoint()
  async healthz(@Res() res: Response): Promise<void> {
    const r = await this.health.report();
    res.status(httpStatusFor(r)).set('cache-control', 'no-store').json(r);
  }

  @Get('metrics')
  @Public()
  @ApiExcludeEndpoint()
  async metrics(@Res() res: Response): Promise<void> {
    const m = await renderMetrics();
    res.status(200).set('content-type', m.contentType).send(m.body);
  }

  @Get('api/health')
  @Reads()
  @ApiOperation({ summary: 'Aggregate health: this api process plus every role listed in API_HEALTH_TARGETS' })
  @ApiAnswer(responses.healthView)
  async aggregate(): Promise<HealthView> {
    const roles: Record<string, RoleHealthView> = { api: view(await this.health.report()) };
    await Promise.all(
      parseHealthTargets(this.ctx.config.apiHealthTargets).map(async (t) => {
        roles[t.role] = await fetchRoleHealth(t.url);
      }),
    );
    const status = Object.values(roles).reduce<HealthStatus>((worst, r) => (RANK[r.status] > RANK[worst] ? r.status : worst), 'healthy');
    return { status, roles };
  }
}

async function fetchRoleHealth(url: string): Promise<RoleHealthView> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000), headers: { accept: 'application/json' } });
    const body = (await res.json()) as Partial<HealthReport>;
    const status: HealthStatus = body.status === 'healthy' || body.status === 'degraded' || body.status === 'unhealthy' ? body.status : 'unhealthy';
    return view({ status, checks: body.checks ?? {}, uptime_seconds: body.uptime_seconds ?? 0, version: body.version ?? 'unknown' });
  } catch (e) {
    return { status: 'unhealthy', checks: { reachable: { status: 'unhealthy', detail: `${url}: ${errorMessage(e)}` } } };
  }
}
