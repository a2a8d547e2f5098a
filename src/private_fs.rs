//! Files only this service's user may read: the embedded default's data directory (0700), its
//! SQLite database with its WAL and shared-memory files, key files and the simulator's state
//! (0600). A leaf: no other module of the crate is used here.

use anyhow::Context as _;
use std::io::Write;
use std::path::{Path, PathBuf};

const PRIVATE_DIR: u32 = 0o700;
const PRIVATE_FILE: u32 = 0o600;

/// Creates `dir` (and missing parents) readable only by this user, and tightens it if it already
/// existed with wider permissions (an install from before this rule).
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(PRIVATE_DIR);
    }
    builder.create(dir).with_context(|| format!("creating {}", dir.display()))?;
    restrict(dir, PRIVATE_DIR)
}

/// The database file of a `sqlite://PATH?...` URL, unless it is in memory.
pub fn sqlite_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite://").or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

/// Creates the SQLite database file empty with mode 0600 before SQLite opens it: SQLite gives its
/// `-wal` and `-shm` files the database file's permissions. Existing files are tightened.
pub fn prepare_sqlite_file(path: &Path) -> anyhow::Result<()> {
    if !path.exists() {
        private_options().open(path).with_context(|| format!("creating {}", path.display()))?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        if file.exists() {
            restrict(&file, PRIVATE_FILE)?;
        }
    }
    Ok(())
}

/// Replaces `path` with `bytes` all at once (a temporary file beside it, flushed, then renamed),
/// so a crash leaves the old or the new content, never half of one. The file is 0600.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temporary = PathBuf::from(format!("{}.tmp", path.display()));
    let mut file = private_options()
        .truncate(true)
        .open(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    restrict(&temporary, PRIVATE_FILE)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))
}

fn private_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE);
    }
    options
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("restricting {}", path.display()))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_file_is_read_from_sqlite_urls_only() {
        assert_eq!(sqlite_path("sqlite://data/c.db?mode=rwc"), Some(PathBuf::from("data/c.db")));
        assert_eq!(sqlite_path("sqlite:///abs/c.db"), Some(PathBuf::from("/abs/c.db")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://u@h/db"), None);
    }
}
