//! `roster export`, `roster import` and `roster backup`: the operator's
//! ways to move and copy a database (docs/operations.md, "Export and
//! import" and "Backup"). The format and both directions live in
//! `roster_store::export`; this module opens files and databases and says
//! what happened.

use anyhow::Context as _;
use std::io::Write as _;
use std::path::Path;

/// `roster export`: to `output` (written beside it, then renamed, so the
/// file is never a partial export) or to standard output.
pub async fn export(database: &str, output: Option<&Path>, with_audit: bool) -> anyhow::Result<()> {
    let store = roster_store::open_existing(database)
        .await
        .with_context(|| format!("opening {}", crate::redact(database)))?;
    let summary = match output {
        Some(path) => {
            let mut partial = path.as_os_str().to_owned();
            partial.push(".partial");
            let partial = std::path::PathBuf::from(partial);
            let mut file = std::fs::File::create(&partial)
                .with_context(|| format!("creating {}", partial.display()))?;
            let written = store.export(&mut file, with_audit).await;
            let summary = match written {
                Ok(s) => s,
                Err(e) => {
                    drop(file);
                    let _ = std::fs::remove_file(&partial);
                    return Err(anyhow::anyhow!("export failed: {e}"));
                }
            };
            file.sync_all()
                .with_context(|| format!("writing {}", partial.display()))?;
            std::fs::rename(&partial, path)
                .with_context(|| format!("renaming {} to {}", partial.display(), path.display()))?;
            println!("{}", serde_json::to_string(&summary)?);
            summary
        }
        None => {
            let mut out = std::io::stdout();
            let summary = store
                .export(&mut out, with_audit)
                .await
                .map_err(|e| anyhow::anyhow!("export failed: {e}"))?;
            out.flush()?;
            summary
        }
    };
    tracing::info!(
        revision = summary.revision,
        records = summary.records,
        "exported"
    );
    Ok(())
}

/// `roster import`: from `input` or standard input, into an empty database.
pub async fn import(database: &str, input: Option<&Path>) -> anyhow::Result<()> {
    let reader: Box<dyn std::io::BufRead + Send> = match input {
        Some(path) => Box::new(std::io::BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(std::io::BufReader::with_capacity(1 << 20, std::io::stdin())),
    };
    let store = crate::open(database).await?;
    let summary = store
        .import(reader)
        .await
        .map_err(|e| anyhow::anyhow!("import refused, nothing was written: {e}"))?;
    tracing::info!(
        revision = summary.revision,
        records = summary.records,
        "imported"
    );
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

/// `roster backup`: SQLite only.
pub async fn backup(database: &str, to: &Path) -> anyhow::Result<()> {
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        anyhow::bail!(
            "roster backup copies SQLite databases; back PostgreSQL up with pg_dump \
             (docs/operations.md, \"Backup\")"
        );
    }
    if to.exists() {
        anyhow::bail!(
            "`{}` exists; a backup is only written to a new file",
            to.display()
        );
    }
    let store = roster_store::SqliteStore::open_existing(database)
        .await
        .with_context(|| format!("opening {database}"))?;
    store
        .backup(to)
        .await
        .with_context(|| format!("backing {database} up to {}", to.display()))?;
    store.close().await;
    tracing::info!(to = %to.display(), "backup written");
    Ok(())
}
