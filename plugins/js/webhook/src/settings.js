// @ts-check
// The webhook target's configuration, parsed and checked: a port of plugins/webhook/src/settings.rs with
// the same rules and the same error messages (`invalid target configuration: ...`, naming the field).
//
//   {"url": "https://hooks.example.com/scim", "signing_credential": "signing",
//    "headers": {"X-Extra": "v"}, "events": ["user.upserted", "user.deleted"]}

import { configError, isRustBlank, map, option, parseConfig, seq, string, struct } from './lib/config.js';
import { EVENT_KINDS } from './lib/sdk.js';

/** The configuration as the admin writes it (unknown fields refused). */
const RAW = struct('Raw', {
    url: string,
    signing_credential: option(string),
    headers: option(map(string)),
    events: option(seq(string)),
});

/** Headers the plugin sets itself; configuring them would send them twice. */
const RESERVED_HEADERS = ['content-type', 'x-scimgw-op-id', 'idempotency-key', 'x-scimgw-signature'];

/** The checked configuration. */
export class Settings {
    /**
     * @param {string} url
     * @param {string | undefined} signingCredential
     * @param {Map<string, string>} headers sorted by name, so requests are the same for the same configuration
     * @param {string[] | undefined} events undefined: every kind
     */
    constructor(url, signingCredential, headers, events) {
        this.url = url;
        this.signingCredential = signingCredential;
        this.headers = headers;
        this.events = events;
    }

    /** @param {import('scimgw:plugin/types@1.0.0').Context} ctx */
    static fromContext(ctx) {
        return Settings.parse(ctx.configJson);
    }

    /** @param {string} json */
    static parse(json) {
        /** @type {{url: string, signing_credential?: string, headers?: Map<string, string>, events?: string[]}} */
        const raw = parseConfig(json, RAW);
        checkUrl(raw.url);
        if (raw.signing_credential !== undefined && isRustBlank(raw.signing_credential)) {
            throw invalid('signing_credential: must name a target credential (or be left out)');
        }
        const headers = raw.headers ?? new Map();
        for (const [name, value] of headers) {
            checkHeader(name, value);
        }
        if (raw.events !== undefined) {
            raw.events.forEach((kind, i) => {
                if (!EVENT_KINDS.includes(kind)) {
                    throw invalid(`events[${i}]: unknown event type \`${kind}\` (expected one of ${EVENT_KINDS.join(', ')})`);
                }
            });
        }
        return new Settings(raw.url, raw.signing_credential, headers, raw.events);
    }

    /** Whether changes of this kind are sent. @param {string} kind */
    wants(kind) {
        return this.events === undefined || this.events.includes(kind);
    }
}

/** @param {string} url */
function checkUrl(url) {
    const notHttp = () => invalid(`url: \`${url}\` is not an http(s) URL`);
    let rest;
    if (url.startsWith('https://')) {
        rest = url.slice('https://'.length);
    } else if (url.startsWith('http://')) {
        rest = url.slice('http://'.length);
    } else {
        throw notHttp();
    }
    const authority = rest.split(/[/?#]/)[0];
    // Rust's char::is_whitespace and char::is_control.
    if (authority === '' || /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f]/.test(url)) {
        throw notHttp();
    }
}

/** @param {string} name @param {string} value */
function checkHeader(name, value) {
    if (!/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/.test(name)) {
        throw invalid(`headers: \`${name}\` is not a valid header name`);
    }
    if (RESERVED_HEADERS.includes(name.toLowerCase())) {
        throw invalid(`headers.${name}: set by the plugin, cannot be configured`);
    }
    if (/[\r\n\0]/.test(value)) {
        throw invalid(`headers.${name}: the value contains a line break`);
    }
}

/** @param {string} detail */
function invalid(detail) {
    return configError(detail);
}
