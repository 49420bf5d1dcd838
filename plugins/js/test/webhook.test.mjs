// Unit tests of the JS webhook component (js-webhook.wasm) in a Node host (harness.mjs): the Rust
// webhook's unit tests (plugins/webhook/src/*.rs) ported, plus deliver's outcomes. The translate
// behaviour is covered by the Rust plugin's fixtures (plugins/webhook/fixtures), run with `gateway
// plugin test`. Run after plugins/js/build.sh: node --test plugins/js/test/*.test.mjs

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { change, ctx, httpError, loadPlugin, response, user } from './harness.mjs';
import { pluginPath } from './paths.mjs';

const URL = 'https://hooks.example.com/scim';
let plugin;

before(async () => {
    plugin = await loadPlugin(pluginPath('webhook'));
});

const text = (bytes) => new TextDecoder().decode(bytes);
const event = (payloadJson) => ({ tag: 'custom', val: { kind: 'webhook.event', ordering: { tag: 'barrier' }, payloadJson } });

/** The payload of the one operation translate returns. */
function translated(config, c) {
    const ops = plugin.host().call((p) => p.provisioning.translate(ctx(config), c));
    assert.equal(ops.length, 1, JSON.stringify(ops, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
    return ops[0].val;
}

test('builds the delivery request', () => {
    const host = plugin.host({ http: () => response(200) });
    const config = { url: URL, signing_credential: 'signing', headers: { 'X-Extra': 'v', 'A-First': 'a' } };
    assert.deepEqual(host.call((p) => p.provisioning.deliver(ctx(config), 'op-7', event('{"a":1}'))), { tag: 'done', val: [] });
    const [req] = host.requests;
    assert.equal(req.method, 'post');
    assert.equal(req.url, URL);
    assert.deepEqual(req.headers, [
        ['Content-Type', 'application/json'],
        ['X-Scimgw-Op-Id', 'op-7'],
        ['Idempotency-Key', 'op-7'],
        ['A-First', 'a'],
        ['X-Extra', 'v'],
    ]);
    assert.equal(text(req.body), '{"a":1}');
    assert.deepEqual(req.auth, { tag: 'hmac-sha256', val: { header: 'X-Scimgw-Signature', credential: 'signing' } });
});

test('unsigned without a signing credential', () => {
    const host = plugin.host({ http: () => response(200) });
    host.call((p) => p.provisioning.deliver(ctx({ url: 'https://h/x' }), 'op', event('')));
    assert.equal(host.requests[0].auth, undefined);
});

test('logs failed deliveries by outcome kind only', () => {
    const host = plugin.host({ http: () => response(503, [['Retry-After', '7']], 'personal data') });
    const outcome = host.call((p) => p.provisioning.deliver(ctx({ url: URL }), 'op-9', event('{}')));
    assert.deepEqual(outcome, { tag: 'retry', val: { afterSecs: 7, reason: 'HTTP 503: personal data' } });
    assert.deepEqual(host.logs, [['info', 'webhook delivery of op-9: retry after 7 s']]);
    const denied = plugin.host({ http: () => httpError('denied', 'host not allowed') });
    assert.deepEqual(denied.call((p) => p.provisioning.deliver(ctx({ url: URL }), 'op-9', event('{}'))), {
        tag: 'failed',
        val: 'denied: host not allowed',
    });
    assert.deepEqual(denied.logs, [['info', 'webhook delivery of op-9: failed']]);
});

test('delivers only its own operations', () => {
    const host = plugin.host();
    const deliver = (op) => host.call((p) => p.provisioning.deliver(ctx({ url: URL }), 'op', op));
    assert.deepEqual(deliver({ tag: 'delete-user', val: 'u-1' }), {
        error: { tag: 'unsupported', val: 'the webhook plugin delivers only `webhook.event` operations, not `delete-user`' },
    });
    assert.deepEqual(deliver({ tag: 'custom', val: { kind: 'other.kind', ordering: { tag: 'key', val: 'k' }, payloadJson: '{}' } }), {
        error: { tag: 'unsupported', val: 'the webhook plugin delivers only `webhook.event` operations, not custom `other.kind`' },
    });
    assert.equal(host.requests.length, 0);
});

test('accepts the documented configuration', () => {
    const config = { url: URL, signing_credential: 'signing', headers: { 'X-Extra': 'v' }, events: ['user.upserted'] };
    translated(config, change(1, { tag: 'user-upserted', val: user('u-1') }));
    assert.deepEqual(plugin.host().call((p) => p.provisioning.translate(ctx(config), change(2, { tag: 'user-deleted', val: 'u-1' }))), []);
    translated('{"url":"http://h:8080","events":null}', change(0, { tag: 'resync-started' }, true));
});

test('configuration errors name the field', () => {
    const host = plugin.host();
    const error = (json) => {
        const result = host.call((p) => p.provisioning.translate(ctx(json), change(1, { tag: 'resync-started' })));
        assert.equal(result.error?.tag, 'config', `${json}: ${JSON.stringify(result)}`);
        return result.error.val;
    };
    const expect = (json, message) => assert.equal(error(json), `invalid target configuration: ${message}`);
    expect('{}', 'missing field `url` at line 1 column 2');
    expect('{"url":5}', 'url: invalid type: integer `5`, expected a string at line 1 column 8');
    expect('{"url":"ftp://x"}', 'url: `ftp://x` is not an http(s) URL');
    expect('{"url":"https://"}', 'url: `https://` is not an http(s) URL');
    expect('{"url":"https://h x"}', 'url: `https://h x` is not an http(s) URL');
    expect('{"url":"https://h","signing_credential":""}', 'signing_credential: must name a target credential (or be left out)');
    expect('{"url":"https://h","headers":{"X-A":1}}', 'headers.X-A: invalid type: integer `1`, expected a string at line 1 column 37');
    expect('{"url":"https://h","headers":{"Bad Name":"v"}}', 'headers: `Bad Name` is not a valid header name');
    expect('{"url":"https://h","headers":{"content-type":"x"}}', 'headers.content-type: set by the plugin, cannot be configured');
    expect('{"url":"https://h","headers":{"X-A":"a\\r\\nb"}}', 'headers.X-A: the value contains a line break');
    assert.match(error('{"url":"https://h","events":["user.created"]}'), /^invalid target configuration: events\[0\]: unknown event type `user.created` \(expected one of user.upserted, .*, resync.finished\)$/);
    expect('{"url":"https://h","events":["a",1]}', 'events[1]: invalid type: integer `1`, expected a string at line 1 column 34');
    expect('{"url":"https://h","sign":"x"}', 'sign: unknown field `sign`, expected one of `url`, `signing_credential`, `headers`, `events` at line 1 column 25');
    expect('not json', 'expected ident at line 1 column 2');
    expect('{"url":"https://h"} x', 'trailing characters at line 1 column 21');
});

test('member changes keep the order', () => {
    const members = [
        { id: 'u-2', kind: 'user' },
        { id: 'g-9', kind: 'group' },
    ];
    const op = translated({ url: URL }, change(9, { tag: 'members-added', val: { groupId: 'g-1', members } }));
    assert.deepEqual(op.ordering, { tag: 'group', val: 'g-1' });
    assert.equal(
        op.payloadJson,
        '{"tenant":"acme","target":"hook","seq":9,"at":"2026-01-01T00:00:00Z","resync":false,"type":"group.members_added","resourceType":"Group","resourceId":"g-1","data":{"members":[{"type":"User","value":"u-2"},{"type":"Group","value":"g-9"}]}}',
    );
});

test('keys come out in a fixed order', () => {
    const op = translated({ url: URL }, change(3, { tag: 'group-renamed', val: { groupId: 'g-1', oldDisplayName: undefined, displayName: 'New' } }));
    assert.equal(
        op.payloadJson,
        '{"tenant":"acme","target":"hook","seq":3,"at":"2026-01-01T00:00:00Z","resync":false,"type":"group.renamed","resourceType":"Group","resourceId":"g-1","data":{"displayName":"New","oldDisplayName":null}}',
    );
});

test('resync markers and other events are barriers about the tenant', () => {
    const marker = translated({ url: URL }, change(0, { tag: 'resync-started' }, true));
    assert.deepEqual(marker.ordering, { tag: 'barrier' });
    const body = JSON.parse(marker.payloadJson);
    assert.equal(body.type, 'resync.started');
    assert.equal(body.resync, true);
    assert.equal(body.resourceType, null);
    assert.equal(body.resourceId, null);
    assert.equal(body.data, null);

    const other = translated({ url: URL }, change(5, { tag: 'other', val: { kind: 'user.photo_changed', payloadJson: '{"z":1,"a":{"y":[1.0,2e21,-0]}}' } }));
    assert.deepEqual(other.ordering, { tag: 'barrier' });
    assert.equal(
        other.payloadJson,
        '{"tenant":"acme","target":"hook","seq":5,"at":"2026-01-01T00:00:00Z","resync":false,"type":"user.photo_changed","resourceType":null,"resourceId":null,"data":{"a":{"y":[1.0,2e+21,-0.0]},"z":1}}',
    );
    const broken = translated({ url: URL }, change(6, { tag: 'other', val: { kind: 'x.y', payloadJson: '{' } }));
    assert.match(broken.payloadJson, /"data":null}$/);
});

test('documents are sent as sorted JSON, numbers as serde_json writes them', () => {
    const scimJson = '{"b":{"d":1,"c":[true,null]},"a":-5,"é":"x","z":"\\u00e9\\ud83d\\ude00\\n","n":[0.5,100,1e2,123456789012345678901,18446744073709551615,-9223372036854775808]}';
    const op = translated({ url: URL }, change(7, { tag: 'user-upserted', val: user('u-1', { scimJson }) }));
    assert.deepEqual(op.ordering, { tag: 'user', val: 'u-1' });
    assert.match(
        op.payloadJson,
        /"data":\{"a":-5,"b":\{"c":\[true,null\],"d":1\},"n":\[0.5,100,100.0,1.2345678901234568e\+20,18446744073709551615,-9223372036854775808\],"z":"é😀\\n","é":"x"\}\}$/,
    );
});

test('a document that is not JSON is invalid input', () => {
    const result = plugin.host().call((p) => p.provisioning.translate(ctx({ url: URL }), change(1, { tag: 'user-upserted', val: user('u-1', { scimJson: '{' }) })));
    assert.deepEqual(result, { error: { tag: 'invalid-input', val: 'user u-1: scim-json is not valid JSON: EOF while parsing an object at line 1 column 1' } });
});
