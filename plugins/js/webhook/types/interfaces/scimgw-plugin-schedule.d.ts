/// <reference path="./scimgw-plugin-types.d.ts" />
declare module 'scimgw:plugin/schedule@1.0.0' {
  /**
   * The jobs for this configuration (called when the plugin or its configuration changes).
   */
  export function jobs(configJson: string): Array<Job>;
  /**
   * Runs (part of) a job. May use `http`; kv writes and operations are kept only on success.
   */
  export function onSchedule(ctx: Context, run: JobRun): JobResult;
  export type Context = import('scimgw:plugin/types@1.0.0').Context;
  export type Job = import('scimgw:plugin/types@1.0.0').Job;
  export type JobRun = import('scimgw:plugin/types@1.0.0').JobRun;
  export type JobResult = import('scimgw:plugin/types@1.0.0').JobResult;
  export type PluginError = import('scimgw:plugin/types@1.0.0').PluginError;
}
