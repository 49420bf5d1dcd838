// @ts-check
// The event body: a deterministic JSON object built from the change alone (a port of
// plugins/webhook/src/event.rs, byte for byte):
//
//   {"tenant":"acme","target":"hook","seq":7,"at":"2026-01-01T00:00:00Z","resync":false,
//    "type":"user.upserted","resourceType":"User","resourceId":"u-1","data":{...}}
//
// `data` is the stored SCIM document for upserts, `{"active": bool}` for active changes,
// `{"displayName", "oldDisplayName"}` for renames, `{"members": [{"type", "value"}]}` for member
// changes, the parsed payload (or null) for `other` events, and null otherwise. Keys come out in a
// fixed order: the body's as above, and sorted inside `data` (as serde_json's `Value` sorts them).

import { canonicalJson, JsonError } from './lib/json.js';
import { logKind, pluginError, scimName, subject } from './lib/sdk.js';

/**
 * @typedef {import('scimgw:plugin/types@1.0.0').Context} Context
 * @typedef {import('scimgw:plugin/types@1.0.0').Change} Change
 * @typedef {import('scimgw:plugin/types@1.0.0').Event} Event
 */

/**
 * The JSON text of the event for `change`.
 * @param {Context} ctx
 * @param {Change} change
 */
export function payload(ctx, change) {
    const about = subject(change.event);
    const fields = [
        ['tenant', JSON.stringify(ctx.tenant)],
        ['target', JSON.stringify(ctx.target)],
        ['seq', change.seq.toString()],
        ['at', JSON.stringify(change.at)],
        ['resync', String(change.resync)],
        ['type', JSON.stringify(logKind(change.event))],
        ['resourceType', about === undefined ? 'null' : JSON.stringify(scimName(about.kind))],
        ['resourceId', about === undefined ? 'null' : JSON.stringify(about.id)],
        ['data', data(change.event)],
    ];
    return `{${fields.map(([key, value]) => `"${key}":${value}`).join(',')}}`;
}

/**
 * The JSON text of `data` (keys sorted).
 * @param {Event} event
 */
function data(event) {
    switch (event.tag) {
        case 'user-upserted':
            return document(event.val.scimJson, 'user', event.val.id);
        case 'group-upserted':
            return document(event.val.scimJson, 'group', event.val.id);
        case 'user-active-changed':
            return `{"active":${event.val.active}}`;
        case 'group-renamed': {
            const old = event.val.oldDisplayName;
            return `{"displayName":${JSON.stringify(event.val.displayName)},"oldDisplayName":${old === undefined ? 'null' : JSON.stringify(old)}}`;
        }
        case 'members-added':
        case 'members-removed': {
            const members = event.val.members.map(
                (member) => `{"type":${JSON.stringify(member.kind === 'user' ? 'User' : 'Group')},"value":${JSON.stringify(member.id)}}`,
            );
            return `{"members":[${members.join(',')}]}`;
        }
        case 'other':
            try {
                return canonicalJson(event.val.payloadJson);
            } catch (err) {
                if (err instanceof JsonError) {
                    return 'null';
                }
                throw err;
            }
        default:
            // user-deleted, group-deleted, resync-started, resync-finished
            return 'null';
    }
}

/**
 * The stored SCIM document, as sorted JSON (it is sent as JSON, not as a string).
 * @param {string} scimJson
 * @param {string} what
 * @param {string} id
 */
function document(scimJson, what, id) {
    try {
        return canonicalJson(scimJson);
    } catch (err) {
        if (err instanceof JsonError) {
            throw pluginError.invalidInput(`${what} ${id}: scim-json is not valid JSON: ${err.describe()}`);
        }
        throw err;
    }
}
