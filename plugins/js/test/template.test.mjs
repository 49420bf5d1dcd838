// Unit tests of the JS template component (js-template.wasm) in a Node host (harness.mjs): what the
// fixtures do not cover — deliver's requests and outcomes, schedule and admin defaults.
// Run after plugins/js/build.sh: node --test plugins/js/test/

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { change, ctx, httpError, loadPlugin, response, user } from './harness.mjs';
import { pluginPath } from './paths.mjs';

const CONFIG = { base_url: 'https://api.example.com/scim-hook' };
let plugin;

before(async () => {
    plugin = await loadPlugin(pluginPath('template'));
});

const text = (bytes) => new TextDecoder().decode(bytes);
const upsert = {
    tag: 'upsert-user',
    val: { userId: 'u-1', login: 'ada', email: undefined, firstName: 'Ada', lastName: undefined, active: true, fieldsJson: '{}' },
};

test('translates user upserts and deletes, ignores the rest', () => {
    const host = plugin.host();
    const emails = [
        { value: 'home@x.com', kind: 'home', primary: false },
        { value: 'work@x.com', kind: 'work', primary: true },
    ];
    const ops = host.call((p) =>
        p.provisioning.translate(ctx(CONFIG), change(1, { tag: 'user-upserted', val: user('u-1', { emails, givenName: 'Ada' }) })),
    );
    assert.deepEqual(ops, [
        {
            tag: 'upsert-user',
            val: { userId: 'u-1', login: 'u-1@acme.example', email: 'work@x.com', firstName: 'Ada', lastName: undefined, active: true, fieldsJson: '{}' },
        },
    ]);
    assert.deepEqual(host.call((p) => p.provisioning.translate(ctx(CONFIG), change(2, { tag: 'user-deleted', val: 'u-1' }))), [
        { tag: 'delete-user', val: 'u-1' },
    ]);
    assert.deepEqual(host.call((p) => p.provisioning.translate(ctx(CONFIG), change(0, { tag: 'resync-finished' }, true))), []);
});

test('configuration errors name the field, as the Rust SDK does', () => {
    const host = plugin.host();
    const error = (config) => host.call((p) => p.provisioning.translate(ctx(config), change(1, { tag: 'resync-started' }))).error;
    assert.deepEqual(error({}), { tag: 'config', val: 'invalid target configuration: missing field `base_url` at line 1 column 2' });
    assert.deepEqual(error('{"base_url":5}'), {
        tag: 'config',
        val: 'invalid target configuration: base_url: invalid type: integer `5`, expected a string at line 1 column 13',
    });
    assert.deepEqual(error('{"base_url":"https://x","token":"t"}'), {
        tag: 'config',
        val: 'invalid target configuration: token: unknown field `token`, expected `base_url` or `credential` at line 1 column 31',
    });
    assert.equal(error('url=x').val, 'invalid target configuration: expected value at line 1 column 1');
    assert.equal(error('{"base_url":"x"} trailing').val, 'invalid target configuration: trailing characters at line 1 column 18');
    assert.equal(error('{"base_url":"x","credential":null}'), undefined);
});

test('delivers an upsert as a JSON POST with idempotency key and bearer credential', () => {
    const host = plugin.host({ http: () => response(201) });
    const outcome = host.call((p) => p.provisioning.deliver(ctx({ ...CONFIG, credential: 'api-token' }), 'op-1', upsert));
    assert.deepEqual(outcome, { tag: 'done', val: [] });
    const [req] = host.requests;
    assert.equal(req.method, 'post');
    assert.equal(req.url, 'https://api.example.com/scim-hook');
    assert.deepEqual(req.headers, [
        ['Idempotency-Key', 'op-1'],
        ['Content-Type', 'application/json'],
    ]);
    assert.equal(
        text(req.body),
        '{"action":"upsert-user","user":{"id":"u-1","login":"ada","email":null,"first_name":"Ada","last_name":null,"active":true}}',
    );
    assert.deepEqual(req.auth, { tag: 'bearer', val: 'api-token' });
});

test('delivers a delete without credential', () => {
    const host = plugin.host({ http: () => response(204) });
    host.call((p) => p.provisioning.deliver(ctx(CONFIG), 'op-2', { tag: 'delete-user', val: 'u-9' }));
    assert.equal(text(host.requests[0].body), '{"action":"delete-user","id":"u-9"}');
    assert.equal(host.requests[0].auth, undefined);
});

test('maps responses and transport errors to outcomes', () => {
    const deliver = (http) => plugin.host({ http }).call((p) => p.provisioning.deliver(ctx(CONFIG), 'op', upsert));
    assert.deepEqual(deliver(() => response(429, [['retry-after', ' 120 ']], 'slow down')), {
        tag: 'retry',
        val: { afterSecs: 120, reason: 'HTTP 429: slow down' },
    });
    assert.deepEqual(deliver(() => response(503, [['Retry-After', 'Wed, 21 Oct 2015 07:28:00 GMT']])), {
        tag: 'retry',
        val: { afterSecs: undefined, reason: 'HTTP 503' },
    });
    assert.equal(deliver(() => response(503, [['Retry-After', '99999999999']])).val.afterSecs, 4294967295);
    assert.deepEqual(deliver(() => response(409, [], 'dup')), { tag: 'conflict', val: 'HTTP 409: dup' });
    assert.deepEqual(deliver(() => response(400, [], 'x'.repeat(500))), { tag: 'failed', val: `HTTP 400: ${'x'.repeat(200)}` });
    assert.deepEqual(deliver(() => response(301)), { tag: 'failed', val: 'HTTP 301' });
    assert.deepEqual(deliver(() => response(400, [], `${'a'.repeat(199)}é`)), { tag: 'failed', val: `HTTP 400: ${'a'.repeat(199)}` });
    assert.deepEqual(deliver(() => httpError('timeout')), { tag: 'retry', val: { afterSecs: undefined, reason: 'timeout' } });
    assert.deepEqual(deliver(() => httpError('transport', 'reset')), { tag: 'retry', val: { afterSecs: undefined, reason: 'transport: reset' } });
    assert.deepEqual(deliver(() => httpError('denied', 'host not allowed')), { tag: 'failed', val: 'denied: host not allowed' });
    assert.deepEqual(deliver(() => httpError('budget-exhausted')), { tag: 'failed', val: 'budget-exhausted' });
});

test('refuses operations it does not deliver', () => {
    const host = plugin.host();
    const result = host.call((p) => p.provisioning.deliver(ctx(CONFIG), 'op', { tag: 'deactivate-user', val: 'u-1' }));
    assert.deepEqual(result, { error: { tag: 'unsupported', val: 'no delivery for `deactivate-user`' } });
    assert.equal(host.requests.length, 0);
});

test('has no jobs and no admin resources', () => {
    const host = plugin.host();
    assert.deepEqual(host.call((p) => p.schedule.jobs('{}')), []);
    assert.deepEqual(host.call((p) => p.schedule.onSchedule(ctx(CONFIG), { job: 'nightly', scheduledAtUnixMs: 0n, cursor: undefined })), {
        error: { tag: 'unsupported', val: 'this plugin has no job `nightly`' },
    });
    assert.deepEqual(host.call((p) => p.admin.handle(ctx(CONFIG), { method: 'get', path: 'profiles/42', query: [], bodyJson: undefined })), {
        status: 404,
        bodyJson: '{"detail":"no admin resource `profiles/42`"}',
    });
});
