//! Typed, prefixed identifiers (`tr_…`, `ag_…`, …) so one kind of id can't be passed for another.
//!
//! Ids are UUIDv7 in simple hex behind a prefix: time-ordered, so "newest first" and cursor
//! pagination can sort by id without a separate column.

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// Accepts only well-formed ids of this kind: the prefix and 32 lowercase hex digits.
            pub fn parse(text: &str) -> Option<Self> {
                let rest = text.strip_prefix($prefix)?.strip_prefix('_')?;
                let valid = rest.len() == 32 && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                valid.then(|| Self(text.to_owned()))
            }

            /// For values read back from our own database, which only ever stores generated ids.
            pub fn from_trusted(text: String) -> Self {
                Self(text)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

typed_id!(
    /// One transfer request (one version of an agent's proposal).
    RequestId, "tr"
);
typed_id!(
    /// An agent: a program holding an API key.
    AgentId, "ag"
);
typed_id!(
    /// A Plaid item as registered with Countersign; agents never see Plaid's access token.
    ItemId, "it"
);
typed_id!(
    /// A human approver.
    ApproverId, "ap"
);
typed_id!(
    /// One audit record.
    AuditEventId, "ev"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_keep_their_kind() {
        let id = RequestId::generate();
        assert!(id.as_str().starts_with("tr_"));
        assert_eq!(RequestId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(AgentId::parse(id.as_str()), None);
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in ["tr_", "tr_xyz", "tr-0190f3c2a1b27c3d8e9f0a1b2c3d4e5f", "TR_0190f3c2a1b27c3d8e9f0a1b2c3d4e5f"] {
            assert_eq!(RequestId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let first = RequestId::generate();
        let second = RequestId::generate();
        assert!(first < second);
    }
}
