//! A real SMTP server for the e-mail tests: aiosmtpd (installed for the tests as the SDKs
//! are, by scripts/e2e/setup.sh) on 127.0.0.1, storing every accepted mail in a Maildir.

use std::time::{Duration, Instant};

/// Waiting for the server to listen gives up after this long.
const BOUND: Duration = Duration::from_secs(20);

pub struct Smtp {
    child: std::process::Child,
    pub port: u16,
    maildir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtp {
    /// aiosmtpd storing every accepted mail in a Maildir.
    pub fn start() -> Smtp {
        let deps = super::e2e_deps("smtp");
        let maildir = tempfile::tempdir().expect("maildir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = std::process::Command::new(deps.join("smtp-venv/bin/python"))
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path().join("mail"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < BOUND, "aiosmtpd did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        Smtp { child, port, maildir }
    }

    pub fn mails(&self) -> Vec<String> {
        let new = self.maildir.path().join("mail/new");
        let Ok(entries) = std::fs::read_dir(new) else {
            return vec![];
        };
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect()
    }
}
