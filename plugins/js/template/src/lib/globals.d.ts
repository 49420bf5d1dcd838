// The globals the componentize-js engine (StarlingMonkey) gives a plugin with every WASI feature
// disabled, as far as the kit uses them (editor and `tsc` types only; `lib: es2022` has no DOM).
// Not there without WASI: `fetch`, timers, `console` output, real clocks (`Date.now()`) and randomness.

declare class TextEncoder {
    encode(input?: string): Uint8Array;
}

declare class TextDecoder {
    constructor(label?: string, options?: { fatal?: boolean });
    decode(input?: Uint8Array): string;
}
