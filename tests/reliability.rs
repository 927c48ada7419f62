//! Durability under signals, a full disk and overload, against the real binary: every
//! event that got a 200 must be in the database afterwards.

mod support;

use std::process::Command;
use std::time::Duration;

use support::wait::{COMMAND_LIMIT, output_within};
use support::{Errata, Load, compare, integrity_check, stored_event_ids};

fn scratch() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let log = dir.path().join("errata.log");
    (dir, data, log)
}

#[test]
fn sigterm_under_load_refuses_with_503_drains_and_loses_no_acknowledged_event() {
    let (_dir, data, log) = scratch();
    // A grace period keeps the listener answering 503 for a moment, as a load balancer needs.
    let env = [("ERRATA_SHUTDOWN_GRACE_SECS", "1")];
    let server = Errata::start(&data, &log, &env, &[]);
    let key = server.credentials.public_key.clone();
    let load = Load::start(&server.base, &key, 1, 6, 2_000, 200);
    load.wait_for_acked(300);
    server.signal("TERM");
    let status = server.wait();
    let outcome = load.finish();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    assert!(
        outcome.count(503) > 0,
        "clients saw 503 while shutting down: {:?}",
        outcome.statuses
    );
    assert_eq!(outcome.missing_retry_after, 0, "every 503 carries Retry-After");

    let restarted = Errata::start(&data, &log, &[], &[]);
    let stored = stored_event_ids(&data.join("errata.sqlite3"));
    let missing = compare("SIGTERM", &outcome, &stored);
    assert_eq!(missing, 0, "acknowledged events lost");
    assert_eq!(integrity_check(&data.join("errata.sqlite3")), "ok");
    restarted.signal("TERM");
    let status = restarted.wait();
    assert!(
        status.success(),
        "restarted exit status after SIGTERM: {status:?}; log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn sigkill_under_load_keeps_every_acknowledged_event_and_a_sound_database() {
    let (_dir, data, log) = scratch();
    let server = Errata::start(&data, &log, &[], &[]);
    let key = server.credentials.public_key.clone();
    let load = Load::start(&server.base, &key, 2, 6, 2_000, 200);
    load.wait_for_acked(400);
    server.signal("KILL");
    let status = server.wait();
    let outcome = load.finish();
    assert!(!status.success(), "SIGKILL ends the process abruptly");

    let restarted = Errata::start(&data, &log, &[], &[]);
    let database = data.join("errata.sqlite3");
    assert_eq!(integrity_check(&database), "ok");
    let stored = stored_event_ids(&database);
    let missing = compare("SIGKILL", &outcome, &stored);
    assert_eq!(missing, 0, "acknowledged events lost");
    // The restarted server takes events again.
    let after = Load::start(&restarted.base, &key, 3, 1, 20, 0);
    after.wait_for_acked(20);
    assert_eq!(after.finish().acked.len(), 20);
    restarted.signal("TERM");
    assert!(restarted.wait().success());
}

/// A size-limited file system mounted for one test, unmounted when dropped.
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` at `path`. The test cannot run without one, so failing to
    /// mount fails the test, saying what is missing (root, or CAP_SYS_ADMIN in a container).
    fn mount(path: &std::path::Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(path).expect("mount point");
        let output = output_within(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(path),
            COMMAND_LIMIT,
        );
        assert!(
            output.status.success(),
            "this test needs a size-limited file system: `mount -t tmpfs` at {} failed (it needs \
             root, or CAP_SYS_ADMIN in a container): {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        SmallDisk {
            path: path.to_path_buf(),
        }
    }

    fn resize(&self, size: &str) {
        let output = output_within(
            Command::new("mount")
                .args(["-o", &format!("remount,size={size}")])
                .arg(&self.path),
            COMMAND_LIMIT,
        );
        assert!(
            output.status.success(),
            "remount failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = output_within(Command::new("umount").arg("-l").arg(&self.path), COMMAND_LIMIT);
    }
}

#[test]
fn a_full_disk_answers_503_keeps_acknowledged_events_and_recovers_when_space_returns() {
    let (dir, _, log) = scratch();
    let data = dir.path().join("small");
    let disk = SmallDisk::mount(&data, "3m");
    let server = Errata::start(&data, &log, &[], &[]);
    let key = server.credentials.public_key.clone();

    // Fill the disk: big, incompressible events until the server answers 503.
    let fill = Load::start(&server.base, &key, 4, 2, 1_500, 6_000);
    while !fill.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        let (status, _) = server.get("/ready", "");
        if status == 503 {
            break;
        }
    }
    // Keep pushing a little longer so clients meet the full disk.
    std::thread::sleep(Duration::from_millis(500));
    let full = fill.finish();
    assert!(
        full.count(503) > 0,
        "clients saw 503 on a full disk: {:?}",
        full.statuses
    );
    assert_eq!(full.missing_retry_after, 0, "every 503 carries Retry-After");
    assert_eq!(full.count(500), 0, "a full disk is not a server bug");
    let (ready, body) = server.get("/ready", "");
    assert_eq!(ready, 503, "not ready while the disk is full: {body}");
    assert!(
        body["disk_free_bytes"].as_u64().expect("free bytes") < 1 << 20,
        "{body}"
    );

    // Space returns: the same process takes events again, with no restart.
    disk.resize("64m");
    let mut recovered = false;
    for _ in 0..100 {
        if server.get("/ready", "").0 == 200 {
            recovered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(recovered, "ready again once space returned");
    let after = Load::start(&server.base, &key, 5, 2, 50, 6_000);
    std::thread::sleep(Duration::from_millis(10));
    let after = after.finish_when_done();
    assert_eq!(
        after.acked.len(),
        100,
        "every event accepted after recovery: {:?}",
        after.statuses
    );

    server.signal("TERM");
    assert!(server.wait().success());
    let database = data.join("errata.sqlite3");
    assert_eq!(integrity_check(&database), "ok");
    let stored = stored_event_ids(&database);
    let mut all = full;
    all.acked.extend(after.acked);
    for (status, n) in after.statuses {
        *all.statuses.entry(status).or_default() += n;
    }
    let missing = compare("disk full", &all, &stored);
    assert_eq!(missing, 0, "acknowledged events lost");
    drop(disk);
}

#[test]
fn a_full_queue_answers_429_with_retry_after_and_memory_stays_flat() {
    let (_dir, data, log) = scratch();
    let server = Errata::start(&data, &log, &[("ERRATA_QUEUE_CAPACITY", "1")], &[]);
    let key = server.credentials.public_key.clone();
    let warm = Load::start(&server.base, &key, 6, 16, 150, 2_000).finish_when_done();
    let before = server.rss_kib();
    let push = Load::start(&server.base, &key, 7, 16, 600, 2_000).finish_when_done();
    let after = server.rss_kib();
    eprintln!(
        "[back-pressure] warm-up {:?}; push {:?}; RSS {before} KiB -> {after} KiB",
        warm.statuses, push.statuses
    );
    assert!(
        push.count(429) > 0,
        "a one-slot queue overflows under 16 clients: {:?}",
        push.statuses
    );
    assert_eq!(push.missing_retry_after, 0, "every 429 carries Retry-After");
    assert_eq!(push.missing_rate_limits, 0, "every 429 carries X-Sentry-Rate-Limits");
    assert_eq!(push.count(500) + push.count(0), 0, "overload is answered, not failed");
    // Four times the work after warm-up must not grow memory with it.
    assert!(after < before + 32 * 1024, "RSS grew from {before} KiB to {after} KiB");
    server.signal("TERM");
    assert!(server.wait().success());
    let stored = stored_event_ids(&data.join("errata.sqlite3"));
    let mut all = warm;
    all.acked.extend(push.acked);
    assert_eq!(compare("back-pressure", &all, &stored), 0);
}
