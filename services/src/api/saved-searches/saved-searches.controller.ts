import { Controller } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Reads } from '../access';
import { SavedSearchesService } from './saved-searches.service';

@ApiTags('saved searches')
@Reads()
@Controller('saved-searches')
export class SavedSearchesController {
  constructor(private readonly service: SavedSearchesService) {}
}
