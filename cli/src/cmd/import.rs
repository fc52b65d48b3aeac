//! `onecount listings import FILE.csv`: every row checked before anything is written.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use serde_json::json;

use onecount::aws::dynamo::DynamoStore;
use onecount::domain::import::{self, BadRow};

use super::Reply;
use crate::output::{self, Bar};

/// Exit status when some rows were bad (the good ones are in).
pub const SOME_ROWS_BAD: u8 = 3;

pub async fn run(store: &DynamoStore, file: &std::path::Path, dry_run: bool) -> Result<Reply> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let parsed =
        import::parse_csv(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let rows = parsed.rows.len() + parsed.bad.len();
    let existing = store.import_context(&parsed.rows).await?;
    let mut plan = import::plan(parsed.rows, &existing);
    plan.bad.extend(parsed.bad);
    plan.bad.sort_by_key(|b| b.line);
    let mut failed: Vec<BadRow> = Vec::new();
    let (mut written, mut created) = (0, 0);
    if !dry_run && !plan.write.is_empty() {
        let bar = Bar::new("importing", plan.write.len());
        let out = store.import_listings(&plan, |n| bar.set(n)).await?;
        written = out.written;
        created = out.created_skus;
        failed = out.failed;
    }
    let bad: Vec<&BadRow> = plan.bad.iter().chain(&failed).collect();
    let value = json!({
        "file": file.display().to_string(), "rows": rows, "dry_run": dry_run,
        "to_write": plan.write.len(), "written": written, "created_skus": created,
        "unchanged": plan.unchanged.len(), "bad": bad,
    });
    let n = if dry_run { plan.write.len() } else { written };
    let created = if dry_run { plan.create.len() } else { created };
    let text = import_text(
        file,
        rows,
        (dry_run, n, created),
        plan.unchanged.len(),
        &bad,
    );
    Ok(Reply::new(&value, text).code(if bad.is_empty() { 0 } else { SOME_ROWS_BAD }))
}

/// What the import did (or would do), and the bad lines.
fn import_text(
    file: &std::path::Path,
    rows: usize,
    (dry_run, n, created): (bool, usize, usize),
    unchanged: usize,
    bad: &[&BadRow],
) -> String {
    let mut out = String::new();
    let verb = if dry_run { "would write" } else { "wrote" };
    let _ = writeln!(
        out,
        "{}: {rows} rows — {verb} {n} listing(s){}, {unchanged} unchanged, {} bad",
        file.display(),
        if created > 0 {
            format!(" and created {created} SKU(s)")
        } else {
            String::new()
        },
        bad.len()
    );
    if !bad.is_empty() {
        let mut t = output::table(&["line", "why it was left out"]);
        for b in bad {
            t.add_row(vec![b.line.to_string(), b.reason.clone()]);
        }
        let _ = writeln!(
            out,
            "{t}\nFix those lines and run the import again: rows already in are left as they are."
        );
    }
    if !dry_run && n > 0 {
        let _ = writeln!(
            out,
            "New quantities reach the channels with the next sale or drift check (or `onecount push SKU`)."
        );
    }
    out
}
