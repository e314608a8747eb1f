import { Controller } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Reads } from '../access';
import { DigestsService } from './digests.service';

@ApiTags('digests')
@Reads()
@Controller('digests')
export class DigestsController {
  constructor(private readonly service: DigestsService) {}
}
