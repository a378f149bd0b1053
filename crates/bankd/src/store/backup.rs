//! `bankd backup FILE`: a consistent copy of the SQLite database, taken while the server runs.
//!
//! `VACUUM INTO` reads the database in one read transaction — under WAL, syncs keep writing
//! meanwhile and the copy holds none of what they commit after it began — and writes a compact,
//! self-contained database file (no `-wal` beside it) that bankd opens as it is. PostgreSQL has
//! its own tools for this (`pg_dump`).

use std::path::{Path, PathBuf};

use super::{Db, Store};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "the database is PostgreSQL: back it up with `pg_dump --format=custom` (restore with pg_restore); \
         `bankd backup` copies SQLite databases"
    )]
    Postgres,
    #[error("{0} exists already: a backup never overwrites a file")]
    Exists(PathBuf),
    #[error("copying the database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("writing {path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
}

impl Store {
    /// Writes a consistent copy of the database to `file`, which must not exist. The copy is
    /// written beside it first and linked into place whole, so `file` is never a half-written
    /// backup; it is readable by its owner only, as it holds the sealed secrets.
    pub async fn backup_to(&self, file: &Path) -> Result<(), BackupError> {
        let Db::Sqlite(pool) = &self.db else { return Err(BackupError::Postgres) };
        if file.exists() {
            return Err(BackupError::Exists(file.to_owned()));
        }
        let partial = PathBuf::from(format!("{}.partial", file.display()));
        if partial.exists() {
            // Left by an interrupted backup: nothing else writes there.
            std::fs::remove_file(&partial).map_err(io(&partial))?;
        }
        let copied = sqlx::query("VACUUM INTO $1").bind(partial.to_string_lossy().as_ref()).execute(pool).await;
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&partial);
            return Err(e.into());
        }
        owner_only(&partial).map_err(io(&partial))?;
        // A hard link fails if `file` appeared meanwhile, where a rename would replace it.
        std::fs::hard_link(&partial, file).map_err(io(file))?;
        std::fs::remove_file(&partial).map_err(io(&partial))
    }
}

/// The error of an I/O step on `path`.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |error| BackupError::Io { path: path.to_owned(), error }
}

#[cfg(unix)]
fn owner_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn owner_only(_: &Path) -> std::io::Result<()> {
    Ok(())
}
