/// <reference path="./scimgw-plugin-types.d.ts" />
declare module 'scimgw:plugin/provisioning@1.0.0' {
  /**
   * Pure and deterministic: no clock but `ctx.now-unix-ms`, no network (`http.send` is denied here).
   * An error parks the target at this change until an admin retries it.
   */
  export function translate(ctx: Context, change: Change): Array<Operation>;
  /**
   * Delivers one operation. `op-id` is stable across retries and restarts: use it as an idempotency key.
   */
  export function deliver(ctx: Context, opId: string, op: Operation): Outcome;
  export type Context = import('scimgw:plugin/types@1.0.0').Context;
  export type Change = import('scimgw:plugin/types@1.0.0').Change;
  export type Operation = import('scimgw:plugin/types@1.0.0').Operation;
  export type Outcome = import('scimgw:plugin/types@1.0.0').Outcome;
  export type PluginError = import('scimgw:plugin/types@1.0.0').PluginError;
}
