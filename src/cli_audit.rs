//! `countersign audit export | verify | pubkey`: the compliance side of the command line.

use crate::audit::checkpoint::{Checkpoint, CheckpointKey};
use crate::audit::export::{self, ExportFormat, Line};
use crate::audit::verify::{Break, ChainVerifier, Summary};
use crate::config::Settings;
use crate::service::{audit_export, audit_upkeep, now_ms, parse_rfc3339_ms};
use crate::startup;
use anyhow::{bail, Context as _};
use clap::Subcommand;
use std::io::BufRead;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Export records (RFC 3339 `--from`/`--to`, default: everything) to a file, with its signed
    /// checkpoint in `<out>.checkpoint.json`.
    Export {
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value = "jsonl", value_parser = ["csv", "jsonl"])]
        format: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify the live database from seq 1, or (`--file`) an export offline.
    Verify {
        /// An export (`.csv` or JSON Lines); without it, the live database is verified.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Checkpoint files kept from earlier exports (repeatable). `<file>.checkpoint.json` is
        /// used when present.
        #[arg(long)]
        checkpoint: Vec<PathBuf>,
        /// An earlier JSON Lines export: verified first, then every hash in it is trusted.
        #[arg(long)]
        previous: Option<PathBuf>,
        /// The service's public key (hex, from `countersign audit pubkey`) to pin signatures to.
        #[arg(long)]
        pubkey: Option<String>,
    },
    /// Print the checkpoint public key (Ed25519, 32 bytes, lowercase hex).
    Pubkey,
}

pub async fn run(command: AuditCommand, settings: Settings) -> anyhow::Result<()> {
    match command {
        AuditCommand::Export { from, to, format, out } => {
            let from = time(from.as_deref(), "--from")?.unwrap_or(0);
            let to = time(to.as_deref(), "--to")?.unwrap_or_else(now_ms);
            let format = ExportFormat::parse(&format).context("--format must be csv or jsonl")?;
            let (ctx, _sim) = startup::connect(&settings).await?;
            let plan = audit_export::write_file(&ctx, from, to, format, &out).await?;
            let records = (plan.hi - plan.lo + 1).max(0);
            println!("exported {records} records (seq {}..={}) to {}", plan.lo, plan.hi, out.display());
            if plan.checkpoint.is_some() {
                println!("checkpoint: {}", audit_export::sidecar_path(&out).display());
            }
            Ok(())
        }
        AuditCommand::Pubkey => {
            let (ctx, _sim) = startup::connect(&settings).await?;
            println!("{}", CheckpointKey::from_master(&ctx.master_key).public_key_hex());
            Ok(())
        }
        AuditCommand::Verify { file, checkpoint, previous, pubkey } => {
            let mut extra = Vec::new();
            for path in &checkpoint {
                extra.push(read_checkpoint(path)?);
            }
            let mut anchor_file = None;
            let outcome = match &file {
                Some(file) => {
                    if pubkey.is_none() {
                        eprintln!(
                            "warning: no --pubkey given; signatures are checked against the key each checkpoint names"
                        );
                    }
                    verify_file(file, &extra, previous.as_deref(), pubkey.as_deref())?
                }
                None => {
                    let (ctx, _sim) = startup::connect(&settings).await?;
                    anchor_file = Some(ctx.audit_anchors.path().to_owned());
                    audit_upkeep::verify_live(&ctx, &extra).await?
                }
            };
            let summary = outcome.map_err(|broken| anyhow::anyhow!("{broken}"))?;
            report(&summary);
            if let Some(path) = anchor_file {
                report_anchor(&summary, &path);
            }
            Ok(())
        }
    }
}

fn time(text: Option<&str>, flag: &str) -> anyhow::Result<Option<i64>> {
    text.map(|t| parse_rfc3339_ms(t).with_context(|| format!("{flag} must be an RFC 3339 time"))).transpose()
}

fn report(summary: &Summary) {
    let range = match (summary.first_seq, summary.last_seq) {
        (Some(first), Some(last)) => format!(" (seq {first}..={last})"),
        _ => String::new(),
    };
    println!("OK: {} records verified{range}", summary.records);
    println!("checkpoints matched: {:?}", summary.checkpoints_matched);
    if !summary.checkpoints_not_covered.is_empty() {
        println!("checkpoints outside this export (not checked): {:?}", summary.checkpoints_not_covered);
    }
    if summary.checkpoints_matched.is_empty() {
        println!("warning: no signed checkpoint was checked; this proves internal consistency only");
    }
}

fn report_anchor(summary: &Summary, path: &Path) {
    match (summary.anchored, summary.last_seq) {
        (Some(anchored), last) => {
            println!("anchored checkpoint matched: seq {anchored} ({})", path.display());
            if last.is_some_and(|last| last > anchored) {
                println!("records after seq {anchored} are proved by the chain alone until the next checkpoint");
            }
        }
        (None, _) => println!(
            "warning: no anchored checkpoint in {}; the database was checked against itself only",
            path.display()
        ),
    }
}

pub fn read_checkpoint(path: &Path) -> anyhow::Result<Checkpoint> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let inner = value.get("checkpoint").cloned().unwrap_or(value);
    serde_json::from_value(inner).with_context(|| format!("{} is not a checkpoint", path.display()))
}

/// Verifies an export file offline: every record's hash and link, its own checkpoint (JSON
/// Lines' last line and the `<file>.checkpoint.json` sidecar, each of which must sign the file's
/// last record, so nothing can be cut from the end unseen), `extra` checkpoints and, when given,
/// an earlier export.
pub fn verify_file(
    file: &Path,
    extra: &[Checkpoint],
    previous: Option<&Path>,
    pubkey: Option<&str>,
) -> anyhow::Result<Result<Summary, Break>> {
    let mut verifier = ChainVerifier::slice();
    let sidecar = audit_export::sidecar_path(file);
    let mut own = Vec::new();
    if sidecar.exists() {
        own.push(read_checkpoint(&sidecar)?);
    }
    if let Some(previous) = previous {
        let trusted = collect_rows(previous)?;
        if let Err(broken) = check(&trusted, &[], pubkey)? {
            bail!("the previous export {} does not verify: {broken}", previous.display());
        }
        for row in trusted.iter().filter_map(|r| if let Line::Record(row) = r { Some(row) } else { None }) {
            if let Err(broken) = verifier.add_trusted(row.seq, &row.hash) {
                return Ok(Err(broken));
            }
        }
    }
    let is_csv = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let mut closing_line = false;
    if !is_csv {
        // The checkpoint line is last, so read checkpoints first, then stream the records.
        for line in lines(file)? {
            if let (_, Line::Checkpoint(checkpoint)) = line? {
                own.push(checkpoint);
                closing_line = true;
            }
        }
    }
    for checkpoint in own.iter().chain(extra) {
        if let Err(broken) = verifier.add_checkpoint(checkpoint, pubkey) {
            return Ok(Err(broken));
        }
    }
    if is_csv {
        let reader = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        for row in export::read_csv(std::io::BufReader::new(reader)) {
            if let Err(broken) = verifier.push(&row.map_err(anyhow::Error::msg)?) {
                return Ok(Err(broken));
            }
        }
    } else {
        for line in lines(file)? {
            if let (_, Line::Record(row)) = line? {
                if let Err(broken) = verifier.push(&row) {
                    return Ok(Err(broken));
                }
            }
        }
    }
    let summary = match verifier.finish(false) {
        Ok(summary) => summary,
        Err(broken) => return Ok(Err(broken)),
    };
    if let Err(broken) = own.iter().try_for_each(|checkpoint| summary.ends_at(checkpoint)) {
        return Ok(Err(broken));
    }
    if !is_csv && !closing_line && !own.is_empty() {
        let reason = "the export ends without its checkpoint line, though its checkpoint file is here: the file was \
                      cut short"
            .to_owned();
        return Ok(Err(Break { seq: summary.last_seq.map_or(1, |last| last + 1), reason }));
    }
    Ok(Ok(summary))
}

fn lines(file: &Path) -> anyhow::Result<impl Iterator<Item = anyhow::Result<(usize, Line)>>> {
    let reader = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    Ok(std::io::BufReader::new(reader).lines().enumerate().filter_map(|(i, line)| match line {
        Err(error) => Some(Err(error.into())),
        Ok(text) if text.trim().is_empty() => None,
        Ok(text) => Some(export::parse_jsonl_line(&text, i + 1).map(|l| (i + 1, l)).map_err(anyhow::Error::msg)),
    }))
}

fn collect_rows(file: &Path) -> anyhow::Result<Vec<Line>> {
    lines(file)?.map(|l| l.map(|(_, line)| line)).collect()
}

fn check(lines: &[Line], extra: &[Checkpoint], pubkey: Option<&str>) -> anyhow::Result<Result<Summary, Break>> {
    let mut verifier = ChainVerifier::slice();
    for checkpoint in extra.iter().chain(lines.iter().filter_map(|l| match l {
        Line::Checkpoint(c) => Some(c),
        Line::Record(_) => None,
    })) {
        if let Err(broken) = verifier.add_checkpoint(checkpoint, pubkey) {
            return Ok(Err(broken));
        }
    }
    for line in lines {
        if let Line::Record(row) = line {
            if let Err(broken) = verifier.push(row) {
                return Ok(Err(broken));
            }
        }
    }
    Ok(verifier.finish(false))
}
