declare module 'scimgw:plugin/http@1.0.0' {
  export function send(req: Request): Response;
  /**
   * # Variants
   * 
   * ## `"get"`
   * 
   * ## `"head"`
   * 
   * ## `"post"`
   * 
   * ## `"put"`
   * 
   * ## `"patch"`
   * 
   * ## `"delete"`
   */
  export type Method = 'get' | 'head' | 'post' | 'put' | 'patch' | 'delete';
  export interface SecretHeader {
    header: string,
    /**
     * Name of one of the target's credentials.
     */
    credential: string,
  }
  export type Auth = AuthBearer | AuthBasic | AuthHeader | AuthHmacSha256;
  /**
   * `Authorization: Bearer <credential>`.
   */
  export interface AuthBearer {
    tag: 'bearer',
    val: string,
  }
  /**
   * `Authorization: Basic base64(<credential>)`, the credential being `user:password`.
   */
  export interface AuthBasic {
    tag: 'basic',
    val: string,
  }
  /**
   * `<header>: <credential>`.
   */
  export interface AuthHeader {
    tag: 'header',
    val: SecretHeader,
  }
  /**
   * `<header>: sha256=<hex HMAC-SHA256 of the body keyed with the credential>`.
   */
  export interface AuthHmacSha256 {
    tag: 'hmac-sha256',
    val: SecretHeader,
  }
  export interface Request {
    method: Method,
    url: string,
    headers: Array<[string, string]>,
    body?: Uint8Array,
    auth?: Auth,
  }
  export interface Response {
    status: number,
    headers: Array<[string, string]>,
    body: Uint8Array,
  }
  export type HttpError = HttpErrorDenied | HttpErrorTimeout | HttpErrorTooLarge | HttpErrorBudgetExhausted | HttpErrorTransport;
  /**
   * Not allowed: host not in the allowlist, http without permission, private address, unknown
   * credential, or called from translate or an admin resource.
   */
  export interface HttpErrorDenied {
    tag: 'denied',
    val: string,
  }
  export interface HttpErrorTimeout {
    tag: 'timeout',
  }
  export interface HttpErrorTooLarge {
    tag: 'too-large',
  }
  export interface HttpErrorBudgetExhausted {
    tag: 'budget-exhausted',
  }
  export interface HttpErrorTransport {
    tag: 'transport',
    val: string,
  }
}
