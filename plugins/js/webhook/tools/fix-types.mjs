// Repairs the TypeScript declarations `jco guest-types` generates from the WIT: jco copies the WIT's doc
// comments into `/** ... */` blocks as they are, so a comment containing `*/` (the cron example
// `*/n` in `job.cron`) ends the block early and breaks the file. Escapes `*/` inside comment lines.
//
//   node tools/fix-types.mjs types

import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? 'types';

for (const file of walk(dir)) {
    const text = readFileSync(file, 'utf8');
    // A line inside a doc block starts with `*` and a space; the block's own end is a line of `*/`.
    const fixed = text.replace(/^(\s*\* .*)$/gm, (line) => line.replaceAll('*/', '*\\/'));
    if (fixed !== text) {
        writeFileSync(file, fixed);
    }
}

function* walk(path) {
    if (statSync(path).isDirectory()) {
        for (const entry of readdirSync(path).sort()) {
            yield* walk(join(path, entry));
        }
    } else if (path.endsWith('.d.ts')) {
        yield path;
    }
}
