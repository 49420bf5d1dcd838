// @ts-check
// The target's JSON configuration, read into a plain object against a small schema, with the errors the
// Rust SDK's `parse_config` gives (serde + serde_json + serde_path_to_error), so admins see the same
// messages whichever language a plugin is written in:
//
//   invalid target configuration: missing field `url` at line 1 column 2
//   invalid target configuration: url: invalid type: integer `5`, expected a string at line 1 column 8
//   invalid target configuration: sign: unknown field `sign`, expected one of `url`, ... at line 1 column 25
//
// A schema is built from `string`, `option(t)`, `seq(t)`, `map(t)` (string keys; a `BTreeMap`: read
// into a `Map` sorted by key) and `struct(name, fields)` (unknown fields refused, like
// `#[serde(deny_unknown_fields)]`; option fields may be missing). An empty configuration reads as `{}`.
//
// Part of the scimgw JavaScript plugin kit: the same file is in every JS plugin under `src/lib/`.

import {
    JsonError,
    Reader,
    compareCodePoints,
    endArray,
    endObject,
    formatFloat,
    hasNextElement,
    hasNextKey,
    objectColon,
} from './json.js';

/**
 * @typedef {{ kind: 'string' }
 *   | { kind: 'option', inner: Schema }
 *   | { kind: 'seq', inner: Schema }
 *   | { kind: 'map', value: Schema }
 *   | { kind: 'struct', name: string, fields: Record<string, Schema> }} Schema
 * @typedef {import('./json.js').PathSegment} PathSegment
 */

/** A JSON string. @type {Schema} */
export const string = { kind: 'string' };

/** `null` or absent (both read as `undefined`), or a `t`. @param {Schema} inner @returns {Schema} */
export const option = (inner) => ({ kind: 'option', inner });

/** An array of `t` (`Vec<T>`). @param {Schema} inner @returns {Schema} */
export const seq = (inner) => ({ kind: 'seq', inner });

/** An object with any keys and `t` values, read into a `Map` sorted by key. @param {Schema} value @returns {Schema} */
export const map = (value) => ({ kind: 'map', value });

/**
 * An object with exactly these fields (in this order: it is the order serde reports them in).
 * @param {string} name the Rust type's name, for `expected struct <name>`
 * @param {Record<string, Schema>} fields
 * @returns {Schema}
 */
export const struct = (name, fields) => ({ kind: 'struct', name, fields });

/**
 * Parses `text` (the target's `config-json`) against `schema`, or throws the plugin error
 * `{tag: 'config', val: 'invalid target configuration: ...'}`.
 * @param {string} text
 * @param {Schema} schema
 * @returns {any}
 */
export function parseConfig(text, schema) {
    const reader = new Reader(isRustBlank(text) ? '{}' : text);
    try {
        const value = deserialize(reader, schema, []);
        reader.end();
        return value;
    } catch (err) {
        if (!(err instanceof JsonError)) {
            throw err;
        }
        const path = err.path === undefined || err.path.length === 0 ? '' : `${formatPath(err.path)}: `;
        throw configError(`${path}${err.describe()}`);
    }
}

/** The plugin error for a configuration problem. @param {string} detail */
export function configError(detail) {
    return { tag: /** @type {const} */ ('config'), val: `invalid target configuration: ${detail}` };
}

/** Rust's `str::trim().is_empty()` (Unicode White_Space). @param {string} text */
export function isRustBlank(text) {
    return /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/.test(text);
}

/** serde_path_to_error's path: `a.b`, `a[0]`, `?` for a key that could not be read. @param {PathSegment[]} path */
function formatPath(path) {
    let out = '';
    path.forEach((segment, i) => {
        if ('index' in segment) {
            out += `[${segment.index}]`;
        } else {
            out += (i === 0 ? '' : '.') + ('key' in segment ? segment.key : '?');
        }
    });
    return out;
}

/**
 * Reads one value; an error from inside it gets this value's path unless a deeper one was set.
 * @param {Reader} r
 * @param {Schema} schema
 * @param {PathSegment[]} path
 * @returns {any}
 */
function deserialize(r, schema, path) {
    try {
        return deserializeValue(r, schema, path);
    } catch (err) {
        if (err instanceof JsonError && err.path === undefined) {
            err.path = path;
        }
        throw err;
    }
}

/** @param {Reader} r @param {Schema} schema @param {PathSegment[]} path */
function deserializeValue(r, schema, path) {
    if (schema.kind === 'option') {
        if (r.whitespace() === 0x6e) {
            r.eat();
            r.ident('ull');
            return undefined;
        }
        return deserialize(r, schema.inner, path);
    }
    const c = r.whitespace();
    if (c === -1) {
        throw r.peekError('EOF while parsing a value');
    }
    switch (schema.kind) {
        case 'string':
            if (c !== 0x22) {
                throw invalidType(r, 'a string');
            }
            r.eat();
            return r.string();
        case 'seq':
            if (c !== 0x5b) {
                throw invalidType(r, 'a sequence');
            }
            return container(r, endArray, () => readSeq(r, schema.inner, path));
        case 'map':
            if (c !== 0x7b) {
                throw invalidType(r, 'a map');
            }
            return container(r, endObject, () => readMap(r, schema.value, path));
        case 'struct':
            if (c === 0x7b) {
                return container(r, endObject, () => readStructFromObject(r, schema.fields, path));
            }
            if (c === 0x5b) {
                return container(r, endArray, () => readStructFromArray(r, schema.name, schema.fields, path));
            }
            throw invalidType(r, `struct ${schema.name}`);
    }
}

/**
 * An array or object: its contents, then its closing bracket, which serde_json reads even when the
 * contents failed (the first error wins); errors without a position get the one after the bracket.
 * @template T
 * @param {Reader} r
 * @param {(r: Reader) => void} close
 * @param {() => T} contents
 * @returns {T}
 */
function container(r, close, contents) {
    r.enter();
    r.eat();
    /** @type {T | undefined} */
    let value;
    /** @type {unknown} */
    let failure;
    try {
        value = contents();
    } catch (err) {
        failure = err;
    }
    r.leave();
    try {
        close(r);
    } catch (err) {
        failure = failure ?? err;
    }
    if (failure !== undefined) {
        throw failure instanceof JsonError ? r.fixPosition(failure) : failure;
    }
    return /** @type {T} */ (value);
}

/** @param {Reader} r @param {Schema} inner @param {PathSegment[]} path */
function readSeq(r, inner, path) {
    const items = [];
    while (hasNextElement(r, items.length === 0)) {
        items.push(deserialize(r, inner, [...path, { index: items.length }]));
    }
    return items;
}

/** @param {Reader} r @param {Schema} valueSchema @param {PathSegment[]} path */
function readMap(r, valueSchema, path) {
    /** @type {Map<string, any>} */
    const entries = new Map();
    let first = true;
    while (nextKey(r, first, path)) {
        first = false;
        const key = readKey(r, path);
        objectColon(r);
        entries.set(key, deserialize(r, valueSchema, [...path, { key }]));
    }
    return new Map([...entries].sort(([a], [b]) => compareCodePoints(a, b)));
}

/**
 * @param {Reader} r
 * @param {Record<string, Schema>} fields
 * @param {PathSegment[]} path
 */
function readStructFromObject(r, fields, path) {
    const names = Object.keys(fields);
    /** @type {Record<string, any>} */
    const out = {};
    const seen = new Set();
    let first = true;
    while (nextKey(r, first, path)) {
        first = false;
        const key = readKey(r, path);
        if (!names.includes(key)) {
            const err = new JsonError(`unknown field \`${key}\`, ${expectedFields(names)}`);
            err.path = [...path, { key }];
            throw err;
        }
        if (seen.has(key)) {
            throw new JsonError(`duplicate field \`${key}\``);
        }
        seen.add(key);
        objectColon(r);
        out[key] = deserialize(r, fields[key], [...path, { key }]);
    }
    for (const field of names) {
        if (!seen.has(field)) {
            if (fields[field].kind !== 'option') {
                throw new JsonError(`missing field \`${field}\``);
            }
            out[field] = undefined;
        }
    }
    return out;
}

/**
 * A struct written as an array of its fields in order (serde accepts that too).
 * @param {Reader} r
 * @param {string} name
 * @param {Record<string, Schema>} fields
 * @param {PathSegment[]} path
 */
function readStructFromArray(r, name, fields, path) {
    const names = Object.keys(fields);
    /** @type {Record<string, any>} */
    const out = {};
    let first = true;
    names.forEach((field, i) => {
        if (hasNextElement(r, first)) {
            first = false;
            out[field] = deserialize(r, fields[field], [...path, { index: i }]);
        } else if (fields[field].kind === 'option') {
            out[field] = undefined;
        } else {
            throw new JsonError(`invalid length ${i}, expected struct ${name} with ${names.length} elements`);
        }
    });
    return out;
}

/** serde's `unknown field` hint. @param {string[]} names */
function expectedFields(names) {
    const quoted = names.map((n) => `\`${n}\``);
    if (quoted.length === 0) return 'there are no fields';
    if (quoted.length === 1) return `expected ${quoted[0]}`;
    if (quoted.length === 2) return `expected ${quoted[0]} or ${quoted[1]}`;
    return `expected one of ${quoted.join(', ')}`;
}

/**
 * Like json.js `hasNextKey`, with serde_path_to_error's `?` path for errors before a key is read.
 * @param {Reader} r
 * @param {boolean} first
 * @param {PathSegment[]} path
 */
function nextKey(r, first, path) {
    try {
        return hasNextKey(r, first);
    } catch (err) {
        throw unknownKeyPath(err, path);
    }
}

/** An object key (its opening quote not consumed yet). @param {Reader} r @param {PathSegment[]} path */
function readKey(r, path) {
    r.eat();
    try {
        return r.string();
    } catch (err) {
        throw unknownKeyPath(err, path);
    }
}

/** @param {unknown} err @param {PathSegment[]} path */
function unknownKeyPath(err, path) {
    if (err instanceof JsonError && err.path === undefined) {
        err.path = [...path, { unknown: true }];
    }
    return err;
}

/**
 * serde_json's `invalid type` error for the value ahead (consumed when it is a scalar).
 * @param {Reader} r
 * @param {string} expected
 */
function invalidType(r, expected) {
    const c = r.peek();
    let unexpected;
    if (c === 0x6e) {
        r.eat();
        r.ident('ull');
        unexpected = 'null';
    } else if (c === 0x74) {
        r.eat();
        r.ident('rue');
        unexpected = 'boolean `true`';
    } else if (c === 0x66) {
        r.eat();
        r.ident('alse');
        unexpected = 'boolean `false`';
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
        const positive = c !== 0x2d;
        if (!positive) r.eat();
        const n = r.number(positive);
        unexpected = n.kind === 'f64' ? `floating point \`${formatFloat(n.value)}\`` : `integer \`${n.value}\``;
    } else if (c === 0x22) {
        r.eat();
        unexpected = `string ${rustDebug(r.string())}`;
    } else if (c === 0x5b) {
        unexpected = 'sequence';
    } else if (c === 0x7b) {
        unexpected = 'map';
    } else {
        return r.peekError('expected value');
    }
    return r.fixPosition(new JsonError(`invalid type: ${unexpected}, expected ${expected}`));
}

/**
 * A string as Rust's `{:?}` writes it: quoted, with `\"`, `\\`, `\n`, `\r`, `\t`, `\0` and `\u{..}`
 * for other control characters (Rust also escapes some rarer invisible characters; close enough).
 * @param {string} s
 */
function rustDebug(s) {
    const escaped = s.replace(/[\u0000-\u001f"\\\u007f-\u009f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]/g, (ch) => {
        switch (ch) {
            case '"':
                return '\\"';
            case '\\':
                return '\\\\';
            case '\n':
                return '\\n';
            case '\r':
                return '\\r';
            case '\t':
                return '\\t';
            case '\0':
                return '\\0';
            default:
                return `\\u{${ch.charCodeAt(0).toString(16)}}`;
        }
    });
    return `"${escaped}"`;
}
