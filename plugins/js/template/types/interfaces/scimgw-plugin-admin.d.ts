/// <reference path="./scimgw-plugin-types.d.ts" />
declare module 'scimgw:plugin/admin@1.0.0' {
  /**
   * kv writes are kept when the call succeeds with a status below 400. No `http` here.
   */
  export function handle(ctx: Context, req: AdminRequest): AdminResponse;
  export type Context = import('scimgw:plugin/types@1.0.0').Context;
  export type AdminRequest = import('scimgw:plugin/types@1.0.0').AdminRequest;
  export type AdminResponse = import('scimgw:plugin/types@1.0.0').AdminResponse;
  export type PluginError = import('scimgw:plugin/types@1.0.0').PluginError;
}
