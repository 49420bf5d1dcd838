// @ts-check
// The JavaScript side of the scimgw plugin contract (WIT `scimgw:plugin/plugin@1.0.0`): what the Rust
// SDK's crate root, `ops` and `log` give Rust plugins.
//
// - `definePlugin({translate, deliver, jobs?, onSchedule?, admin?})` returns the three exported
//   interfaces (`provisioning`, `schedule`, `admin`); export them from the plugin's module. Missing
//   parts default to "no jobs" (`jobs` -> [], `on-schedule` -> `unsupported`) and "no admin resources"
//   (404 for every path). Errors are thrown: throw a plugin error (`pluginError.config('...')`, i.e.
//   `{tag: 'config', val: '...'}`); anything else thrown (a bug) is logged and becomes an `internal` error.
// - Event helpers: `logKind`, `subject`, `ordering`, `EVENT_KINDS`; operation helpers: `userOpFromUser`,
//   `primaryEmail`; `log.info(...)` etc.
//
// WIT values in JavaScript: records are objects with camelCase fields, variants `{tag, val}` with the
// WIT (kebab-case) case names, enums strings, `option<T>` is `T | undefined`, `u64` a bigint, `list<u8>`
// a Uint8Array. No clock but `ctx.nowUnixMs`, and no randomness: the component has no WASI imports.
//
// Part of the scimgw JavaScript plugin kit: the same file is in every JS plugin under `src/lib/`.

import { log as hostLog } from 'scimgw:plugin/log@1.0.0';

/**
 * @typedef {import('scimgw:plugin/types@1.0.0').Context} Context
 * @typedef {import('scimgw:plugin/types@1.0.0').Change} Change
 * @typedef {import('scimgw:plugin/types@1.0.0').Event} Event
 * @typedef {import('scimgw:plugin/types@1.0.0').Operation} Operation
 * @typedef {import('scimgw:plugin/types@1.0.0').Outcome} Outcome
 * @typedef {import('scimgw:plugin/types@1.0.0').Ordering} Ordering
 * @typedef {import('scimgw:plugin/types@1.0.0').PluginError} PluginError
 * @typedef {import('scimgw:plugin/types@1.0.0').User} User
 * @typedef {import('scimgw:plugin/types@1.0.0').UserOp} UserOp
 * @typedef {import('scimgw:plugin/types@1.0.0').Job} Job
 * @typedef {import('scimgw:plugin/types@1.0.0').JobRun} JobRun
 * @typedef {import('scimgw:plugin/types@1.0.0').JobResult} JobResult
 * @typedef {import('scimgw:plugin/types@1.0.0').AdminRequest} AdminRequest
 * @typedef {import('scimgw:plugin/types@1.0.0').AdminResponse} AdminResponse
 * @typedef {import('scimgw:plugin/types@1.0.0').ResourceKind} ResourceKind
 */

/**
 * What a plugin implements: `translate` and `deliver`; the rest is optional.
 * @typedef {object} PluginImpl
 * @property {(ctx: Context, change: Change) => Operation[]} translate
 *   Pure and deterministic: the change in, operations out. No clock but `ctx.nowUnixMs`, no network.
 * @property {(ctx: Context, opId: string, op: Operation) => Outcome} deliver
 *   Delivers one operation. `opId` is stable across retries: pass it on as an idempotency key.
 * @property {(configJson: string) => Job[]} [jobs] The scheduled jobs for this configuration.
 * @property {(ctx: Context, run: JobRun) => JobResult} [onSchedule] Runs (part of) a scheduled job.
 * @property {(ctx: Context, req: AdminRequest) => AdminResponse} [admin] Answers an admin resource call.
 */

/** Plugin errors, to throw. */
export const pluginError = {
    /** The change or operation makes no sense. @param {string} message @returns {PluginError} */
    invalidInput: (message) => ({ tag: 'invalid-input', val: message }),
    /** An operation (or job) this plugin does not handle. @param {string} message @returns {PluginError} */
    unsupported: (message) => ({ tag: 'unsupported', val: message }),
    /** The target's configuration is wrong: name the field. @param {string} message @returns {PluginError} */
    config: (message) => ({ tag: 'config', val: message }),
    /** Anything else. @param {string} message @returns {PluginError} */
    internal: (message) => ({ tag: 'internal', val: message }),
};

const ERROR_TAGS = ['invalid-input', 'unsupported', 'config', 'internal'];

/** One-line logging through the host (at most 50 lines of 1 KiB per call: log decisions, not data). */
export const log = {
    /** @param {string} message */
    debug: (message) => hostLog('debug', message),
    /** @param {string} message */
    info: (message) => hostLog('info', message),
    /** @param {string} message */
    warn: (message) => hostLog('warn', message),
    /** @param {string} message */
    error: (message) => hostLog('error', message),
};

/**
 * The exported interfaces for a plugin: `export const { provisioning, schedule, admin } = definePlugin({...})`.
 * @param {PluginImpl} plugin
 */
export function definePlugin(plugin) {
    const jobs = plugin.jobs ?? (() => []);
    const onSchedule =
        plugin.onSchedule ??
        ((_ctx, run) => {
            throw pluginError.unsupported(`this plugin has no job \`${run.job}\``);
        });
    const handle = plugin.admin ?? ((_ctx, req) => adminError(404, `no admin resource \`${req.path}\``));
    return {
        provisioning: {
            /** @param {Context} ctx @param {Change} change */
            translate: (ctx, change) => guard(() => plugin.translate(ctx, change)),
            /** @param {Context} ctx @param {string} opId @param {Operation} op */
            deliver: (ctx, opId, op) => guard(() => plugin.deliver(ctx, opId, op)),
        },
        schedule: {
            /** @param {string} configJson */
            jobs: (configJson) => guard(() => jobs(configJson)),
            /** @param {Context} ctx @param {JobRun} run */
            onSchedule: (ctx, run) => guard(() => onSchedule(ctx, run)),
        },
        admin: {
            /** @param {Context} ctx @param {AdminRequest} req */
            handle: (ctx, req) => guard(() => handle(ctx, req)),
        },
    };
}

/**
 * Runs one call: plugin errors pass through (the bindings turn them into `err`); anything else thrown is
 * a bug, logged as `exception: <message>` and returned as an `internal` error (instead of a trap
 * without a message, as the component has no stderr).
 * @template T
 * @param {() => T} call
 * @returns {T}
 */
function guard(call) {
    try {
        return call();
    } catch (err) {
        if (isPluginError(err)) {
            throw err;
        }
        const message = `exception: ${err instanceof Error ? err.message : String(err)}`;
        hostLog('error', message);
        throw pluginError.internal(message);
    }
}

/** @param {unknown} err @returns {err is PluginError} */
function isPluginError(err) {
    return (
        err !== null &&
        typeof err === 'object' &&
        'tag' in err &&
        'val' in err &&
        typeof err.tag === 'string' &&
        ERROR_TAGS.includes(err.tag) &&
        typeof err.val === 'string'
    );
}

/**
 * An admin response with status `status` and body `{"detail": detail}`.
 * @param {number} status
 * @param {string} detail
 * @returns {AdminResponse}
 */
export function adminError(status, detail) {
    return { status, bodyJson: JSON.stringify({ detail }) };
}

/**
 * The change-log kinds, as the gateway names them, in the order of the WIT `event` variant (`other`
 * events carry their own kind).
 */
export const EVENT_KINDS = [
    'user.upserted',
    'user.active_changed',
    'user.deleted',
    'group.upserted',
    'group.renamed',
    'group.deleted',
    'group.members_added',
    'group.members_removed',
    'resync.started',
    'resync.finished',
];

/** @type {Record<string, string>} */
const LOG_KINDS = {
    'user-upserted': 'user.upserted',
    'user-active-changed': 'user.active_changed',
    'user-deleted': 'user.deleted',
    'group-upserted': 'group.upserted',
    'group-renamed': 'group.renamed',
    'group-deleted': 'group.deleted',
    'members-added': 'group.members_added',
    'members-removed': 'group.members_removed',
    'resync-started': 'resync.started',
    'resync-finished': 'resync.finished',
};

/**
 * The change-log kind of an event (`user.upserted`, ...), or the kind of an `other` event.
 * @param {Event} event
 */
export function logKind(event) {
    return event.tag === 'other' ? event.val.kind : LOG_KINDS[event.tag];
}

/**
 * The resource an event is about; undefined for the resync markers and `other` events.
 * @param {Event} event
 * @returns {{ kind: ResourceKind, id: string } | undefined}
 */
export function subject(event) {
    switch (event.tag) {
        case 'user-upserted':
            return { kind: 'user', id: event.val.id };
        case 'user-active-changed':
            return { kind: 'user', id: event.val.userId };
        case 'user-deleted':
            return { kind: 'user', id: event.val };
        case 'group-upserted':
            return { kind: 'group', id: event.val.id };
        case 'group-renamed':
            return { kind: 'group', id: event.val.groupId };
        case 'group-deleted':
            return { kind: 'group', id: event.val };
        case 'members-added':
        case 'members-removed':
            return { kind: 'group', id: event.val.groupId };
        default:
            return undefined;
    }
}

/** The SCIM resource type of a resource kind: `User` or `Group`. @param {ResourceKind} kind */
export function scimName(kind) {
    return kind === 'user' ? 'User' : 'Group';
}

/**
 * The ordering that keeps a custom operation in line with the event's resource: the user or group it
 * is about, a barrier for the resync markers and `other` events.
 * @param {Event} event
 * @returns {Ordering}
 */
export function ordering(event) {
    const about = subject(event);
    if (about === undefined) {
        return { tag: 'barrier' };
    }
    return about.kind === 'user' ? { tag: 'user', val: about.id } : { tag: 'group', val: about.id };
}

/** The primary email's value, else the first email's, else undefined. @param {User} user */
export function primaryEmail(user) {
    const email = user.emails.find((e) => e.primary) ?? user.emails[0];
    return email?.value;
}

/**
 * The usual mapping of a SCIM user: login = `userName`, email = the primary email, first and last name
 * from `name`, `active` as is, and no further fields (`fieldsJson` = `{}`).
 * @param {User} user
 * @returns {UserOp}
 */
export function userOpFromUser(user) {
    return {
        userId: user.id,
        login: user.userName,
        email: primaryEmail(user),
        firstName: user.givenName,
        lastName: user.familyName,
        active: user.active,
        fieldsJson: '{}',
    };
}
