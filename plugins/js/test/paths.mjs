// Where plugins/js/build.sh puts the components: $OUT_DIR, else $SCIMGW_PLUGINS_DIR, else
// ~/.cache/scimgw/plugins.
import { homedir } from 'node:os';
import { join } from 'node:path';

/** @param {string} name `template` or `webhook` */
export function pluginPath(name) {
    const dir = process.env.OUT_DIR || process.env.SCIMGW_PLUGINS_DIR || join(homedir(), '.cache/scimgw/plugins');
    return join(dir, `js-${name}.wasm`);
}
