//! Who is calling: agent API keys (approver identities come with the approval flow).

pub mod api_keys;
