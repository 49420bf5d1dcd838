/// <reference path="./interfaces/scimgw-plugin-admin.d.ts" />
/// <reference path="./interfaces/scimgw-plugin-directory.d.ts" />
/// <reference path="./interfaces/scimgw-plugin-http.d.ts" />
/// <reference path="./interfaces/scimgw-plugin-kv.d.ts" />
/// <reference path="./interfaces/scimgw-plugin-log.d.ts" />
/// <reference path="./interfaces/scimgw-plugin-notify.d.ts" />
/// <reference path="./interfaces/scimgw-plugin-provisioning.d.ts" />
/// <reference path="./interfaces/scimgw-plugin-schedule.d.ts" />
/// <reference path="./interfaces/scimgw-plugin-types.d.ts" />
declare module 'scimgw:plugin/plugin@1.0.0' {
  export type * as ScimgwPluginDirectory100 from 'scimgw:plugin/directory@1.0.0'; // import scimgw:plugin/directory@1.0.0
  export type * as ScimgwPluginHttp100 from 'scimgw:plugin/http@1.0.0'; // import scimgw:plugin/http@1.0.0
  export type * as ScimgwPluginKv100 from 'scimgw:plugin/kv@1.0.0'; // import scimgw:plugin/kv@1.0.0
  export type * as ScimgwPluginLog100 from 'scimgw:plugin/log@1.0.0'; // import scimgw:plugin/log@1.0.0
  export type * as ScimgwPluginNotify100 from 'scimgw:plugin/notify@1.0.0'; // import scimgw:plugin/notify@1.0.0
  export type * as ScimgwPluginTypes100 from 'scimgw:plugin/types@1.0.0'; // import scimgw:plugin/types@1.0.0
  export * as schedule from 'scimgw:plugin/schedule@1.0.0'; // export scimgw:plugin/schedule@1.0.0
  export * as admin from 'scimgw:plugin/admin@1.0.0'; // export scimgw:plugin/admin@1.0.0
  export * as provisioning from 'scimgw:plugin/provisioning@1.0.0'; // export scimgw:plugin/provisioning@1.0.0
}
