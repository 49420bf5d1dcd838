declare module 'scimgw:plugin/notify@1.0.0' {
  /**
   * Fails when over the per-call limit (5) or a field is too long.
   */
  export function send(n: Notification): void;
  export interface Notification {
    /**
     * A short machine-readable kind, e.g. `throttled`, `sync-error`.
     */
    kind: string,
    subject: string,
    text: string,
    /**
     * An e-mail address; none = the gateway's default recipient (`smtp_default_to`).
     */
    recipient?: string,
  }
}
