import { Body, Controller, Get, HttpCode, Param, Post, Put, Query, Req } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { AlertWebhook, Authenticated } from '../access';
import { ApiAnswer, ApiParamOf, ApiQueryOf, openApiSchema, responses, schemas, type AgentSettingsView, type AlertsAcceptedView, type IncidentListView, type IncidentView } from '../contract';
import { parseInput } from '../validation';
import { IncidentsService } from './incidents.service';

const actorOf = (req: Request & { podbrainActor?: string }) => req.podbrainActor ?? 'anonymous';

/** The on-call agent's side of the admin API (ARCHITECTURE §10a): Alertmanager's webhook, incidents, approvals, the agent's mode. */
@ApiTags('agent')
@Authenticated({ admin: true })
@Controller('admin')
export class IncidentsController {
  constructor(private readonly incidents: IncidentsService) {}

  @Post('alerts')
  @AlertWebhook()
  @HttpCode(200)
  @ApiOperation({ summary: "Alertmanager's webhook (version 4): a firing alert opens an incident for its fingerprint, a resolved one closes it; the agent acts on its own time. Bearer: the API key or AGENT_WEBHOOK_TOKEN" })
  @ApiBody({ schema: openApiSchema(schemas.alertmanagerWebhook, 'input') })
  @ApiAnswer(responses.alertsAccepted)
  alerts(@Body() body: unknown): Promise<AlertsAcceptedView> {
    return this.incidents.receiveAlerts(parseInput(schemas.alertmanagerWebhook, body, 'body'));
  }

  @Get('incidents')
  @ApiOperation({ summary: 'Incidents, newest first, each with its timeline and the actions the agent decided on' })
  @ApiQueryOf(schemas.incidentList)
  @ApiAnswer(responses.incidentList)
  list(@Query() query: unknown): Promise<IncidentListView> {
    return this.incidents.list(parseInput(schemas.incidentList, query, 'query'));
  }

  @Get('incidents/:id')
  @ApiParamOf('id', schemas.incidentId)
  @ApiAnswer(responses.incident)
  get(@Param('id') id: string): Promise<IncidentView> {
    return this.incidents.get(parseInput(schemas.incidentId, id, 'path'));
  }

  @Post('incidents/:id/actions/:n/approve')
  @HttpCode(200)
  @ApiOperation({ summary: 'Yes to an action waiting for approval: the agent runs it (409 unless it is awaiting approval)' })
  @ApiParamOf('id', schemas.incidentId)
  @ApiParamOf('n', schemas.actionN)
  @ApiAnswer(responses.incident)
  approve(@Param('id') id: string, @Param('n') n: string, @Req() req: Request): Promise<IncidentView> {
    return this.incidents.decide(parseInput(schemas.incidentId, id, 'path'), parseInput(schemas.actionN, n, 'path'), 'approved', actorOf(req));
  }

  @Post('incidents/:id/actions/:n/deny')
  @HttpCode(200)
  @ApiOperation({ summary: 'No to an action waiting for approval: it is not run (409 unless it is awaiting approval)' })
  @ApiParamOf('id', schemas.incidentId)
  @ApiParamOf('n', schemas.actionN)
  @ApiAnswer(responses.incident)
  deny(@Param('id') id: string, @Param('n') n: string, @Req() req: Request): Promise<IncidentView> {
    return this.incidents.decide(parseInput(schemas.incidentId, id, 'path'), parseInput(schemas.actionN, n, 'path'), 'denied', actorOf(req));
  }

  @Get('agent')
  @ApiOperation({ summary: "The agent's mode (off, shadow, auto) and kill switch, as in effect now" })
  @ApiAnswer(responses.agentSettings)
  agent(): Promise<AgentSettingsView> {
    return this.incidents.agentSettings();
  }

  @Put('agent')
  @ApiOperation({ summary: "Changes the agent's mode and/or kill switch (runtime settings agent.mode, agent.kill_switch); the agent reads them at each decision" })
  @ApiBody({ schema: openApiSchema(schemas.agentSettings, 'input') })
  @ApiAnswer(responses.agentSettings)
  setAgent(@Body() body: unknown, @Req() req: Request): Promise<AgentSettingsView> {
    return this.incidents.setAgentSettings(parseInput(schemas.agentSettings, body, 'body'), actorOf(req));
  }
}
