//! Keeping the simulator's world in a file, for the embedded default (and `plaid-sim
//! --state-file`): loaded at start, rewritten atomically after every call that may change it, so a
//! restart of the service keeps its authorizations, transfers and events, as the real Plaid would.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context as _;
use axum::extract::{Request, State as Extract};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::state::State;
use super::{Inner, Simulator};

/// Where the world is kept; the lock orders snapshots so a later one is never overwritten by an
/// earlier one.
pub(crate) struct StateFile {
    path: PathBuf,
    writing: Mutex<()>,
}

impl StateFile {
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_owned(), writing: Mutex::new(()) }
    }

    /// The saved world, or an empty one when there is no file yet. A file that cannot be read is
    /// an error: starting empty would silently lose every pending authorization.
    pub fn load(&self) -> anyhow::Result<State> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a simulator state file", self.path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.path.display())),
        }
    }

    /// Writes a snapshot of the world, taken while holding the write lock.
    fn save(&self, inner: &Inner) -> anyhow::Result<()> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = serde_json::to_vec(&*inner.lock())?;
        crate::private_fs::write_atomically(&self.path, &bytes)
    }
}

/// Middleware: after every POST (every call that may change the world), save it before answering,
/// so whatever a client was told (an authorization, a transfer) is on disk when it hears it. This
/// costs a file write and fsync per call: fine for the embedded default and demos, which is where
/// it is used.
pub(crate) async fn save_after_changes(
    Extract(simulator): Extract<Simulator>,
    request: Request,
    next: Next,
) -> Response {
    let changes = request.method() == Method::POST;
    let response = next.run(request).await;
    if changes && simulator.inner.state_file.is_some() {
        let saved = tokio::task::spawn_blocking(move || {
            let inner = &simulator.inner;
            inner.state_file.as_ref().map_or(Ok(()), |file| file.save(inner))
        })
        .await;
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(error = %format!("{error:#}"), "simulator state not saved"),
            Err(error) => tracing::error!(error = %error, "simulator state save task failed"),
        }
    }
    response
}
