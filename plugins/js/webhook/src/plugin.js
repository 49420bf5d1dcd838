// @ts-check
/// <reference path="../types/plugin.d.ts" />
// The webhook target in JavaScript: every change becomes one JSON event POSTed to the configured URL. A
// port of the Rust webhook plugin (plugins/webhook) with the same configuration, operations, requests
// and outcomes; it passes the same fixtures (plugins/webhook/fixtures).
//
// Configuration (the target's config JSON):
//
//   {"url": "https://hooks.example.com/scim", "signing_credential": "signing",
//    "headers": {"X-Extra": "v"}, "events": ["user.upserted", "user.deleted"]}
//
// - `url` (required): where events are POSTed (http or https; the target's allowlist decides).
// - `signing_credential` (optional): the name of a target credential; when set, the host signs every
//   body and sends `X-Scimgw-Signature: sha256=<hex HMAC-SHA256 of the body>`. The secret never
//   enters the plugin.
// - `headers` (optional): extra headers sent with every event.
// - `events` (optional): only these change kinds are sent; absent or null means all of them.
//
// `translate` turns a change into exactly one `custom` operation of kind `webhook.event` (or none when
// the change's kind is filtered out), ordered with the change's user or group (a barrier for resync
// markers and `other` events); its payload is the event body (event.js). `deliver` POSTs that body with
// `X-Scimgw-Op-Id` and `Idempotency-Key` set to the operation id, which stays the same across retries.

import { payload } from './event.js';
import { Request } from './lib/http.js';
import { definePlugin, log, logKind, ordering, pluginError } from './lib/sdk.js';
import { Settings } from './settings.js';

/**
 * @typedef {import('scimgw:plugin/types@1.0.0').Context} Context
 * @typedef {import('scimgw:plugin/types@1.0.0').Change} Change
 * @typedef {import('scimgw:plugin/types@1.0.0').Operation} Operation
 * @typedef {import('scimgw:plugin/types@1.0.0').Outcome} Outcome
 */

/** `custom-op.kind` of the operations this plugin emits. */
const OP_KIND = 'webhook.event';
/** The header carrying the body's signature, when a signing credential is configured. */
const SIGNATURE_HEADER = 'X-Scimgw-Signature';
/** The header carrying the operation id. */
const OP_ID_HEADER = 'X-Scimgw-Op-Id';

/**
 * @param {Context} ctx
 * @param {Change} change
 * @returns {Operation[]}
 */
function translate(ctx, change) {
    const settings = Settings.fromContext(ctx);
    if (!settings.wants(logKind(change.event))) {
        return [];
    }
    return [{ tag: 'custom', val: { kind: OP_KIND, ordering: ordering(change.event), payloadJson: payload(ctx, change) } }];
}

/**
 * @param {Context} ctx
 * @param {string} opId
 * @param {Operation} op
 * @returns {Outcome}
 */
function deliver(ctx, opId, op) {
    const settings = Settings.fromContext(ctx);
    if (op.tag !== 'custom') {
        throw pluginError.unsupported(`the webhook plugin delivers only \`${OP_KIND}\` operations, not \`${op.tag}\``);
    }
    if (op.val.kind !== OP_KIND) {
        throw pluginError.unsupported(
            `the webhook plugin delivers only \`${OP_KIND}\` operations, not custom \`${op.val.kind}\``,
        );
    }
    const outcome = request(settings, opId, op.val.payloadJson).sendForOutcome();
    if (outcome.tag !== 'done') {
        log.info(`webhook delivery of ${opId}: ${describe(outcome)}`);
    }
    return outcome;
}

/**
 * The POST for one event: JSON body, op id twice (for logs and for deduplication), the configured
 * extra headers (sorted by name), and the signature when configured.
 * @param {Settings} settings
 * @param {string} opId
 * @param {string} body
 */
function request(settings, opId, body) {
    const req = Request.post(settings.url).jsonText(body).header(OP_ID_HEADER, opId).idempotencyKey(opId);
    for (const [name, value] of settings.headers) {
        req.header(name, value);
    }
    if (settings.signingCredential !== undefined) {
        req.hmacSha256(SIGNATURE_HEADER, settings.signingCredential);
    }
    return req;
}

/**
 * The outcome for the log: its kind only. The reason can quote the receiver's answer (personal data);
 * it is kept with the operation in the outbox, where an admin reads it.
 * @param {Outcome} outcome
 */
function describe(outcome) {
    if (outcome.tag === 'retry') {
        return outcome.val.afterSecs === undefined ? 'retry' : `retry after ${outcome.val.afterSecs} s`;
    }
    return outcome.tag;
}

// The exported interfaces: provisioning (translate, deliver), schedule (no jobs), admin (404s).
export const { provisioning, schedule, admin } = definePlugin({ translate, deliver });
