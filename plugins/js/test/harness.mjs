// A host for JS plugin components in Node, for unit tests of what `gateway plugin test` does not cover
// (deliver: requests and outcomes; admin; schedule). The component is transpiled to JS with jco (from
// the template's node_modules) and every call gets a fresh instance, as in the gateway. The host
// records log lines and the requests sent, and answers `http.send` with a scripted reply.
//
//   const plugin = await loadPlugin('/path/js-webhook.wasm');
//   const host = plugin.host({ http: () => ({ status: 200, headers: [], body: new Uint8Array() }) });
//   const outcome = host.call((p) => p.provisioning.deliver(ctx(), 'op-1', op));

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const JCO = resolve(here, '../template/node_modules/.bin/jco');

/**
 * Transpiles `wasm` once and returns a factory of hosts.
 * @param {string} wasm path of a component built for world scimgw:plugin/plugin@1.0.0
 */
export async function loadPlugin(wasm) {
    const out = mkdtempSync(join(tmpdir(), 'scimgw-js-test-'));
    process.on('exit', () => rmSync(out, { recursive: true, force: true }));
    execFileSync(JCO, ['transpile', wasm, '--instantiation', 'sync', '--name', 'plugin', '--quiet', '-o', out], {
        stdio: ['ignore', 'ignore', 'inherit'],
    });
    const { instantiate } = await import(pathToFileURL(join(out, 'plugin.js')).href);
    /** @type {Map<string, WebAssembly.Module>} */
    const modules = new Map();
    const getCoreModule = (name) => {
        if (!modules.has(name)) {
            modules.set(name, new WebAssembly.Module(readFileSync(join(out, name))));
        }
        return modules.get(name);
    };

    return {
        /**
         * A host with scripted answers. `http(req)` returns a response or throws `{payload: httpError}`.
         * @param {{ http?: (req: any) => any, kv?: Map<string, string> }} [options]
         */
        host(options = {}) {
            const host = {
                logs: /** @type {Array<[string, string]>} */ ([]),
                requests: /** @type {any[]} */ ([]),
                kv: options.kv ?? new Map(),
                /** Runs `fn` on a fresh instance; returns its result or `{error: payload}` for a thrown plugin error. */
                call(fn) {
                    const instance = instantiate(getCoreModule, imports(host, options));
                    try {
                        return fn(instance);
                    } catch (err) {
                        if (err && typeof err === 'object' && 'payload' in err) {
                            return { error: err.payload };
                        }
                        throw err;
                    }
                },
            };
            return host;
        },
    };
}

function imports(host, options) {
    const unexpected = (what) => () => {
        throw new Error(`unexpected host call: ${what}`);
    };
    return {
        'scimgw:plugin/log': { log: (level, message) => host.logs.push([level, message]) },
        'scimgw:plugin/kv': {
            get: (key) => host.kv.get(key),
            set: (key, value) => void host.kv.set(key, value),
            delete: (key) => void host.kv.delete(key),
            keys: (prefix, after, limit) =>
                [...host.kv.keys()]
                    .filter((k) => k.startsWith(prefix) && (after === undefined || k > after))
                    .sort()
                    .slice(0, limit),
        },
        'scimgw:plugin/types': {},
        'scimgw:plugin/directory': {
            getUser: unexpected('directory.get-user'),
            getGroup: unexpected('directory.get-group'),
            listUsers: unexpected('directory.list-users'),
            listGroups: unexpected('directory.list-groups'),
            members: unexpected('directory.members'),
            groupsOf: unexpected('directory.groups-of'),
            remoteId: unexpected('directory.remote-id'),
        },
        'scimgw:plugin/http': {
            send(req) {
                host.requests.push(req);
                if (!options.http) {
                    throw Object.assign(new Error('denied'), { payload: { tag: 'denied', val: 'no http in this test' } });
                }
                return options.http(req);
            },
        },
        'scimgw:plugin/notify': { send: unexpected('notify.send') },
    };
}

/** A context as the gateway passes it. */
export function ctx(config, overrides = {}) {
    return {
        tenant: 'acme',
        target: 'hook',
        correlationId: 'c-1',
        nowUnixMs: 1767225600000n,
        configJson: typeof config === 'string' ? config : JSON.stringify(config),
        attempt: 1,
        deadlineUnixMs: 1767225600500n,
        extra: [],
        ...overrides,
    };
}

/** A change as the gateway passes it. */
export function change(seq, event, resync = false) {
    return { seq: BigInt(seq), at: '2026-01-01T00:00:00Z', resync, event };
}

/** An HTTP response for the scripted host. */
export function response(status, headers = [], body = '') {
    return { status, headers, body: new TextEncoder().encode(body) };
}

/** Throws what the bindings expect for an `http-error`. */
export function httpError(tag, val) {
    throw Object.assign(new Error(tag), { payload: val === undefined ? { tag } : { tag, val } });
}

/** A SCIM user record as the gateway builds it from a document. */
export function user(id, fields = {}) {
    return {
        id,
        externalId: undefined,
        userName: `${id}@acme.example`,
        active: true,
        displayName: undefined,
        givenName: undefined,
        familyName: undefined,
        emails: [],
        title: undefined,
        preferredLanguage: undefined,
        employeeNumber: undefined,
        department: undefined,
        division: undefined,
        costCenter: undefined,
        organization: undefined,
        managerId: undefined,
        scimJson: JSON.stringify({ id }),
        ...fields,
    };
}
