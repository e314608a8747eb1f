import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { DEFAULT_TENANT } from '../db/schema';

/** The caller's tenant as ApiKeyGuard resolved it (a tenant key's tenant), else the default tenant. */
function tenantOfRequest(req: unknown): string {
  return (req as { podbrainTenant?: string }).podbrainTenant ?? DEFAULT_TENANT;
}

/** `@Tenant() tenant: string`: the caller's tenant (ApiKeyGuard sets it from a tenant API key). */
export const Tenant = createParamDecorator((_data: unknown, ctx: ExecutionContext): string => tenantOfRequest(ctx.switchToHttp().getRequest()));
