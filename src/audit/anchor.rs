//! Anchors: every signed checkpoint is also appended, one JSON line (fsynced), to
//! `audit-anchors.jsonl` in a directory outside the database (`COUNTERSIGN_AUDIT_ANCHOR_DIR`,
//! default the data dir). An administrator of the database can rewrite or cut the chain and
//! delete the stored checkpoints that would betray it; the anchor file is out of that reach, and
//! `audit verify` checks the database against it. It holds checkpoints only: public, no PII.
//!
//! A line is written after its checkpoint is committed, so every anchored checkpoint is also in
//! the database unless someone deleted it there. Nothing here ever rewrites the file.

use super::checkpoint::Checkpoint;
use super::export::checkpoint_line;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "audit-anchors.jsonl";

/// The anchor file of one directory.
#[derive(Debug, Clone)]
pub struct AnchorLog {
    path: PathBuf,
}

impl AnchorLog {
    pub fn in_dir(dir: &Path) -> Self {
        Self { path: dir.join(FILE_NAME) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one checkpoint and returns once it is on disk.
    pub async fn append(&self, checkpoint: &Checkpoint) -> std::io::Result<()> {
        let (path, line) = (self.path.clone(), checkpoint_line(checkpoint));
        tokio::task::spawn_blocking(move || append_durably(&path, &line)).await.map_err(std::io::Error::other)?
    }

    /// Every anchored checkpoint, in the order written; none when there is no file yet. A last
    /// line without its newline is a write the process did not finish (a crash) and is skipped;
    /// any other line that is not a checkpoint is an error.
    pub fn read(&self) -> Result<Vec<Checkpoint>, String> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(format!("reading {}: {error}", self.path.display())),
        };
        let mut anchored = Vec::new();
        for (number, line) in text.split_inclusive('\n').enumerate() {
            let parsed = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|value| value.get("checkpoint").cloned())
                .and_then(|value| serde_json::from_value::<Checkpoint>(value).ok());
            match parsed {
                Some(checkpoint) => anchored.push(checkpoint),
                None if !line.ends_with('\n') => break,
                None => return Err(format!("{} line {}: not a checkpoint", self.path.display(), number + 1)),
            }
        }
        Ok(anchored)
    }
}

fn append_durably(path: &Path, line: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        builder.mode(0o700);
        options.mode(0o600);
    }
    builder.create(dir)?;
    let created = !path.exists();
    let mut file = options.open(path)?;
    // One write of the whole line: appends of several processes sharing the file don't interleave.
    file.write_all(line)?;
    file.sync_data()?;
    if created {
        // The new file's directory entry must survive a crash too.
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::CheckpointKey;
    use crate::crypto::MasterKey;

    fn checkpoint(seq: i64) -> Checkpoint {
        let key = CheckpointKey::from_master(&MasterKey::from_base64(&MasterKey::generate_base64()).expect("key"));
        Checkpoint::from_row(&key.sign(seq, &"ab".repeat(32), 1_700_000_000_000))
    }

    #[tokio::test]
    async fn anchors_append_in_order_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AnchorLog::in_dir(&dir.path().join("anchors"));
        assert_eq!(log.read(), Ok(Vec::new()), "no file yet");
        log.append(&checkpoint(3)).await.expect("appends");
        log.append(&checkpoint(9)).await.expect("appends");
        let seqs: Vec<i64> = log.read().expect("reads").iter().map(|c| c.seq).collect();
        assert_eq!(seqs, vec![3, 9]);
    }

    #[tokio::test]
    async fn an_unfinished_last_line_is_skipped_and_a_bad_line_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AnchorLog::in_dir(dir.path());
        log.append(&checkpoint(3)).await.expect("appends");
        let whole = std::fs::read_to_string(log.path()).expect("reads");
        std::fs::write(log.path(), format!("{whole}{}", &whole[..20])).expect("writes");
        assert_eq!(log.read().map(|a| a.len()), Ok(1), "torn tail skipped");
        std::fs::write(log.path(), format!("not json\n{whole}")).expect("writes");
        assert!(log.read().is_err_and(|e| e.contains("line 1")));
    }
}
