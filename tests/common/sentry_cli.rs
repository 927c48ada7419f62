//! sentry-cli as its npm package installs it, run with a throwaway HOME and only the
//! settings a test gives it (nothing from the developer's environment).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The sentry-cli executable the npm package ships for this platform.
pub fn sentry_cli(deps: &Path) -> PathBuf {
    let node_modules = deps.join("node/node_modules");
    let native = node_modules.join("@sentry/cli-linux-x64/bin/sentry-cli");
    if native.exists() {
        native
    } else {
        node_modules.join(".bin/sentry-cli")
    }
}

/// A sentry-cli command against `base` with `token`, organization `errata`, project `default`.
pub fn cli(binary: &Path, home: &Path, base: &str, token: &str) -> Command {
    let mut command = Command::new(binary);
    for (key, _) in std::env::vars() {
        if key.starts_with("SENTRY") {
            command.env_remove(key);
        }
    }
    command
        .current_dir(home)
        .env("HOME", home)
        .env("SENTRY_URL", base)
        .env("SENTRY_AUTH_TOKEN", token)
        .env("SENTRY_ORG", "errata")
        .env("SENTRY_PROJECT", "default")
        .env("SENTRY_DISABLE_UPDATE_CHECK", "1")
        .env("SENTRY_LOG_LEVEL", "warn");
    command
}

/// Runs a command that must succeed, returning its output.
pub fn run(command: &mut Command) -> String {
    let (ok, output) = super::run_output(command);
    assert!(ok, "{command:?} failed:\n{output}");
    output
}
