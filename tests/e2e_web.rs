//! The web UI in a real browser (headless Chromium driven by playwright-core) against the
//! real `errata` binary, with people made by `errata user create`: sign-in, CSRF refusals,
//! what a viewer may do, sign-out, cookie flags, and a Content-Security-Policy on every page
//! with no violation. The steps live in scripts/e2e/web.js; one server and one browser per
//! scenario group.

mod common;

use std::io::Write;

use common::*;

const ADMIN: (&str, &str) = ("admin@example.com", "admin password 1");
const VIEWER: (&str, &str) = ("viewer@example.com", "viewer password 1");

/// `errata user create EMAIL --role ROLE` on the server's data, the password on stdin.
fn create_user(server: &BinaryServer, email: &str, password: &str, role: &str) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_errata"));
    command
        .args(["user", "create", email, "--role", role])
        .env("ERRATA_DATA_DIR", server.dir.path())
        .env_remove("ERRATA_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(url) = database_url_of(server.dir.path()) {
        command.env("ERRATA_DATABASE_URL", url);
    }
    let mut child = command.spawn().expect("errata user create");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("password written");
    let output = child.wait_with_output().expect("errata user create ends");
    assert!(
        output.status.success(),
        "user create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id = String::from_utf8_lossy(&output.stdout);
    assert!(id.trim().parse::<i64>().is_ok(), "prints the new id, got {id:?}");
}

/// Runs steps of scripts/e2e/web.js in one browser; returns its output after checking that
/// every step reported `ok`.
fn run_steps(server: &BinaryServer, steps: &[&str]) -> String {
    let deps = e2e_deps("browser");
    let config = serde_json::json!({
        "base": server.base,
        "users": {
            "admin": {"email": ADMIN.0, "password": ADMIN.1},
            "viewer": {"email": VIEWER.0, "password": VIEWER.1},
        },
        "steps": steps,
    });
    let config_file = server.dir.path().join("web-steps.json");
    std::fs::write(&config_file, config.to_string()).expect("config written");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/e2e/web.js");
    let (ok, output) = run_output(
        std::process::Command::new("node")
            .arg(script)
            .arg(&config_file)
            .env("NODE_PATH", deps.join("browser/node_modules")),
    );
    assert!(ok, "browser steps failed:\n{output}");
    for step in steps.iter().chain(&["no-csp-problems"]) {
        assert!(
            output.contains(&format!("ok {step}\n")),
            "step {step} did not pass:\n{output}"
        );
    }
    output
}

#[test]
fn sign_in_csrf_roles_and_sign_out_in_a_browser() {
    let server = BinaryServer::start();
    create_user(&server, ADMIN.0, ADMIN.1, "admin");
    create_user(&server, VIEWER.0, VIEWER.1, "viewer");
    run_steps(
        &server,
        &[
            "wrong-password-fails",
            "admin-signs-in-to-the-stream",
            "post-without-csrf-is-refused",
            "admin-sees-write-actions",
            "viewer-sees-no-write-actions-and-forged-writes-fail",
            "sign-out-ends-the-session",
        ],
    );
}
