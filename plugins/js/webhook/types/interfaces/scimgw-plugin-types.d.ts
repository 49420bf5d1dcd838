declare module 'scimgw:plugin/types@1.0.0' {
  /**
   * What a call knows besides its input. Time is an input, not a capability.
   */
  export interface Context {
    /**
     * The tenant's name (as in the SCIM base URL).
     */
    tenant: string,
    /**
     * The target's name within the tenant.
     */
    target: string,
    /**
     * Stable for one change (translate), one operation (deliver) or one job run (on-schedule).
     */
    correlationId: string,
    /**
     * The host's clock (a virtual clock in tests and demos): the only clock a plugin gets.
     */
    nowUnixMs: bigint,
    /**
     * The target's non-secret JSON configuration, as the admin gave it.
     */
    configJson: string,
    /**
     * 1 for the first try of an operation or a job run, 2 for its first retry, ...; 1 in translate.
     */
    attempt: number,
    /**
     * The call is stopped at this time (host clock): finish, or return `continue-with`, before.
     */
    deadlineUnixMs: bigint,
    /**
     * Facts a later 1.x host may add, as (name, value); ignore names you do not know.
     */
    extra: Array<[string, string]>,
  }
  /**
   * # Variants
   * 
   * ## `"user"`
   * 
   * ## `"group"`
   */
  export type ResourceKind = 'user' | 'group';
  export interface Email {
    value: string,
    /**
     * SCIM `type` (work, home, ...).
     */
    kind?: string,
    primary: boolean,
  }
  /**
   * A SCIM user as stored (RFC 7643 core + enterprise extension). `scim-json` is the whole stored
   * document (addresses, phone numbers, extension and custom schemas included) for anything the typed
   * fields do not carry.
   */
  export interface User {
    id: string,
    externalId?: string,
    userName: string,
    active: boolean,
    displayName?: string,
    givenName?: string,
    familyName?: string,
    emails: Array<Email>,
    title?: string,
    preferredLanguage?: string,
    employeeNumber?: string,
    department?: string,
    division?: string,
    costCenter?: string,
    organization?: string,
    managerId?: string,
    scimJson: string,
  }
  /**
   * A SCIM group without its members (they arrive as members-added / members-removed changes, and
   * through `directory.members`).
   */
  export interface Group {
    id: string,
    externalId?: string,
    displayName: string,
    scimJson: string,
  }
  export interface Member {
    id: string,
    kind: ResourceKind,
  }
  export interface ActiveChange {
    userId: string,
    active: boolean,
  }
  export interface Rename {
    groupId: string,
    oldDisplayName?: string,
    displayName: string,
  }
  export interface MembersChange {
    groupId: string,
    /**
     * In the order of the SCIM request.
     */
    members: Array<Member>,
  }
  /**
   * A change kind this contract version has no case for. A later 1.x host hands new kinds to plugins
   * this way (kind names and payloads in plugins/README.md); ignore kinds you do not know.
   */
  export interface OtherEvent {
    kind: string,
    payloadJson: string,
  }
  /**
   * The change-log kinds, plus the markers around a resync (a replay of the tenant's current state).
   */
  export type Event = EventUserUpserted | EventUserActiveChanged | EventUserDeleted | EventGroupUpserted | EventGroupRenamed | EventGroupDeleted | EventMembersAdded | EventMembersRemoved | EventResyncStarted | EventResyncFinished | EventOther;
  export interface EventUserUpserted {
    tag: 'user-upserted',
    val: User,
  }
  export interface EventUserActiveChanged {
    tag: 'user-active-changed',
    val: ActiveChange,
  }
  export interface EventUserDeleted {
    tag: 'user-deleted',
    val: string,
  }
  export interface EventGroupUpserted {
    tag: 'group-upserted',
    val: Group,
  }
  export interface EventGroupRenamed {
    tag: 'group-renamed',
    val: Rename,
  }
  export interface EventGroupDeleted {
    tag: 'group-deleted',
    val: string,
  }
  export interface EventMembersAdded {
    tag: 'members-added',
    val: MembersChange,
  }
  export interface EventMembersRemoved {
    tag: 'members-removed',
    val: MembersChange,
  }
  export interface EventResyncStarted {
    tag: 'resync-started',
  }
  export interface EventResyncFinished {
    tag: 'resync-finished',
  }
  export interface EventOther {
    tag: 'other',
    val: OtherEvent,
  }
  export interface Change {
    /**
     * Position in the tenant's change log (0 for resync events, which are not in the log).
     */
    seq: bigint,
    /**
     * When the change was recorded (RFC 3339, UTC, as the change log holds it).
     */
    at: string,
    /**
     * True for the events of a resync.
     */
    resync: boolean,
    event: Event,
  }
  /**
   * An LMS user, mapped from a SCIM user by the plugin.
   */
  export interface UserOp {
    /**
     * The SCIM id (the host maps it to a remote id through `directory.remote-id`).
     */
    userId: string,
    login: string,
    email?: string,
    firstName?: string,
    lastName?: string,
    active: boolean,
    /**
     * Any further LMS fields, as a JSON object.
     */
    fieldsJson: string,
  }
  export interface DepartmentOp {
    key: string,
    name: string,
    parentKey?: string,
  }
  export interface GroupOp {
    key: string,
    name: string,
  }
  /**
   * A user in a container (a department or a group, by key).
   */
  export interface MembershipOp {
    container: string,
    userId: string,
  }
  /**
   * Who an enrollment is for: one user (SCIM id) or a group (SCIM id, or a plugin-owned group key).
   */
  export type Principal = PrincipalUser | PrincipalGroup;
  export interface PrincipalUser {
    tag: 'user',
    val: string,
  }
  export interface PrincipalGroup {
    tag: 'group',
    val: string,
  }
  export interface EnrollmentOp {
    principal: Principal,
    /**
     * The course, training plan or other item, by key.
     */
    item: string,
    /**
     * course, training-plan, ... (the plugin's vocabulary).
     */
    itemKind: string,
    /**
     * Why this enrollment exists, e.g. `group:<id>` or `tp:<id>`: an unenroll names the source it
     * ends, so one reason ending does not cancel an enrollment another reason still holds.
     */
    source?: string,
  }
  /**
   * The order a custom operation is delivered in, relative to the others of the target.
   */
  export type Ordering = OrderingUser | OrderingGroup | OrderingKey | OrderingBarrier;
  /**
   * After every earlier operation on this user (SCIM id), before every later one.
   */
  export interface OrderingUser {
    tag: 'user',
    val: string,
  }
  /**
   * After every earlier operation on this group.
   */
  export interface OrderingGroup {
    tag: 'group',
    val: string,
  }
  /**
   * A key of the plugin's own: in order with operations of the same key only.
   */
  export interface OrderingKey {
    tag: 'key',
    val: string,
  }
  /**
   * After every earlier operation of the target, before every later one.
   */
  export interface OrderingBarrier {
    tag: 'barrier',
  }
  /**
   * Anything the typed operations do not cover.
   */
  export interface CustomOp {
    kind: string,
    ordering: Ordering,
    payloadJson: string,
  }
  export type Operation = OperationUpsertUser | OperationDeactivateUser | OperationDeleteUser | OperationUpsertDepartment | OperationDeleteDepartment | OperationAssignDepartment | OperationUpsertGroup | OperationDeleteGroup | OperationAddMember | OperationRemoveMember | OperationEnroll | OperationUnenroll | OperationCustom;
  export interface OperationUpsertUser {
    tag: 'upsert-user',
    val: UserOp,
  }
  export interface OperationDeactivateUser {
    tag: 'deactivate-user',
    val: string,
  }
  export interface OperationDeleteUser {
    tag: 'delete-user',
    val: string,
  }
  export interface OperationUpsertDepartment {
    tag: 'upsert-department',
    val: DepartmentOp,
  }
  export interface OperationDeleteDepartment {
    tag: 'delete-department',
    val: string,
  }
  export interface OperationAssignDepartment {
    tag: 'assign-department',
    val: MembershipOp,
  }
  export interface OperationUpsertGroup {
    tag: 'upsert-group',
    val: GroupOp,
  }
  export interface OperationDeleteGroup {
    tag: 'delete-group',
    val: string,
  }
  export interface OperationAddMember {
    tag: 'add-member',
    val: MembershipOp,
  }
  export interface OperationRemoveMember {
    tag: 'remove-member',
    val: MembershipOp,
  }
  export interface OperationEnroll {
    tag: 'enroll',
    val: EnrollmentOp,
  }
  export interface OperationUnenroll {
    tag: 'unenroll',
    val: EnrollmentOp,
  }
  export interface OperationCustom {
    tag: 'custom',
    val: CustomOp,
  }
  /**
   * An id the LMS gave to one of ours; the host stores it and serves it through `directory.remote-id`.
   */
  export interface RemoteId {
    /**
     * user, group, department, ... (the plugin's vocabulary).
     */
    kind: string,
    localId: string,
    remoteId: string,
  }
  export interface Retry {
    /**
     * Wait at least this long (e.g. from `Retry-After`); none = the host's backoff decides.
     */
    afterSecs?: number,
    reason: string,
  }
  export type Outcome = OutcomeDone | OutcomeRetry | OutcomeConflict | OutcomeFailed;
  /**
   * Delivered; remote ids learned on the way.
   */
  export interface OutcomeDone {
    tag: 'done',
    val: Array<RemoteId>,
  }
  /**
   * Transient failure: deliver again later.
   */
  export interface OutcomeRetry {
    tag: 'retry',
    val: Retry,
  }
  /**
   * The LMS refused because of its state (e.g. a duplicate it cannot merge): dead-lettered.
   */
  export interface OutcomeConflict {
    tag: 'conflict',
    val: string,
  }
  /**
   * Permanent failure (e.g. 400): dead-lettered with this reason.
   */
  export interface OutcomeFailed {
    tag: 'failed',
    val: string,
  }
  export type PluginError = PluginErrorInvalidInput | PluginErrorUnsupported | PluginErrorConfig | PluginErrorInternal;
  export interface PluginErrorInvalidInput {
    tag: 'invalid-input',
    val: string,
  }
  export interface PluginErrorUnsupported {
    tag: 'unsupported',
    val: string,
  }
  export interface PluginErrorConfig {
    tag: 'config',
    val: string,
  }
  export interface PluginErrorInternal {
    tag: 'internal',
    val: string,
  }
  /**
   * A scheduled job a plugin declares (from its configuration).
   */
  export interface Job {
    /**
     * Unique within the plugin; shown in `gateway target jobs`.
     */
    name: string,
    /**
     * When it runs, in UTC: five cron fields `minute hour day-of-month month day-of-week`
     * (`*`, numbers, `a-b`, `a,b`, `*\/n`), e.g. `0 2-23/3 * * *`.
     */
    cron: string,
    /**
     * While a run of this job is in progress, the plugin's admin resources refuse writes (423).
     */
    exclusive: boolean,
    /**
     * The `detail` of those 423 answers, e.g. "maintenance is running; try again in a few minutes".
     */
    lockMessage?: string,
  }
  /**
   * One run of a job: `on-schedule` is called once, then again with each `continue-with` it returns.
   */
  export interface JobRun {
    job: string,
    /**
     * The time the run was due (host clock), the same for every call of the run.
     */
    scheduledAtUnixMs: bigint,
    /**
     * None on the run's first call; then the `continue-with` of the call before.
     */
    cursor?: string,
  }
  export interface JobResult {
    /**
     * Delivered like translated operations, after those already in the outbox.
     */
    operations: Array<Operation>,
    /**
     * Call again with this cursor (the run's work did not fit one call's limits).
     */
    continueWith?: string,
    /**
     * One line for `gateway target jobs` (what the run did), at most 1 KiB.
     */
    summary?: string,
  }
  /**
   * # Variants
   * 
   * ## `"get"`
   * 
   * ## `"post"`
   * 
   * ## `"put"`
   * 
   * ## `"patch"`
   * 
   * ## `"delete"`
   */
  export type AdminMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';
  /**
   * A call to `/admin/v1/tenants/{t}/targets/{n}/resources/{path}` (or `gateway target resource`).
   */
  export interface AdminRequest {
    method: AdminMethod,
    /**
     * The part after `resources/`, e.g. `profiles/42`.
     */
    path: string,
    query: Array<[string, string]>,
    bodyJson?: string,
  }
  export interface AdminResponse {
    /**
     * An HTTP status; 4xx with a `detail` in the body for the admin's mistakes.
     */
    status: number,
    bodyJson: string,
  }
}
