//! Bounded waits on child processes: a child that hangs fails its test, saying which
//! command it was, instead of hanging the test run.
#![allow(dead_code)]

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Long enough for any errata command on a loaded machine.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(120);

/// Waits at most `limit` for `child` to exit; past that, kills it and panics.
pub fn wait_for(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not exit within {limit:?}");
            }
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    }
}

/// Runs `command` to completion within `limit`, capturing stdout and stderr as
/// `Command::output` does.
pub fn output_within(command: &mut Command, limit: Duration) -> Output {
    output_with_input_within(command, None, limit)
}

/// As `output_within`, with `input` written to the command's standard input (then closed).
pub fn output_with_input_within(command: &mut Command, input: Option<&[u8]>, limit: Duration) -> Output {
    let what = format!("{:?}", command.get_program());
    let mut child = command
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // A command that exits without reading all of it is not an error here.
        let _ = std::io::Write::write_all(&mut stdin, input);
    }
    let status = wait_for(&mut child, limit, &what);
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Runs `command` within `limit` with inherited output; its exit status.
pub fn status_within(command: &mut Command, limit: Duration) -> ExitStatus {
    let what = format!("{:?}", command.get_program());
    let mut child = command.spawn().unwrap_or_else(|e| panic!("start {what}: {e}"));
    wait_for(&mut child, limit, &what)
}

/// Lines a child prints on a pipe, read on a thread so each wait for the next one is bounded.
pub struct Lines {
    rx: std::sync::mpsc::Receiver<String>,
}

impl Lines {
    pub fn new(pipe: impl Read + Send + 'static) -> Lines {
        use std::io::BufRead;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                // Nobody listening any more: keep draining so the child never blocks.
                let _ = tx.send(line);
            }
        });
        Lines { rx }
    }

    /// The next line before `deadline`; `None` when the pipe closed (the child exited).
    /// Past the deadline, panics naming `what` was awaited.
    pub fn next_before(&self, deadline: Instant, what: &str) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(line) => Some(line),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("no {what} within the time allowed"),
        }
    }
}
