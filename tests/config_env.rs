//! `ERRATA_*` variables that are not settings: the service-link variables Kubernetes and
//! Docker inject never stop the server; a misspelt setting still does, naming the right one.

mod common;

use common::{BinaryServer, wait};

/// What Kubernetes injects into every pod of a namespace with a Service named `errata`
/// (port 8000, named `http`).
const KUBERNETES: &[(&str, &str)] = &[
    ("ERRATA_PORT", "tcp://10.96.12.34:8000"),
    ("ERRATA_PORT_8000_TCP", "tcp://10.96.12.34:8000"),
    ("ERRATA_PORT_8000_TCP_ADDR", "10.96.12.34"),
    ("ERRATA_PORT_8000_TCP_PORT", "8000"),
    ("ERRATA_PORT_8000_TCP_PROTO", "tcp"),
    ("ERRATA_SERVICE_HOST", "10.96.12.34"),
    ("ERRATA_SERVICE_PORT", "8000"),
    ("ERRATA_SERVICE_PORT_HTTP", "8000"),
];

#[test]
fn the_binary_serves_beside_kubernetes_service_variables() {
    let server = BinaryServer::start_in(tempfile::tempdir().expect("temp dir"), KUBERNETES);
    let index = server.get("/api/0/");
    assert_eq!(index["version"], "0", "{index}");
    let id = server.send_event(&serde_json::json!({"message": "from a pod"}));
    assert_eq!(id.len(), 32, "{id}");
    assert!(server.stop().success());
}

#[test]
fn the_binary_refuses_a_misspelt_setting_and_names_the_closest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_errata"));
    command
        .arg("serve")
        .env("ERRATA_DATA_DIR", dir.path())
        .env("ERRATA_BIND", "127.0.0.1:0")
        .env("ERRATA_RETENTON_DAYS", "30");
    for (name, value) in KUBERNETES {
        command.env(name, value);
    }
    let output = wait::output_within(&mut command, wait::COMMAND_LIMIT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "started with a misspelt setting: {stderr}");
    assert!(
        stderr.contains("ERRATA_RETENTON_DAYS") && stderr.contains("did you mean ERRATA_RETENTION_DAYS?"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("ERRATA_PORT"),
        "service links are not blamed: {stderr}"
    );
}
