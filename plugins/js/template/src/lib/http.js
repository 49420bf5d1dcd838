// @ts-check
// Outbound HTTP for `deliver` and `on-schedule`, and the mapping of its results to an `outcome`: the
// JavaScript counterpart of the Rust SDK's `outbound` module, with the same rules and reasons.
//
// The host sends the request: only to the target's allowed hosts, https only unless allowed, at most 16
// requests per call, 10 s each, 4 MiB per response. Secrets stay in the host: name a credential with
// `bearer`, `basic`, `secretHeader` or `hmacSha256` and the host adds the header. In `translate` every
// request is refused (`denied`).
//
//   const outcome = Request.post(config.base_url)
//       .idempotencyKey(opId)
//       .bearer('api-token')
//       .json({ action: 'delete-user', id })
//       .sendForOutcome();
//
// Part of the scimgw JavaScript plugin kit: the same file is in every JS plugin under `src/lib/`.

import { send } from 'scimgw:plugin/http@1.0.0';

/**
 * @typedef {import('scimgw:plugin/http@1.0.0').Request} WitRequest
 * @typedef {import('scimgw:plugin/http@1.0.0').Response} Response
 * @typedef {import('scimgw:plugin/http@1.0.0').HttpError} HttpError
 * @typedef {import('scimgw:plugin/http@1.0.0').Method} Method
 * @typedef {import('scimgw:plugin/http@1.0.0').Auth} Auth
 * @typedef {import('scimgw:plugin/types@1.0.0').Outcome} Outcome
 */

/** How many bytes of a response body an outcome's reason quotes. */
export const REASON_BODY_BYTES = 200;

const U32_MAX = 4294967295;
const ENCODER = new TextEncoder();

/** An HTTP request being built; `send` hands it to the host. */
export class Request {
    /**
     * A request with `method` to `url`, no headers, no body, no auth.
     * @param {Method} method
     * @param {string} url
     */
    constructor(method, url) {
        /** @type {WitRequest} */
        this.inner = { method, url, headers: [], body: undefined, auth: undefined };
    }

    /** @param {string} url */
    static get(url) {
        return new Request('get', url);
    }

    /** @param {string} url */
    static post(url) {
        return new Request('post', url);
    }

    /** @param {string} url */
    static put(url) {
        return new Request('put', url);
    }

    /** @param {string} url */
    static patch(url) {
        return new Request('patch', url);
    }

    /** @param {string} url */
    static delete(url) {
        return new Request('delete', url);
    }

    /** Adds a header (sent in the order added; a name may repeat). @param {string} name @param {string} value */
    header(name, value) {
        this.inner.headers.push([name, value]);
        return this;
    }

    /**
     * Adds `Idempotency-Key: <opId>`. Pass `deliver`'s `op-id`: it is stable across retries and restarts,
     * so the receiver can drop duplicates.
     * @param {string} opId
     */
    idempotencyKey(opId) {
        return this.header('Idempotency-Key', opId);
    }

    /** Sets the body to `value` as JSON and adds `Content-Type: application/json`. @param {unknown} value */
    json(value) {
        return this.jsonText(JSON.stringify(value));
    }

    /** Sets the body to already-serialized JSON text and adds `Content-Type: application/json`. @param {string} text */
    jsonText(text) {
        return this.header('Content-Type', 'application/json').body(ENCODER.encode(text));
    }

    /** Sets the body (no `Content-Type` is added). @param {Uint8Array} bytes */
    body(bytes) {
        this.inner.body = bytes;
        return this;
    }

    /** Sets how the host authenticates the request. @param {Auth} auth */
    auth(auth) {
        this.inner.auth = auth;
        return this;
    }

    /** `Authorization: Bearer <the credential named credential>`. @param {string} credential */
    bearer(credential) {
        return this.auth({ tag: 'bearer', val: credential });
    }

    /** `Authorization: Basic base64(<credential>)`; the credential is `user:password`. @param {string} credential */
    basic(credential) {
        return this.auth({ tag: 'basic', val: credential });
    }

    /** `<header>: <the credential named credential>` (an API-key header). @param {string} header @param {string} credential */
    secretHeader(header, credential) {
        return this.auth({ tag: 'header', val: { header, credential } });
    }

    /**
     * `<header>: sha256=<hex HMAC-SHA256 of the body, keyed with the credential named credential>`.
     * @param {string} header
     * @param {string} credential
     */
    hmacSha256(header, credential) {
        return this.auth({ tag: 'hmac-sha256', val: { header, credential } });
    }

    /** The request as the WIT record. */
    toWit() {
        return this.inner;
    }

    /**
     * Sends the request through the host: `{tag: 'ok', val: response}`, or `{tag: 'err', val: httpError}`
     * when the host could not get a response.
     * @returns {{ tag: 'ok', val: Response } | { tag: 'err', val: HttpError }}
     */
    send() {
        try {
            return { tag: 'ok', val: send(this.inner) };
        } catch (err) {
            return { tag: 'err', val: httpErrorOf(err) };
        }
    }

    /** Sends the request and maps the result to an outcome (`outcomeForResponse` / `outcomeForError`). */
    sendForOutcome() {
        const result = this.send();
        return result.tag === 'ok' ? outcomeForResponse(result.val) : outcomeForError(result.val);
    }
}

/**
 * The `http-error` a failed `send` threw (the bindings throw an error whose `payload` is the variant).
 * @param {unknown} err
 * @returns {HttpError}
 */
function httpErrorOf(err) {
    if (err !== null && typeof err === 'object' && 'payload' in err) {
        return /** @type {HttpError} */ (err.payload);
    }
    throw err;
}

/**
 * What a response means for the operation:
 * - 2xx: `done` with no remote ids;
 * - 408, 425, 429 and 5xx: `retry`, after `Retry-After` seconds when the response says so;
 * - 409: `conflict`;
 * - anything else (other 4xx, and 1xx/3xx, which the host does not follow): `failed`.
 * Reasons read `HTTP <status>: <the first 200 bytes of the body>`.
 * @param {Response} response
 * @returns {Outcome}
 */
export function outcomeForResponse(response) {
    const status = response.status;
    if (status >= 200 && status <= 299) {
        return { tag: 'done', val: [] };
    }
    if (status === 408 || status === 425 || status === 429 || (status >= 500 && status <= 599)) {
        return { tag: 'retry', val: { afterSecs: retryAfterSecs(response.headers), reason: statusReason(response) } };
    }
    if (status === 409) {
        return { tag: 'conflict', val: statusReason(response) };
    }
    return { tag: 'failed', val: statusReason(response) };
}

/**
 * What a transport-level error means: `timeout`, `too-large` and `transport` are worth retrying;
 * `denied` and `budget-exhausted` will not get better and fail the operation.
 * @param {HttpError} err
 * @returns {Outcome}
 */
export function outcomeForError(err) {
    switch (err.tag) {
        case 'timeout':
        case 'too-large':
        case 'transport':
            return { tag: 'retry', val: { afterSecs: undefined, reason: describeError(err) } };
        default:
            return { tag: 'failed', val: describeError(err) };
    }
}

/**
 * `denied: <why>`, `timeout`, `too-large`, `budget-exhausted` or `transport: <why>`.
 * @param {HttpError} err
 */
export function describeError(err) {
    switch (err.tag) {
        case 'denied':
            return `denied: ${err.val}`;
        case 'transport':
            return `transport: ${err.val}`;
        default:
            return err.tag;
    }
}

/** `HTTP <status>: <the first 200 bytes of the body>` (just `HTTP <status>` for an empty body). @param {Response} response */
export function statusReason(response) {
    const snippet = bodySnippet(response.body, REASON_BODY_BYTES);
    return snippet === '' ? `HTTP ${response.status}` : `HTTP ${response.status}: ${snippet}`;
}

/**
 * At most `max` bytes of `body` as text: cut at a character boundary, invalid UTF-8 replaced (U+FFFD).
 * @param {Uint8Array} body
 * @param {number} max
 */
export function bodySnippet(body, max) {
    const head = body.subarray(0, Math.min(body.length, max));
    const { validUpTo, truncated } = checkUtf8(head);
    if (validUpTo === head.length || !truncated) {
        return new TextDecoder().decode(head);
    }
    // A character cut in two by the limit: keep what comes before it.
    return new TextDecoder().decode(head.subarray(0, validUpTo));
}

/**
 * Where valid UTF-8 in `bytes` ends, and whether what follows is only a character cut short by the end
 * of the bytes (Rust's `Utf8Error::error_len() == None`).
 * @param {Uint8Array} bytes
 */
function checkUtf8(bytes) {
    let i = 0;
    while (i < bytes.length) {
        const b = bytes[i];
        let need;
        let lo = 0x80;
        let hi = 0xbf;
        if (b < 0x80) {
            i += 1;
            continue;
        } else if (b >= 0xc2 && b <= 0xdf) {
            need = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
            need = 2;
            if (b === 0xe0) lo = 0xa0;
            if (b === 0xed) hi = 0x9f;
        } else if (b >= 0xf0 && b <= 0xf4) {
            need = 3;
            if (b === 0xf0) lo = 0x90;
            if (b === 0xf4) hi = 0x8f;
        } else {
            return { validUpTo: i, truncated: false };
        }
        for (let k = 1; k <= need; k++) {
            if (i + k >= bytes.length) {
                return { validUpTo: i, truncated: true };
            }
            const c = bytes[i + k];
            if (c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) {
                return { validUpTo: i, truncated: false };
            }
        }
        i += need + 1;
    }
    return { validUpTo: i, truncated: false };
}

/**
 * The value of the first header called `name` (ASCII case-insensitive).
 * @param {Array<[string, string]>} headers
 * @param {string} name
 */
export function header(headers, name) {
    const wanted = asciiLower(name);
    const found = headers.find(([n]) => asciiLower(n) === wanted);
    return found === undefined ? undefined : found[1];
}

/** @param {string} s */
function asciiLower(s) {
    return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/**
 * `Retry-After` as a number of seconds, when it is one (an HTTP date is ignored: the host's backoff
 * decides then). Values beyond u32 saturate.
 * @param {Array<[string, string]>} headers
 */
export function retryAfterSecs(headers) {
    const raw = header(headers, 'retry-after');
    if (raw === undefined) {
        return undefined;
    }
    const value = raw.replace(/^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g, '');
    if (!/^[0-9]+$/.test(value)) {
        return undefined;
    }
    const secs = BigInt(value);
    return secs > BigInt(U32_MAX) ? U32_MAX : Number(secs);
}
