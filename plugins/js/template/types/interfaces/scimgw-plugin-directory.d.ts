/// <reference path="./scimgw-plugin-types.d.ts" />
declare module 'scimgw:plugin/directory@1.0.0' {
  export function getUser(id: string): User | undefined;
  export function getGroup(id: string): Group | undefined;
  /**
   * Every user of the tenant, by id, at most `limit` (≤ 500) per page.
   */
  export function listUsers(cursor: string | undefined, limit: number): UserPage;
  /**
   * Every group of the tenant, by id, at most `limit` (≤ 500) per page.
   */
  export function listGroups(cursor: string | undefined, limit: number): GroupPage;
  /**
   * Members of a group in the order they were added, at most `limit` (≤ 1,000) per page.
   */
  export function members(groupId: string, cursor: string | undefined, limit: number): MemberPage;
  /**
   * The groups a user is a direct member of, in the order they joined.
   */
  export function groupsOf(userId: string): Array<GroupRef>;
  /**
   * The remote id an earlier `done` outcome reported for (kind, local-id).
   */
  export function remoteId(kind: string, localId: string): string | undefined;
  export type User = import('scimgw:plugin/types@1.0.0').User;
  export type Group = import('scimgw:plugin/types@1.0.0').Group;
  export type Member = import('scimgw:plugin/types@1.0.0').Member;
  export interface GroupRef {
    id: string,
    displayName: string,
  }
  export interface UserPage {
    users: Array<User>,
    /**
     * Pass as `cursor` for the next page; none at the end.
     */
    next?: string,
  }
  export interface GroupPage {
    groups: Array<Group>,
    next?: string,
  }
  export interface MemberPage {
    members: Array<Member>,
    next?: string,
  }
}
