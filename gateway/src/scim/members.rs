//! Group membership as the protocol layer hands it to the store: the member references a client sent
//! (POST/PUT `members`, PATCH values) and the changes a request makes to a Group's member table. Members
//! are never part of the stored document; both `resource` and `patch` produce these types.

/// A reference to a Group member as sent by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub value: String,
    pub display: Option<String>,
    /// "User" or "Group" when the client said so.
    pub kind: Option<String>,
}

/// A change to a Group's member table, in operation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    Add(Vec<MemberRef>),
    Remove(Vec<String>),
    RemoveAll,
    Replace(Vec<MemberRef>),
}
