import { Controller } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Reads } from '../access';
import { RefeedService } from './refeed.service';

@ApiTags('re-feed')
@Reads()
@Controller('refeed')
export class RefeedController {
  constructor(private readonly service: RefeedService) {}
}
