//! Pure types and rules, no I/O: money, ids, the transfer intent and its hash, the request state
//! machine, and the risk policy. Everything above this layer speaks these types.

pub mod canonical;
pub mod duration;
pub mod ids;
pub mod intent;
pub mod money;
pub mod policy;
pub mod reads;
pub mod schedule;
pub mod state;
pub mod text;
pub mod timestamp;
pub mod transfer_status;
pub mod username;
pub mod words;

pub use ids::{AgentId, ApproverId, AuditEventId, ItemId, RequestId};
pub use intent::{IntentError, RawIntent, TransferIntent};
pub use money::Money;
pub use policy::{Assessment, Facts, Policy, Recent, Tier};
pub use state::{Event, RequestState};
pub use transfer_status::TransferStatus;
