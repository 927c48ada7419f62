//! A VFS that writes the WAL in a few large writes per commit instead of two per page,
//! and keeps statement journals off the disk.
//!
//! SQLite appends a WAL frame as two writes, its 24-byte header and then its page, so a
//! commit of n pages costs 2n `pwrite`s, and since a 4,120-byte frame straddles the
//! kernel's 4 KiB page-cache pages, each page-cache page is looked up, locked and dirtied
//! about three times. The writer's savepoint per event adds a statement journal: once one
//! event's savepoint outgrows SQLite's 64 KiB in memory, the journal becomes a temporary
//! file for the rest of the transaction and every page an event touches is written to it
//! (two more calls), though it is only ever read to roll one event back. Under load these
//! writes were about a quarter of the writer thread's time.
//!
//! This VFS wraps the default one. For WAL files and statement journals only, it keeps
//! writes that land inside or right after the bytes it holds in memory, and hands them to
//! the real file in 64 KiB writes: for the WAL when the page of a commit frame arrives (a
//! frame header whose "database size after commit" field is non-zero, per SQLite's WAL
//! file format); for both before any other operation on the file (a read, sync,
//! truncation, size query or file control), before a write elsewhere, and once a megabyte
//! is held. Other connections see a commit only after SQLite has written its last frame and
//! then updated the shared wal-index; that last write is the one that flushes, so a reader
//! never looks for a frame that is not in the file yet. A statement journal that is
//! deleted on close is dropped without being written. Every other file is the default
//! VFS's own.
//!
//! What stays in memory between calls is only frames of a transaction not yet committed,
//! and statement journal records: a crash loses them as it would lose an uncommitted
//! transaction.

use std::ffi::{CStr, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, Ordering};

use rusqlite::ffi;

/// The name connections open the VFS by.
pub const NAME: &CStr = c"errata-wal";

/// Gathered bytes past which they are written without waiting for the commit.
const FLUSH_AT: usize = 1 << 20;

/// The most one call to the real file writes: the unix VFS masks a write's length to
/// 17 bits, so a call of 128 KiB or more would be cut short.
const WRITE_CHUNK: usize = 64 << 10;

/// A WAL frame header's size; its bytes 4..8 are non-zero only in a commit frame.
const FRAME_HEADER_LEN: usize = 24;

/// The default VFS this one wraps.
static REAL: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(ptr::null_mut());

/// Registers the VFS once per process; `false` if SQLite has no default VFS to wrap (the
/// caller then opens with the default one).
pub fn register() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        // SAFETY: sqlite3_vfs_find initializes SQLite if needed and returns a pointer that
        // stays valid for the process (the default VFS is never unregistered here).
        let real = unsafe { ffi::sqlite3_vfs_find(ptr::null()) };
        if real.is_null() {
            return false;
        }
        REAL.store(real, Ordering::Release);
        // SAFETY: `real` is a valid VFS; the copy keeps its methods and app data, which
        // expect the same VFS layout. The copy is leaked: SQLite keeps the pointer.
        let mut vfs = unsafe { *real };
        vfs.pNext = ptr::null_mut();
        vfs.zName = NAME.as_ptr();
        vfs.szOsFile = (header_len() + usize::try_from(vfs.szOsFile).unwrap_or(0)) as c_int;
        vfs.xOpen = Some(open);
        let vfs = Box::into_raw(Box::new(vfs));
        // SAFETY: `vfs` is a complete VFS that lives for the rest of the process.
        unsafe { ffi::sqlite3_vfs_register(vfs, 0) == ffi::SQLITE_OK }
    })
}

/// A WAL file or statement journal: the held writes, then (after `header_len()` bytes)
/// the real file.
#[repr(C)]
struct BufferedFile {
    /// First, so SQLite's `sqlite3_file*` is a `BufferedFile*`.
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    pending: Vec<u8>,
    /// File offset of `pending[0]`.
    pending_at: i64,
    /// A WAL file, whose commit frames flush.
    is_wal: bool,
    /// The last write was a commit frame's header: its page completes the commit.
    commit_page_next: bool,
    /// Deleted on close (a statement journal): what it holds is never read again.
    discard_on_close: bool,
}

/// `BufferedFile`'s size rounded up to 8 bytes, where the real file begins.
const fn header_len() -> usize {
    std::mem::size_of::<BufferedFile>().div_ceil(8) * 8
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let real_vfs = REAL.load(Ordering::Acquire);
    // SAFETY: `open` is only reachable after `register` stored the default VFS.
    let Some(real_open) = (unsafe { (*real_vfs).xOpen }) else {
        return ffi::SQLITE_CANTOPEN;
    };
    if flags & (ffi::SQLITE_OPEN_WAL | ffi::SQLITE_OPEN_SUBJOURNAL) == 0 {
        // The allocation is at least the real VFS's size: the file is the real one.
        // SAFETY: arguments as SQLite passed them.
        return unsafe { real_open(real_vfs, name, file, flags, out_flags) };
    }
    // SAFETY: SQLite allocated `szOsFile` bytes at `file`, so the real file fits behind
    // the header; on failure `pMethods` stays null and SQLite does not close the file.
    unsafe {
        let real = file.cast::<u8>().add(header_len()).cast::<ffi::sqlite3_file>();
        (*file).pMethods = ptr::null();
        let rc = real_open(real_vfs, name, real, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        ptr::write(
            file.cast::<BufferedFile>(),
            BufferedFile {
                base: ffi::sqlite3_file {
                    pMethods: &BUFFERED_METHODS,
                },
                real,
                pending: Vec::new(),
                pending_at: 0,
                is_wal: flags & ffi::SQLITE_OPEN_WAL != 0,
                commit_page_next: false,
                discard_on_close: flags & ffi::SQLITE_OPEN_DELETEONCLOSE != 0,
            },
        );
    }
    ffi::SQLITE_OK
}

impl BufferedFile {
    /// # Safety
    /// `file` is a file `open` initialized as a buffered one and not yet closed.
    unsafe fn from<'a>(file: *mut ffi::sqlite3_file) -> &'a mut BufferedFile {
        unsafe { &mut *file.cast::<BufferedFile>() }
    }

    fn methods(&self) -> &ffi::sqlite3_io_methods {
        // SAFETY: the real file was opened successfully, so its methods are set.
        unsafe { &*(*self.real).pMethods }
    }

    /// Writes what is gathered; the buffer is emptied even on failure (SQLite then fails
    /// the transaction, and a retry writes its frames again).
    fn flush(&mut self) -> c_int {
        if self.pending.is_empty() {
            return ffi::SQLITE_OK;
        }
        let Some(write) = self.methods().xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let mut rc = ffi::SQLITE_OK;
        let mut offset = self.pending_at;
        for chunk in self.pending.chunks(WRITE_CHUNK) {
            // SAFETY: the real file is open; the chunk outlives the call and is at most
            // WRITE_CHUNK bytes long.
            rc = unsafe { write(self.real, chunk.as_ptr().cast::<c_void>(), chunk.len() as c_int, offset) };
            if rc != ffi::SQLITE_OK {
                break;
            }
            offset += chunk.len() as i64;
        }
        self.pending.clear();
        if self.pending.capacity() > 2 * FLUSH_AT {
            self.pending = Vec::new();
        }
        rc
    }
}

unsafe extern "C" fn write(file: *mut ffi::sqlite3_file, buf: *const c_void, amt: c_int, offset: i64) -> c_int {
    // SAFETY: SQLite calls this only on files `open` set these methods on.
    let buffered = unsafe { BufferedFile::from(file) };
    let Ok(len) = usize::try_from(amt) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    // SQLite never asks for either; a slice over no pointer would be unsound.
    if len == 0 {
        return ffi::SQLITE_OK;
    }
    if buf.is_null() {
        return ffi::SQLITE_IOERR_WRITE;
    }
    // SAFETY: SQLite passes `amt` readable bytes at `buf`, which is not null.
    let data = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) };
    let completes_commit = buffered.commit_page_next;
    // Inside or right after the held bytes: applied to them, as the file would be.
    let start = offset - buffered.pending_at;
    let inside = !buffered.pending.is_empty() && (0..=buffered.pending.len() as i64).contains(&start);
    if inside {
        let start = start as usize;
        let overlap = (buffered.pending.len() - start).min(len);
        buffered.pending[start..start + overlap].copy_from_slice(&data[..overlap]);
        buffered.pending.extend_from_slice(&data[overlap..]);
    } else {
        let rc = buffered.flush();
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        buffered.pending_at = offset;
        buffered.pending.extend_from_slice(data);
    }
    buffered.commit_page_next = buffered.is_wal && len == FRAME_HEADER_LEN && data[4..8] != [0; 4];
    if completes_commit || buffered.pending.len() >= FLUSH_AT {
        return buffered.flush();
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: as in `write`; after this call SQLite never touches the file again, so the
    // buffer is dropped here.
    let buffered = unsafe { BufferedFile::from(file) };
    let flushed = if buffered.discard_on_close {
        ffi::SQLITE_OK
    } else {
        buffered.flush()
    };
    let closed = match buffered.methods().xClose {
        // SAFETY: the real file is open.
        Some(close) => unsafe { close(buffered.real) },
        None => ffi::SQLITE_OK,
    };
    // SAFETY: the buffer is not used after this.
    unsafe { ptr::drop_in_place(&mut buffered.pending) };
    if flushed != ffi::SQLITE_OK { flushed } else { closed }
}

/// The methods that must see the file as written: flush, then pass through.
macro_rules! flush_then {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            // SAFETY: as in `write`.
            let buffered = unsafe { BufferedFile::from(file) };
            let rc = buffered.flush();
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            match buffered.methods().$method {
                // SAFETY: the real file is open; the arguments are SQLite's own.
                Some(method) => unsafe { method(buffered.real $(, $arg)*) },
                None => $missing,
            }
        }
    };
}

flush_then!(read, xRead, (buf: *mut c_void, amt: c_int, offset: i64), ffi::SQLITE_IOERR_READ);
flush_then!(truncate, xTruncate, (size: i64), ffi::SQLITE_IOERR_TRUNCATE);
flush_then!(sync, xSync, (flags: c_int), ffi::SQLITE_IOERR_FSYNC);
flush_then!(file_size, xFileSize, (size: *mut i64), ffi::SQLITE_IOERR_FSTAT);
flush_then!(file_control, xFileControl, (op: c_int, arg: *mut c_void), ffi::SQLITE_NOTFOUND);
flush_then!(fetch, xFetch, (offset: i64, amt: c_int, out: *mut *mut c_void), {
    // SAFETY: SQLite passes a valid out pointer; no mapping is an answer it handles.
    unsafe { *out = ptr::null_mut() };
    ffi::SQLITE_OK
});

/// The methods that do not depend on the file's bytes: pass through.
macro_rules! pass {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty, $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> $ret {
            // SAFETY: as in `write`.
            let buffered = unsafe { BufferedFile::from(file) };
            match buffered.methods().$method {
                // SAFETY: the real file is open; the arguments are SQLite's own.
                Some(method) => unsafe { method(buffered.real $(, $arg)*) },
                None => $missing,
            }
        }
    };
}

pass!(lock, xLock, (level: c_int) -> c_int, ffi::SQLITE_OK);
pass!(unlock, xUnlock, (level: c_int) -> c_int, ffi::SQLITE_OK);
pass!(check_reserved_lock, xCheckReservedLock, (out: *mut c_int) -> c_int, ffi::SQLITE_OK);
pass!(sector_size, xSectorSize, () -> c_int, 4096);
pass!(device_characteristics, xDeviceCharacteristics, () -> c_int, 0);
pass!(shm_map, xShmMap, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void) -> c_int, ffi::SQLITE_IOERR_SHMMAP);
pass!(shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int) -> c_int, ffi::SQLITE_IOERR_SHMLOCK);
pass!(shm_unmap, xShmUnmap, (delete: c_int) -> c_int, ffi::SQLITE_OK);
pass!(unfetch, xUnfetch, (offset: i64, page: *mut c_void) -> c_int, ffi::SQLITE_OK);

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    // SAFETY: as in `write`.
    let buffered = unsafe { BufferedFile::from(file) };
    if let Some(barrier) = buffered.methods().xShmBarrier {
        // SAFETY: the real file is open.
        unsafe { barrier(buffered.real) }
    }
}

static BUFFERED_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rusqlite::{Connection, OpenFlags, params};

    fn open_buffered(path: &std::path::Path) -> Connection {
        assert!(register());
        let conn = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), NAME).expect("opens");
        conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
        conn.pragma_update(None, "synchronous", "NORMAL").expect("sync");
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .expect("no auto checkpoint");
        conn
    }

    fn integrity_check(conn: &Connection) -> String {
        conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("integrity check")
    }

    fn wal_len(path: &std::path::Path) -> u64 {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
    }

    #[test]
    fn every_commit_is_in_the_file_and_visible_to_other_connections_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        let mut writer = open_buffered(&path);
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
            .expect("schema");
        let reader = Connection::open(&path).expect("reader on the default VFS");
        let mut expected = 0i64;
        for round in 0..40i64 {
            let before = wal_len(&path);
            let tx = writer.transaction().expect("tx");
            // Rows of a few pages each, and once a transaction past the flush bound.
            let rows = if round == 7 { 400 } else { 1 + round % 5 };
            for i in 0..rows {
                tx.execute(
                    "INSERT INTO t (body) VALUES (?1)",
                    params![vec![(round + i) as u8; 5000]],
                )
                .expect("insert");
            }
            tx.commit().expect("commit");
            expected += rows;
            assert!(wal_len(&path) > before, "round {round}: the commit reached the file");
            let (count, sum): (i64, i64) = reader
                .query_row("SELECT count(*), sum(length(body)) FROM t", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .expect("reader sees the table");
            assert_eq!((count, sum), (expected, expected * 5000), "round {round}");
            if round % 13 == 12 {
                reader
                    .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                    .expect("checkpoint");
            }
        }
        // A transaction rolled back after spilling frames leaves nothing behind.
        writer.pragma_update(None, "cache_size", 10).expect("tiny cache spills");
        let tx = writer.transaction().expect("tx");
        for _ in 0..200 {
            tx.execute("INSERT INTO t (body) VALUES (zeroblob(5000))", [])
                .expect("insert");
        }
        tx.rollback().expect("rollback");
        writer
            .execute("INSERT INTO t (body) VALUES (zeroblob(5000))", [])
            .expect("insert after rollback");
        expected += 1;
        let count: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(count, expected);
        drop(writer);
        assert_eq!(integrity_check(&reader), "ok");
    }

    #[test]
    fn savepoints_roll_back_from_a_held_statement_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        let mut writer = open_buffered(&path);
        schema(&writer);
        let tx = writer.transaction().expect("tx");
        let mut kept = 0i64;
        for event in 0..60i64 {
            tx.execute_batch("SAVEPOINT event").expect("savepoint");
            // Enough pages per savepoint that the statement journal leaves SQLite's memory,
            // and rows that rewrite pages earlier savepoints touched.
            let rows = 4 + event % 9;
            for i in 0..rows {
                tx.execute(
                    "INSERT INTO t (body) VALUES (?1)",
                    params![vec![((event * 7 + i) % 251) as u8; 3000 + (i as usize) * 100]],
                )
                .expect("insert");
            }
            tx.execute(
                "UPDATE t SET body = body || x'00' WHERE id % 5 = ?1",
                params![event % 5],
            )
            .expect("update");
            if event % 3 == 0 {
                tx.execute_batch("ROLLBACK TO event; RELEASE event").expect("roll back");
            } else {
                tx.execute_batch("RELEASE event").expect("release");
                kept += rows;
            }
        }
        tx.commit().expect("commit");
        let count: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(count, kept);
        assert_eq!(integrity_check(&writer), "ok");
    }

    #[test]
    fn the_database_file_itself_is_the_default_vfs_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        let conn = open_buffered(&path);
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .expect("schema");
        drop(conn);
        // Reopened without the wrapper, after the WAL was folded back on close.
        let plain = Connection::open(&path).expect("opens");
        let x: i64 = plain.query_row("SELECT x FROM t", [], |r| r.get(0)).expect("row");
        assert_eq!(x, 1);
        assert_eq!(wal_len(&path), 0, "closing the last connection folded the WAL away");
    }

    /// One event of a generated batch: rows to insert (by body length), rows to grow or
    /// delete (by a pick among existing ids), and whether its savepoint is rolled back.
    #[derive(Debug, Clone)]
    struct Event {
        inserts: Vec<usize>,
        updates: Vec<(u16, usize)>,
        deletes: Vec<u16>,
        rolled_back: bool,
    }

    fn event() -> impl Strategy<Value = Event> {
        (
            prop::collection::vec(0usize..9000, 0..6),
            prop::collection::vec((any::<u16>(), 0usize..5000), 0..4),
            prop::collection::vec(any::<u16>(), 0..3),
            prop::bool::weighted(0.2),
        )
            .prop_map(|(inserts, updates, deletes, rolled_back)| Event {
                inserts,
                updates,
                deletes,
                rolled_back,
            })
    }

    /// A transaction of events, committed or rolled back, then maybe a checkpoint by
    /// another connection (0: none, 1: passive, 2: truncate).
    fn batch() -> impl Strategy<Value = (Vec<Event>, bool, u8)> {
        (prop::collection::vec(event(), 1..12), prop::bool::weighted(0.9), 0u8..3)
    }

    fn apply(conn: &Connection, events: &[Event], commit: bool, seed: &mut u8) {
        conn.execute_batch("BEGIN").expect("begin");
        for event in events {
            conn.execute_batch("SAVEPOINT event").expect("savepoint");
            let ids: Vec<i64> = conn
                .prepare_cached("SELECT id FROM t ORDER BY id")
                .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
                .expect("ids");
            for len in &event.inserts {
                *seed = seed.wrapping_add(1);
                conn.execute("INSERT INTO t (body) VALUES (?1)", params![vec![*seed; *len]])
                    .expect("insert");
            }
            for (pick, len) in &event.updates {
                if let Some(id) = (!ids.is_empty()).then(|| ids[*pick as usize % ids.len()]) {
                    *seed = seed.wrapping_add(1);
                    conn.execute("UPDATE t SET body = ?1 WHERE id = ?2", params![vec![*seed; *len], id])
                        .expect("update");
                }
            }
            for pick in &event.deletes {
                if let Some(id) = (!ids.is_empty()).then(|| ids[*pick as usize % ids.len()]) {
                    conn.execute("DELETE FROM t WHERE id = ?1", params![id])
                        .expect("delete");
                }
            }
            let end = if event.rolled_back {
                "ROLLBACK TO event; RELEASE event"
            } else {
                "RELEASE event"
            };
            conn.execute_batch(end).expect("end savepoint");
        }
        conn.execute_batch(if commit { "COMMIT" } else { "ROLLBACK" })
            .expect("end transaction");
    }

    fn contents(conn: &Connection) -> Vec<(i64, Vec<u8>)> {
        conn.prepare("SELECT id, body FROM t ORDER BY id")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .expect("contents")
    }

    fn schema(conn: &Connection) {
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL);
             CREATE INDEX t_body ON t (body);",
        )
        .expect("schema");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Any sequence of batches of savepoints, rollbacks and checkpoints leaves the
        /// database written through this VFS, as another connection reads it after every
        /// transaction, equal to the same sequence on SQLite's own VFS.
        #[test]
        fn batches_read_back_as_on_the_default_vfs(batches in prop::collection::vec(batch(), 1..10)) {
            let dir = tempfile::tempdir().expect("tempdir");
            let buffered = open_buffered(&dir.path().join("buffered.sqlite"));
            // A small page cache spills pages of a transaction before its commit.
            buffered.pragma_update(None, "cache_size", 16).expect("cache");
            let plain = Connection::open(dir.path().join("plain.sqlite")).expect("plain");
            plain.pragma_update(None, "journal_mode", "WAL").expect("wal");
            schema(&buffered);
            schema(&plain);
            let reader = Connection::open(dir.path().join("buffered.sqlite")).expect("reader");
            let (mut seed_a, mut seed_b) = (0u8, 0u8);
            for (events, commit, checkpoint) in &batches {
                apply(&buffered, events, *commit, &mut seed_a);
                apply(&plain, events, *commit, &mut seed_b);
                prop_assert_eq!(contents(&reader), contents(&plain));
                match checkpoint {
                    1 => reader.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).expect("checkpoint"),
                    2 => reader.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint"),
                    _ => {}
                }
            }
            drop(buffered);
            prop_assert_eq!(contents(&reader), contents(&plain));
            prop_assert_eq!(integrity_check(&reader), "ok");
        }
    }
}
