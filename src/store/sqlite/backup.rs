//! Online backup: a consistent copy of the live database through SQLite's backup API,
//! taken while the server keeps writing (WAL lets the copy read one snapshot).

use std::path::Path;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{BackupReport, StoreError};

/// Retries, 50 ms apart, while the source is locked (a checkpoint can hold it briefly).
const BUSY_RETRIES: u32 = 200;

/// Copies the database at `source` into `dest` (which must not exist), checks the copy's
/// integrity and returns its size. The copy is written beside `dest` and renamed into
/// place, so a failed backup never leaves a half-written file under the final name.
pub fn backup(source: &Path, dest: &Path) -> Result<BackupReport, StoreError> {
    if dest.exists() {
        return Err(StoreError::Conflict(format!("{} already exists", dest.display())));
    }
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    src.busy_timeout(std::time::Duration::from_secs(5))?;
    let partial = dest.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let result = (|| {
        let mut dst = Connection::open(&partial)?;
        {
            let backup = Backup::new(&src, &mut dst)?;
            // One step copies every page under a single read snapshot. Smaller steps would
            // restart from scratch whenever the server commits, which under load is always.
            let mut busy = 0;
            loop {
                match backup.step(-1)? {
                    StepResult::Done => break,
                    StepResult::More => continue,
                    _ if busy < BUSY_RETRIES => {
                        busy += 1;
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    _ => return Err(StoreError::Conflict("the database stayed locked; try again".into())),
                }
            }
        }
        dst.pragma_update(None, "journal_mode", "DELETE")?;
        let check = integrity_check(&dst)?;
        if check != "ok" {
            return Err(StoreError::Corrupt(format!(
                "the copy failed its integrity check: {check}"
            )));
        }
        let pages: i64 = dst.pragma_query_value(None, "page_count", |r| r.get(0))?;
        let events: i64 = dst.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
        Ok((pages, events))
    })();
    match result {
        Ok((pages, events)) => {
            std::fs::rename(&partial, dest)
                .map_err(|e| StoreError::Conflict(format!("cannot move the backup into place: {e}")))?;
            let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
            Ok(BackupReport { pages, bytes, events })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// `PRAGMA integrity_check`'s verdict: `ok`, or the problems it found joined by newlines.
pub fn integrity_check(conn: &Connection) -> Result<String, StoreError> {
    let mut statement = conn.prepare("PRAGMA integrity_check")?;
    let lines = statement
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(lines.join("\n"))
}
