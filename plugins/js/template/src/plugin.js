// @ts-check
/// <reference path="../types/plugin.d.ts" />
// A minimal scimgw target plugin in JavaScript, to copy: user upserts and deletes become `upsert-user`
// and `delete-user` operations, and each operation is delivered as one JSON POST to the configured
// `base_url`. The same behaviour as the Rust template (plugins/template).
//
// Configuration: `{"base_url": "https://api.example.com/scim-hook", "credential": "api-token"}`
// (`credential` is optional: the name of a target credential sent as a bearer token). Unknown fields
// are refused.
//
// Build: `npm install && npm run build` (-> plugin.wasm); test: `gateway plugin test plugin.wasm
// --fixtures fixtures`. See README.md for what to change.

import { parseConfig, option, string, struct } from './lib/config.js';
import { Request } from './lib/http.js';
import { definePlugin, pluginError, userOpFromUser } from './lib/sdk.js';

/**
 * @typedef {import('scimgw:plugin/types@1.0.0').Context} Context
 * @typedef {import('scimgw:plugin/types@1.0.0').Change} Change
 * @typedef {import('scimgw:plugin/types@1.0.0').Operation} Operation
 * @typedef {import('scimgw:plugin/types@1.0.0').Outcome} Outcome
 */

/**
 * This plugin's configuration.
 * @typedef {object} Config
 * @property {string} base_url Where operations are POSTed.
 * @property {string} [credential] The name of a target credential to send as `Authorization: Bearer ...`.
 */
const CONFIG = struct('Config', { base_url: string, credential: option(string) });

/** @param {Context} ctx @returns {Config} */
function config(ctx) {
    return parseConfig(ctx.configJson, CONFIG);
}

/**
 * Pure: the change in, operations out. No clock but `ctx.nowUnixMs`, no network.
 * @param {Context} ctx
 * @param {Change} change
 * @returns {Operation[]}
 */
function translate(ctx, change) {
    // Read the configuration here too, so a broken one stops the target at once.
    config(ctx);
    switch (change.event.tag) {
        case 'user-upserted':
            return [{ tag: 'upsert-user', val: userOpFromUser(change.event.val) }];
        case 'user-deleted':
            return [{ tag: 'delete-user', val: change.event.val }];
        default:
            // Groups, memberships, deactivations and resync markers: nothing to do in this template.
            return [];
    }
}

/**
 * Sends one operation. `opId` is stable across retries: pass it on as an idempotency key.
 * @param {Context} ctx
 * @param {string} opId
 * @param {Operation} op
 * @returns {Outcome}
 */
function deliver(ctx, opId, op) {
    const { base_url: baseUrl, credential } = config(ctx);
    // What the LMS receives, e.g. {"action":"upsert-user","user":{...}}.
    let body;
    switch (op.tag) {
        case 'upsert-user': {
            const user = op.val;
            body = {
                action: 'upsert-user',
                user: {
                    id: user.userId,
                    login: user.login,
                    email: user.email ?? null,
                    first_name: user.firstName ?? null,
                    last_name: user.lastName ?? null,
                    active: user.active,
                },
            };
            break;
        }
        case 'delete-user':
            body = { action: 'delete-user', id: op.val };
            break;
        default:
            throw pluginError.unsupported(`no delivery for \`${op.tag}\``);
    }
    const request = Request.post(baseUrl).idempotencyKey(opId).json(body);
    if (credential !== undefined) {
        request.bearer(credential);
    }
    // 2xx done, 408/425/429/5xx retry (honouring Retry-After), 409 conflict, other 4xx failed.
    return request.sendForOutcome();
}

// The exported interfaces: provisioning (translate, deliver), schedule (no jobs), admin (404s).
export const { provisioning, schedule, admin } = definePlugin({ translate, deliver });
