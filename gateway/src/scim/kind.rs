//! The two SCIM resource kinds the gateway serves. A protocol notion: the store, the HTTP layer and the
//! plugins name resources by it.

/// User or Group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }
}
