import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { metrics } from '../../telemetry/metrics';
import { Reads } from '../access';
import { EventHub } from './event-hub';

const HEARTBEAT_MS = 15_000;

@ApiTags('events')
@Reads()
@Controller('events')
export class EventsController {
  constructor(@Inject(EventHub) private readonly hub: EventHub) {}

  @Get()
  @ApiProduces('text/event-stream')
  @ApiOperation({ summary: 'Server-sent events: `event: episode` with {episode_key, feed_id, state, stage, reason} on every state change; `event: incident` with {id, status, kind, at} when an incident opens, changes or resolves (IncidentSignal)' })
  @ApiOkResponse({ description: 'an `event: episode` per state change; its data is an EpisodeEvent', content: { 'text/event-stream': { schema: { $ref: '#/components/schemas/EpisodeEvent' } } } })
  stream(@Req() req: Request, @Res() res: Response): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no', // no proxy buffering (Caddy/nginx)
    });
    res.write('retry: 3000\n: connected\n\n');
    metrics.apiSseConnections.inc();
    let seq = 0;
    const off = this.hub.onEpisode((e) => {
      res.write(`id: ${Date.now()}-${seq++}\nevent: episode\ndata: ${JSON.stringify(e)}\n\n`);
    });
    const offIncident = this.hub.onIncident((e) => {
      res.write(`id: ${Date.now()}-${seq++}\nevent: incident\ndata: ${JSON.stringify(e)}\n\n`);
    });
    const heartbeat = setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    const offClose = this.hub.onClose(() => res.end());
    let open = true;
    const done = () => {
      if (open) metrics.apiSseConnections.dec();
      open = false;
      clearInterval(heartbeat);
      off();
      offIncident();
      offClose();
    };
    req.on('close', done);
    res.on('error', done);
  }
}
