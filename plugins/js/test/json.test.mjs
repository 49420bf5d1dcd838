// Unit tests of the kit's JSON and configuration readers (template/src/lib/json.js, config.js), run
// directly in Node: serde_json's output and error messages, and the fast path (JSON.parse) agreeing
// with the byte-level reader. node --test plugins/js/test/*.test.mjs

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { canonicalJson, formatFloat, JsonError, readCanonicalJson } from '../template/src/lib/json.js';
import { map, option, parseConfig, seq, string, struct } from '../template/src/lib/config.js';

test('floats are written as serde_json writes an f64', () => {
    const cases = [
        [1, '1.0'], [0, '0.0'], [-0, '-0.0'], [0.5, '0.5'], [100, '100.0'], [43210.1, '43210.1'],
        [1e15, '1000000000000000.0'], [1e16, '1e+16'], [1.5e16, '1.5e+16'], [5.444310685350916e14, '544431068535091.6'],
        [-5942736479622170, '-5942736479622170.0'], [1e-5, '0.00001'], [1.25e-5, '0.0000125'], [1e-6, '1e-6'],
        [2.9802322387695312e-8, '2.9802322387695312e-8'], [5e-324, '5e-324'], [3.439070283483335e35, '3.439070283483335e+35'],
        [1.7976931348623157e308, '1.7976931348623157e+308'],
    ];
    for (const [x, text] of cases) {
        assert.equal(formatFloat(x), text, String(x));
    }
});

const VALID = [
    '{"b":1,"a":2}',
    ' [ 1 , -1 , 0 , -0 , 1.0 , 1e2 , 1E-2 , 0.1e+1 , 18446744073709551615 , 18446744073709551616 , -9223372036854775808 , -9223372036854775809 ] ',
    '{"k":{"z":[true,false,null],"a":"\\u00e9\\n\\t\\"\\\\\\/\\b\\f\\r"},"k":"last wins"}',
    '{"\\ud83d\\ude00":1,"\\uffff":2,"é":3,"e":4,"":5}',
    '"\\u0000 nul"',
    '{"a":"\u2028 \u007f 😀","schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}',
    '1e400'.replace('400', '300'),
    '[[[[[[[[[[1]]]]]]]]]]',
    `${'['.repeat(127)}${']'.repeat(127)}`,
    '{"__proto__":{"x":1},"constructor":2}',
    '{"a":{"__proto__":1},"b":{}}',
    '[{"b":1,"a":"\\\\u0000 not a mark"},"x",{"c":[{"e":1e2,"d":"\u00e9"}]}]',
];

test('the fast path and the reader agree on valid JSON', () => {
    for (const text of VALID) {
        assert.equal(canonicalJson(text), readCanonicalJson(text), text);
    }
    assert.equal(canonicalJson(VALID[0]), '{"a":2,"b":1}');
    assert.equal(
        canonicalJson(VALID[1]),
        '[1,-1,0,-0.0,1.0,100.0,0.01,1.0,18446744073709551615,1.8446744073709552e+19,-9223372036854775808,-9.223372036854776e+18]',
    );
    assert.equal(canonicalJson(VALID[3]), '{"":5,"e":4,"é":3,"\\uffff":2,"😀":1}'.replace('\\uffff', '\uffff'));
});

test('a large SCIM document is written sorted, as the webhook fixture expects', () => {
    const fixture = JSON.parse(readFileSync(new URL('../webhook/fixtures/user-upserted-large.json', import.meta.url), 'utf8'));
    const text = JSON.stringify(fixture.change.payload, null, 1);
    const expected = fixture.expect[0].custom['payload-json'].replace(/^.*"data":(.*)\}$/, '$1');
    assert.equal(canonicalJson(text), expected);
    assert.equal(readCanonicalJson(text), expected);
    const withNumbers = text.replace('"mandatory": true', '"mandatory": 1.50');
    assert.equal(canonicalJson(withNumbers), readCanonicalJson(withNumbers));
    assert.match(canonicalJson(withNumbers), /"mandatory":1.5,/);
});

/** serde_json's messages (Display of serde_json::Error). */
const INVALID = [
    ['', 'EOF while parsing a value at line 1 column 0'],
    ['{', 'EOF while parsing an object at line 1 column 1'],
    ['[1,]', 'trailing comma at line 1 column 4'],
    ['{"a":1,}', 'trailing comma at line 1 column 8'],
    ['{"a" 1}', 'expected `:` at line 1 column 6'],
    ['{1:2}', 'key must be a string at line 1 column 2'],
    ['[1 2]', 'expected `,` or `]` at line 1 column 4'],
    ['{"a":1 "b":2}', 'expected `,` or `}` at line 1 column 8'],
    ['01', 'invalid number at line 1 column 2'],
    ['1.', 'EOF while parsing a value at line 1 column 2'],
    ['1.x', 'invalid number at line 1 column 3'],
    ['-', 'EOF while parsing a value at line 1 column 1'],
    ['1e', 'EOF while parsing a value at line 1 column 2'],
    ['1e400', 'number out of range at line 1 column 5'],
    ['tru', 'EOF while parsing a value at line 1 column 3'],
    ['nul1', 'expected ident at line 1 column 4'],
    ['"abc', 'EOF while parsing a string at line 1 column 4'],
    ['"a\\x"', 'invalid escape at line 1 column 4'],
    ['"a\nb"', 'control character (\\u0000-\\u001F) found while parsing a string at line 2 column 0'],
    ['"\\ud800"', 'unexpected end of hex escape at line 1 column 8'],
    ['"\\udc00"', 'lone leading surrogate in hex escape at line 1 column 7'],
    ['"\\ud800\\u0041"', 'lone leading surrogate in hex escape at line 1 column 13'],
    ['"\\u12"', 'EOF while parsing a string at line 1 column 6'],
    ['{}\n x', 'trailing characters at line 2 column 2'],
    [`${'['.repeat(128)}${']'.repeat(128)}`, 'recursion limit exceeded at line 1 column 128'],
];

test('text that is not JSON gets serde_json errors', () => {
    for (const [text, message] of INVALID) {
        assert.throws(() => canonicalJson(text), (err) => err instanceof JsonError && err.describe() === message, JSON.stringify(text));
    }
});

const CONFIG = struct('Raw', {
    url: string,
    signing_credential: option(string),
    headers: option(map(string)),
    events: option(seq(string)),
});

test('configuration values and serde errors', () => {
    assert.deepEqual(parseConfig('{"url":"u","headers":{"b":"2","a":"1","b":"3"},"events":null}', CONFIG), {
        url: 'u',
        signing_credential: undefined,
        headers: new Map([
            ['a', '1'],
            ['b', '3'],
        ]),
        events: undefined,
    });
    assert.deepEqual(parseConfig('["u", null, {}, ["e"]]', CONFIG).events, ['e']);
    const error = (text) => {
        try {
            parseConfig(text, CONFIG);
        } catch (err) {
            return err.val.replace('invalid target configuration: ', '');
        }
        return 'ok';
    };
    assert.equal(error('\u00a0\n'), 'missing field `url` at line 1 column 2');
    assert.equal(error('[]'), 'invalid length 0, expected struct Raw with 4 elements at line 1 column 2');
    assert.equal(error('["u", null, null, null, 1]'), 'trailing characters at line 1 column 25');
    assert.equal(error('null'), 'invalid type: null, expected struct Raw at line 1 column 4');
    assert.equal(error('"x"'), 'invalid type: string "x", expected struct Raw at line 1 column 3');
    assert.equal(error('{"url":"u","url":"v"}'), 'duplicate field `url` at line 1 column 16');
    assert.equal(error('{"url":"u",}'), '?: trailing comma at line 1 column 12');
    assert.equal(error('{"url":true}'), 'url: invalid type: boolean `true`, expected a string at line 1 column 11');
    assert.equal(error('{"url":-1.50}'), 'url: invalid type: floating point `-1.5`, expected a string at line 1 column 12');
    assert.equal(error('{"url":[]}'), 'url: invalid type: sequence, expected a string at line 1 column 7');
    assert.equal(error('{"url":"u","headers":[]}'), 'headers: invalid type: sequence, expected a map at line 1 column 21');
    assert.equal(error('{"url":"u","events":{}}'), 'events: invalid type: map, expected a sequence at line 1 column 20');
    assert.equal(error('{"url":"u","events":["a" "b"]}'), 'events: expected `,` or `]` at line 1 column 26');
    assert.equal(error('{"url":"u","headers":{"a":"1",}}'), 'headers.?: trailing comma at line 1 column 31');
    assert.equal(error('{"url":"u","headers":{"a":"\\q"}}'), 'headers.a: invalid escape at line 1 column 29');
    assert.equal(error('{"url":"u","x":1,"y":2}'), 'x: unknown field `x`, expected one of `url`, `signing_credential`, `headers`, `events` at line 1 column 14');
    assert.equal(error('{"url":"u\\"\\n"}'), 'ok');
});
