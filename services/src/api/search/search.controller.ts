import { Controller, Get, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Reads } from '../access';
import { ApiContext } from '../context';
import { ApiAnswer, ApiQueryOf, responses, schemas } from '../contract';
import { Tenant } from '../tenant.decorator';
import { parseInput } from '../validation';
import { ApiSearchService } from './search.service';

@ApiTags('search')
@Reads()
@Controller('search')
export class SearchController {
  constructor(
    private readonly search: ApiSearchService,
    private readonly ctx: ApiContext,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Hybrid search (FAISS + Postgres full-text, RRF) over the subscribed episodes' })
  @ApiQueryOf(schemas.search)
  @ApiAnswer(responses.searchResult)
  async find(@Tenant() tenant: string, @Query() query: unknown) {
    const { q, k } = parseInput(schemas.search, query, 'query');
    const r = await this.search.search(tenant, q, k ?? Math.min(this.ctx.config.search.defaultK, 100));
    return { query: q, hits: r.hits, took_ms: r.took_ms, vector: r.vector, note: r.note };
  }
}
