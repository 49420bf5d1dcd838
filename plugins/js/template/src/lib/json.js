// @ts-check
// JSON the way the Rust SDK (serde_json 1.x) reads and writes it, so a JavaScript plugin produces the
// same bytes and the same error messages as its Rust twin:
//
// - `Reader`: a byte-level reader of JSON text with serde_json's error messages and positions
//   (`expected value at line 1 column 1`, columns counted in UTF-8 bytes); `config.js` builds typed
//   configuration reading on it.
// - `canonicalJson(text)`: parses JSON text into serde_json's `Value` and writes it back compactly:
//   object keys sorted (by code point, as a `BTreeMap` sorts them), duplicate keys last-wins, integers
//   kept exactly (u64/i64), other numbers written as serde_json writes an f64 (`1.0`, `1e+21`).
//   Throws a `JsonError` for text that is not JSON. Uses the engine's JSON.parse when it can (fast),
//   the `Reader` otherwise (exact errors).
// - `formatFloat(x)`: serde_json's f64 formatting.
//
// Part of the scimgw JavaScript plugin kit: the same file is in every JS plugin under `src/lib/`.

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();

/** serde_json nests at most this deep. */
const RECURSION_LIMIT = 128;

const U64_MAX = 18446744073709551615n;
const I64_MIN_MAGNITUDE = 9223372036854775808n;
const I32_MAX = 2147483647;

/** A JSON (syntax or type) error, displayed as serde_json displays its errors. */
export class JsonError extends Error {
    /**
     * @param {string} code what went wrong, e.g. `expected value`
     * @param {number} [line] 1-based; 0 = position not known yet
     * @param {number} [column] in bytes from the start of the line
     */
    constructor(code, line = 0, column = 0) {
        super(code);
        this.code = code;
        this.line = line;
        this.column = column;
        /** Where in the document (see config.js); undefined until known. @type {PathSegment[] | undefined} */
        this.path = undefined;
    }

    /** `<code> at line <l> column <c>`, or just `<code>` without a position. */
    describe() {
        return this.line === 0 ? this.code : `${this.code} at line ${this.line} column ${this.column}`;
    }
}

/** @typedef {{ key: string } | { index: number } | { unknown: true }} PathSegment */

/**
 * A number as serde_json parses it: `u64` and `i64` exactly (as bigint), anything else as an f64.
 * @typedef {{ kind: 'u64' | 'i64', value: bigint } | { kind: 'f64', value: number }} JsonNumber
 */

/** The bytes of a JSON text and a position in them. */
export class Reader {
    /** @param {string} text */
    constructor(text) {
        this.bytes = ENCODER.encode(text);
        this.index = 0;
        this.remainingDepth = RECURSION_LIMIT;
    }

    /** The next byte, or -1 at the end. */
    peek() {
        return this.index < this.bytes.length ? this.bytes[this.index] : -1;
    }

    eat() {
        this.index += 1;
    }

    /** Consumes and returns the next byte, or -1 at the end. */
    next() {
        return this.index < this.bytes.length ? this.bytes[this.index++] : -1;
    }

    /** @param {number} i */
    positionOf(i) {
        let startOfLine = 0;
        let line = 1;
        for (let k = 0; k < i; k++) {
            if (this.bytes[k] === 0x0a) {
                line += 1;
                startOfLine = k + 1;
            }
        }
        return { line, column: i - startOfLine };
    }

    /** An error about the byte just consumed. @param {string} code */
    error(code) {
        const { line, column } = this.positionOf(this.index);
        return new JsonError(code, line, column);
    }

    /** An error about the byte just peeked. @param {string} code */
    peekError(code) {
        const { line, column } = this.positionOf(Math.min(this.bytes.length, this.index + 1));
        return new JsonError(code, line, column);
    }

    /** Gives a position-less error (a type error) the current position. @param {JsonError} err */
    fixPosition(err) {
        if (err.line === 0) {
            const { line, column } = this.positionOf(this.index);
            err.line = line;
            err.column = column;
        }
        return err;
    }

    /** Skips whitespace; returns the next byte (not consumed), or -1 at the end. */
    whitespace() {
        for (;;) {
            const c = this.peek();
            if (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) {
                this.eat();
            } else {
                return c;
            }
        }
    }

    /** Errors unless only whitespace is left. */
    end() {
        if (this.whitespace() !== -1) {
            throw this.peekError('trailing characters');
        }
    }

    /** Consumes the rest of `null`, `true` or `false`. @param {string} rest */
    ident(rest) {
        for (let i = 0; i < rest.length; i++) {
            const c = this.next();
            if (c === -1) {
                throw this.error('EOF while parsing a value');
            }
            if (c !== rest.charCodeAt(i)) {
                throw this.error('expected ident');
            }
        }
    }

    /** Enters an array or object (serde_json's recursion limit). */
    enter() {
        this.remainingDepth -= 1;
        if (this.remainingDepth === 0) {
            throw this.peekError('recursion limit exceeded');
        }
    }

    leave() {
        this.remainingDepth += 1;
    }

    /** Parses a string whose opening quote was consumed. @returns {string} */
    string() {
        let out = '';
        let start = this.index;
        for (;;) {
            let c = this.peek();
            while (c !== -1 && c !== 0x22 && c !== 0x5c && c >= 0x20) {
                this.eat();
                c = this.peek();
            }
            if (c === -1) {
                throw this.error('EOF while parsing a string');
            }
            out += DECODER.decode(this.bytes.subarray(start, this.index));
            this.eat();
            if (c === 0x22) {
                return out;
            }
            if (c !== 0x5c) {
                throw this.error('control character (\\u0000-\\u001F) found while parsing a string');
            }
            out += this.escape();
            start = this.index;
        }
    }

    /** The character of an escape whose backslash was consumed. */
    escape() {
        const c = this.next();
        switch (c) {
            case -1:
                throw this.error('EOF while parsing a string');
            case 0x22:
                return '"';
            case 0x5c:
                return '\\';
            case 0x2f:
                return '/';
            case 0x62:
                return '\b';
            case 0x66:
                return '\f';
            case 0x6e:
                return '\n';
            case 0x72:
                return '\r';
            case 0x74:
                return '\t';
            case 0x75:
                return this.unicodeEscape();
            default:
                throw this.error('invalid escape');
        }
    }

    unicodeEscape() {
        const n = this.hexEscape();
        if (n >= 0xdc00 && n <= 0xdfff) {
            throw this.error('lone leading surrogate in hex escape');
        }
        if (n < 0xd800 || n > 0xdbff) {
            return String.fromCharCode(n);
        }
        for (const expected of [0x5c, 0x75]) {
            const c = this.peek();
            if (c === -1) {
                throw this.error('EOF while parsing a string');
            }
            this.eat();
            if (c !== expected) {
                throw this.error('unexpected end of hex escape');
            }
        }
        const n2 = this.hexEscape();
        if (n2 < 0xdc00 || n2 > 0xdfff) {
            throw this.error('lone leading surrogate in hex escape');
        }
        return String.fromCharCode(n, n2);
    }

    hexEscape() {
        if (this.bytes.length - this.index < 4) {
            this.index = this.bytes.length;
            throw this.error('EOF while parsing a string');
        }
        let n = 0;
        let valid = true;
        for (let i = 0; i < 4; i++) {
            const d = hexValue(this.bytes[this.index + i]);
            valid = valid && d >= 0;
            n = n * 16 + d;
        }
        this.index += 4;
        if (!valid) {
            throw this.error('invalid escape');
        }
        return n;
    }

    /**
     * Parses a number whose sign (if `-`) was consumed, as serde_json does.
     * @param {boolean} positive
     * @returns {JsonNumber}
     */
    number(positive) {
        const start = positive ? this.index : this.index - 1;
        const first = this.next();
        if (first === -1) {
            throw this.error('EOF while parsing a value');
        }
        if (!isDigit(first)) {
            throw this.error('invalid number');
        }
        let significand = BigInt(first - 0x30);
        let integer = true;
        if (first === 0x30) {
            if (isDigit(this.peek())) {
                throw this.peekError('invalid number');
            }
        } else {
            while (isDigit(this.peek())) {
                significand = significand * 10n + BigInt(this.peek() - 0x30);
                this.eat();
            }
            // Beyond u64 serde_json reads the integer as an f64.
            integer = significand <= U64_MAX;
        }
        if (this.peek() === 0x2e) {
            integer = false;
            this.eat();
            let digits = 0;
            while (isDigit(this.peek())) {
                // Only whether the significand is zero matters from here on (see `exponent`).
                significand += BigInt(this.peek() - 0x30);
                this.eat();
                digits += 1;
            }
            if (digits === 0) {
                throw this.peekError(this.peek() === -1 ? 'EOF while parsing a value' : 'invalid number');
            }
        }
        if (this.peek() === 0x65 || this.peek() === 0x45) {
            integer = false;
            this.exponent(significand);
        }
        if (integer) {
            if (positive) {
                return { kind: 'u64', value: significand };
            }
            if (significand !== 0n && significand <= I64_MIN_MAGNITUDE) {
                return { kind: 'i64', value: -significand };
            }
        }
        const value = Number(DECODER.decode(this.bytes.subarray(start, this.index)));
        if (!Number.isFinite(value)) {
            throw this.error('number out of range');
        }
        return { kind: 'f64', value };
    }

    /**
     * The exponent part of a number (`e`/`E` not consumed yet).
     * @param {bigint} significand zero when every digit before the exponent is zero
     */
    exponent(significand) {
        this.eat();
        let positiveExponent = true;
        if (this.peek() === 0x2b || this.peek() === 0x2d) {
            positiveExponent = this.peek() === 0x2b;
            this.eat();
        }
        const first = this.next();
        if (first === -1) {
            throw this.error('EOF while parsing a value');
        }
        if (!isDigit(first)) {
            throw this.error('invalid number');
        }
        let exponent = first - 0x30;
        while (isDigit(this.peek())) {
            const digit = this.peek() - 0x30;
            this.eat();
            if (exponent > (I32_MAX - digit) / 10) {
                // An exponent beyond i32: infinity is an error, zero is fine.
                if (significand !== 0n && positiveExponent) {
                    throw this.error('number out of range');
                }
                while (isDigit(this.peek())) {
                    this.eat();
                }
                return;
            }
            exponent = exponent * 10 + digit;
        }
    }
}

/** @param {number} c */
function isDigit(c) {
    return c >= 0x30 && c <= 0x39;
}

/** @param {number} c */
function hexValue(c) {
    if (c >= 0x30 && c <= 0x39) return c - 0x30;
    if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
    if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
    return -1;
}

/**
 * serde_json's text for an f64 (the `zmij` formatter): the shortest digits that read back as the same
 * number; plain notation with at least one fractional digit for exponents -5..=15 (`100.0`, `0.00001`),
 * scientific otherwise (`1e+16`, `1.5e-7`).
 * @param {number} x a finite number
 */
export function formatFloat(x) {
    const sign = x < 0 || Object.is(x, -0) ? '-' : '';
    const abs = Math.abs(x);
    if (abs === 0) {
        return `${sign}0.0`;
    }
    const [mantissa, exp] = abs.toExponential().split('e');
    const digits = mantissa.replace('.', '');
    const e = Number(exp);
    if (e >= -5 && e <= 15) {
        if (digits.length - 1 <= e) {
            return `${sign}${digits}${'0'.repeat(e + 1 - digits.length)}.0`;
        }
        if (e >= 0) {
            return `${sign}${digits.slice(0, e + 1)}.${digits.slice(e + 1)}`;
        }
        return `${sign}0.${'0'.repeat(-e - 1)}${digits}`;
    }
    const fraction = digits.length > 1 ? `.${digits.slice(1)}` : '';
    return `${sign}${digits[0]}${fraction}e${e < 0 ? '-' : '+'}${Math.abs(e)}`;
}

/** @param {JsonNumber} n serde_json's text for a parsed number. */
export function formatNumber(n) {
    return n.kind === 'f64' ? formatFloat(n.value) : n.value.toString();
}

/**
 * Orders strings by code point (= by UTF-8 bytes, as Rust orders `String`s), not by UTF-16 unit.
 * @param {string} a
 * @param {string} b
 */
export function compareCodePoints(a, b) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
        let x = a.charCodeAt(i);
        let y = b.charCodeAt(i);
        if (x !== y) {
            // Surrogates (U+D800..DFFF) stand for code points above U+FFFF: move them past U+E000..FFFF.
            if (x >= 0xd800 && y >= 0xd800) {
                x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
                y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
            }
            return x - y;
        }
    }
    return a.length - b.length;
}

/**
 * Compact JSON text of a parsed value, as `serde_json::to_string(&Value)` writes it.
 * @param {string} text JSON text
 * @returns {string}
 */
export function canonicalJson(text) {
    return fastCanonicalJson(text) ?? readCanonicalJson(text);
}

/**
 * `canonicalJson` with the byte-level reader only: slower (interpreted JS for every byte) but it gives
 * serde_json's exact error for text that is not JSON; `canonicalJson` uses it when the engine's
 * JSON.parse cannot decide.
 * @param {string} text JSON text
 * @returns {string}
 */
export function readCanonicalJson(text) {
    const reader = new Reader(text);
    const out = canonicalValue(reader);
    reader.end();
    return out;
}

/**
 * JSON tokens: a string, or a number (group 1, exactly JSON's grammar, so that turning it into a string
 * cannot make invalid text valid, e.g. `01` becomes two strings in a row).
 */
const TOKENS = /"[^"\\]*(?:\\.[^"\\]*)*"|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)/g;
/** Escapes the fast path leaves to the reader: surrogates (serde_json checks their pairing) and NUL. */
const SLOW_ESCAPES = /\\u(?:[dD][89a-fA-F]|0000)/;
/** Marks a number token turned into a string; no decoded string has it once `\u0000` is ruled out. */
const NUMBER_MARK = '\u0000';
/** A marked number in JSON.stringify's output. */
const MARKED_NUMBER = /"\\u0000([^"]*)"/g;

/** Tells the fast path to give up. */
const GIVE_UP = Symbol('give up');

/**
 * `canonicalJson` done by the engine's native JSON.parse and JSON.stringify (the interpreter is slow: a
 * JS loop over every byte or node of a document costs a lot of fuel). Sorting uses JSON.stringify's
 * property list: every key of the document, sorted, applies to every object. Numbers (rare in SCIM
 * documents) are kept as their source text and written as serde_json writes them. Undefined when the
 * text is not JSON or needs the reader (see SLOW_ESCAPES, recursion limit, numbers out of range), which
 * then gives serde_json's answer.
 * @param {string} text
 * @returns {string | undefined}
 */
function fastCanonicalJson(text) {
    if (SLOW_ESCAPES.test(text)) {
        return undefined;
    }
    try {
        let value = JSON.parse(text);
        /** @type {Set<string>} */
        let keys = new Set();
        if (collectKeys(value, keys, 1)) {
            // Numbers: parse again with each number token as a marked string holding its text.
            value = JSON.parse(text.replace(TOKENS, (token, number) => (number === undefined ? token : `"\\u0000${number}"`)));
            keys = new Set();
            collectKeys(value, keys, 1);
        }
        if (keys.has('__proto__')) {
            // JSON.stringify would find Object.prototype under that name in every object.
            return writeValue(value, 1);
        }
        const list = [...keys];
        const sorted = /[\ud800-\udfff]/.test(list.join('')) ? list.sort(compareCodePoints) : list.sort();
        const out = JSON.stringify(value, sorted);
        return out.includes('"\\u0000') ? out.replace(MARKED_NUMBER, (_marked, token) => numberText(token)) : out;
    } catch {
        // Not JSON (SyntaxError), too deep for the engine, or GIVE_UP: the reader decides.
        return undefined;
    }
}

/**
 * Adds the keys of every object in `value` to `keys`; whether it holds a number. Gives up past
 * serde_json's recursion limit, and on a number used as a key (marked: not JSON).
 * @param {unknown} value from JSON.parse
 * @param {Set<string>} keys
 * @param {number} depth containers around `value`, plus one
 * @returns {boolean}
 */
function collectKeys(value, keys, depth) {
    if (typeof value === 'number') {
        return true;
    }
    if (value === null || typeof value !== 'object') {
        return false;
    }
    if (depth >= RECURSION_LIMIT) {
        throw GIVE_UP;
    }
    let numbers = false;
    if (Array.isArray(value)) {
        for (const item of value) {
            numbers = collectKeys(item, keys, depth + 1) || numbers;
        }
        return numbers;
    }
    const object = /** @type {Record<string, unknown>} */ (value);
    for (const key in object) {
        if (key.startsWith(NUMBER_MARK)) {
            throw GIVE_UP;
        }
        keys.add(key);
        numbers = collectKeys(object[key], keys, depth + 1) || numbers;
    }
    return numbers;
}

/**
 * Writes a parsed (and number-marked) value node by node: for the rare documents JSON.stringify's
 * property list cannot sort (a `__proto__` key).
 * @param {unknown} value
 * @param {number} depth containers around `value`, plus one
 * @returns {string}
 */
function writeValue(value, depth) {
    if (value === null) {
        return 'null';
    }
    if (typeof value === 'boolean') {
        return value ? 'true' : 'false';
    }
    if (typeof value === 'string') {
        return value.startsWith(NUMBER_MARK) ? numberText(value.slice(1)) : JSON.stringify(value);
    }
    if (typeof value !== 'object' || depth >= RECURSION_LIMIT) {
        throw GIVE_UP;
    }
    if (Array.isArray(value)) {
        return `[${value.map((item) => writeValue(item, depth + 1)).join(',')}]`;
    }
    const object = /** @type {Record<string, unknown>} */ (value);
    const keys = Object.keys(object).sort(compareCodePoints);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${writeValue(object[k], depth + 1)}`).join(',')}}`;
}

/**
 * serde_json's text for a number token: u64 and i64 as they are, anything else as an f64.
 * @param {string} token
 */
function numberText(token) {
    if (!/[.eE]/.test(token)) {
        const value = BigInt(token);
        if (value >= 0n ? value <= U64_MAX && token !== '-0' : -value <= I64_MIN_MAGNITUDE) {
            return value.toString();
        }
    }
    const value = Number(token);
    if (!Number.isFinite(value)) {
        throw GIVE_UP;
    }
    return formatFloat(value);
}

/** @param {Reader} r @returns {string} */
function canonicalValue(r) {
    const c = r.whitespace();
    switch (c) {
        case -1:
            throw r.peekError('EOF while parsing a value');
        case 0x6e:
            r.eat();
            r.ident('ull');
            return 'null';
        case 0x74:
            r.eat();
            r.ident('rue');
            return 'true';
        case 0x66:
            r.eat();
            r.ident('alse');
            return 'false';
        case 0x2d:
            r.eat();
            return formatNumber(r.number(false));
        case 0x22:
            r.eat();
            return JSON.stringify(r.string());
        case 0x5b:
            return container(r, canonicalArray, endArray);
        case 0x7b:
            return container(r, canonicalObject, endObject);
        default:
            if (isDigit(c)) {
                return formatNumber(r.number(true));
            }
            throw r.peekError('expected value');
    }
}

/**
 * An array or object: the recursion limit, the contents, then the closing bracket, which serde_json
 * reads even when the contents failed (the first error wins).
 * @param {Reader} r
 * @param {(r: Reader) => string} contents
 * @param {(r: Reader) => void} close
 */
function container(r, contents, close) {
    r.enter();
    r.eat();
    let out = '';
    /** @type {unknown} */
    let failure;
    try {
        out = contents(r);
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
        throw failure;
    }
    return out;
}

/** @param {Reader} r @returns {string} */
function canonicalArray(r) {
    const items = [];
    while (hasNextElement(r, items.length === 0)) {
        items.push(canonicalValue(r));
    }
    return `[${items.join(',')}]`;
}

/** @param {Reader} r @returns {string} */
function canonicalObject(r) {
    /** @type {Map<string, string>} */
    const entries = new Map();
    let first = true;
    while (hasNextKey(r, first)) {
        first = false;
        r.eat();
        const key = r.string();
        objectColon(r);
        entries.set(key, canonicalValue(r));
    }
    const keys = [...entries.keys()].sort(compareCodePoints);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${entries.get(k)}`).join(',')}}`;
}

/**
 * Whether another array element follows (consumes the `,` before it).
 * @param {Reader} r
 * @param {boolean} first
 */
export function hasNextElement(r, first) {
    const c = r.whitespace();
    if (c === -1) {
        throw r.peekError('EOF while parsing a list');
    }
    if (c === 0x5d) {
        return false;
    }
    if (first) {
        return true;
    }
    if (c !== 0x2c) {
        throw r.peekError('expected `,` or `]`');
    }
    r.eat();
    const d = r.whitespace();
    if (d === 0x5d) {
        throw r.peekError('trailing comma');
    }
    if (d === -1) {
        throw r.peekError('EOF while parsing a value');
    }
    return true;
}

/**
 * Whether another object key follows (consumes the `,` before it; not the key's opening quote).
 * @param {Reader} r
 * @param {boolean} first
 */
export function hasNextKey(r, first) {
    const c = r.whitespace();
    if (c === -1) {
        throw r.peekError('EOF while parsing an object');
    }
    if (c === 0x7d) {
        return false;
    }
    if (first) {
        if (c !== 0x22) {
            throw r.peekError('key must be a string');
        }
        return true;
    }
    if (c !== 0x2c) {
        throw r.peekError('expected `,` or `}`');
    }
    r.eat();
    const d = r.whitespace();
    if (d === 0x22) {
        return true;
    }
    if (d === 0x7d) {
        throw r.peekError('trailing comma');
    }
    throw r.peekError(d === -1 ? 'EOF while parsing a value' : 'key must be a string');
}

/** The `:` after an object key. @param {Reader} r */
export function objectColon(r) {
    const c = r.whitespace();
    if (c === 0x3a) {
        r.eat();
        return;
    }
    throw r.peekError(c === -1 ? 'EOF while parsing an object' : 'expected `:`');
}

/** The `]` closing an array (the `[` was consumed). @param {Reader} r */
export function endArray(r) {
    const c = r.whitespace();
    if (c === 0x5d) {
        r.eat();
        return;
    }
    if (c === 0x2c) {
        r.eat();
        throw r.peekError(r.whitespace() === 0x5d ? 'trailing comma' : 'trailing characters');
    }
    throw r.peekError(c === -1 ? 'EOF while parsing a list' : 'trailing characters');
}

/** The `}` closing an object (the `{` was consumed). @param {Reader} r */
export function endObject(r) {
    const c = r.whitespace();
    if (c === 0x7d) {
        r.eat();
        return;
    }
    if (c === 0x2c) {
        throw r.peekError('trailing comma');
    }
    throw r.peekError(c === -1 ? 'EOF while parsing an object' : 'trailing characters');
}
