//! The approver's desk (issue 16): text an agent cannot fake, the inbox you work through, the
//! live window, context against rubber-stamping, forgiving inputs and history.

mod agent_text;
mod context;
mod history;
mod inbox;
mod inputs;
mod live;
