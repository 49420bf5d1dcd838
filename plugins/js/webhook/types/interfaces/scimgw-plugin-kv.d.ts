declare module 'scimgw:plugin/kv@1.0.0' {
  export function get(key: string): string | undefined;
  /**
   * Fails when the key or value is over the host's limits.
   */
  export function set(key: string, value: string): void;
  export { _delete as delete };
  function _delete(key: string): void;
  /**
   * Keys starting with `prefix`, sorted, after `after` (exclusive) when given, at most `limit`:
   * page with the last key of the previous page.
   */
  export function keys(prefix: string, after: string | undefined, limit: number): Array<string>;
}
