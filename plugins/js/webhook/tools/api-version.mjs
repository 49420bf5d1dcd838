// Records the contract version a component was built for, as the Rust SDK does: appends the custom
// section `scimgw:api-version` (contents `1.0.0`) to the component, where `gateway plugin add` reads
// it (a gateway refuses a plugin built for a contract version it does not run). Idempotent.
//
//   node tools/api-version.mjs plugin.wasm

import { readFileSync, writeFileSync } from 'node:fs';

const SECTION = 'scimgw:api-version';
const VERSION = '1.0.0';

const path = process.argv[2];
if (!path) {
    console.error('usage: node tools/api-version.mjs <component.wasm>');
    process.exit(2);
}
const wasm = readFileSync(path);
// A component: magic `\0asm`, then version 0x0d and layer 1 (a core module has version 1, layer 0).
if (wasm.length < 8 || wasm.readUInt32BE(0) !== 0x0061736d || wasm.readUInt16LE(6) !== 1) {
    console.error(`${path}: not a WebAssembly component`);
    process.exit(1);
}
if (hasSection(wasm, SECTION)) {
    process.exit(0);
}
const name = Buffer.from(SECTION);
const body = Buffer.concat([leb128(name.length), name, Buffer.from(VERSION)]);
writeFileSync(path, Buffer.concat([wasm, Buffer.from([0]), leb128(body.length), body]));

/** Whether the component's top level already has a custom section called `wanted`. */
function hasSection(bytes, wanted) {
    let at = 8;
    while (at < bytes.length) {
        const id = bytes[at];
        const [size, sizeLen] = readLeb128(bytes, at + 1);
        const start = at + 1 + sizeLen;
        if (id === 0) {
            const [nameLen, nameLenLen] = readLeb128(bytes, start);
            const sectionName = bytes.subarray(start + nameLenLen, start + nameLenLen + nameLen).toString();
            if (sectionName === wanted) {
                return true;
            }
        }
        at = start + size;
    }
    return false;
}

function leb128(n) {
    const out = [];
    do {
        let byte = n & 0x7f;
        n >>>= 7;
        if (n !== 0) byte |= 0x80;
        out.push(byte);
    } while (n !== 0);
    return Buffer.from(out);
}

function readLeb128(bytes, at) {
    let result = 0;
    let shift = 0;
    let len = 0;
    for (;;) {
        const byte = bytes[at + len];
        len += 1;
        result += (byte & 0x7f) * 2 ** shift;
        shift += 7;
        if ((byte & 0x80) === 0) return [result, len];
    }
}
