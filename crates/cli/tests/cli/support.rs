//! What every test of the `crossgate` binary needs: run it ([`crossgate`],
//! [`crossgate_with_stdin`]) and read what it printed ([`Run`], [`json`]), in a temporary
//! directory of its own ([`TempDir`]). Shared with `#[path]` by the `cli` and `peers` test
//! targets.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// What a run of `crossgate` produced.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `crossgate args…` with `stdin` as standard input; never a panic, whatever the outcome.
pub(crate) fn crossgate_with_stdin(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crossgate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("crossgate starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    input
        .write_all(stdin.as_bytes())
        .expect("stdin takes input");
    drop(input);
    let output = child.wait_with_output().expect("crossgate runs");
    let run = Run {
        code: output.status.code().expect("crossgate exits, not killed"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    };
    assert!(
        !run.stdout.contains("panicked") && !run.stderr.contains("panicked"),
        "crossgate {args:?} panicked: {run:?}"
    );
    run
}

/// Runs `crossgate args…` with empty standard input.
pub(crate) fn crossgate(args: &[&str]) -> Run {
    crossgate_with_stdin(args, "")
}

/// What `crossgate` printed on standard output, read as JSON.
pub(crate) fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).expect("stdout is JSON")
}

/// A fresh directory under the system's temporary directory, removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("crossgate-cli-tests-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    /// Writes `text` to `name` in the directory and returns its path as a string.
    pub(crate) fn file(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write temp file");
        path_str(&path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `path` as a string (temporary paths are UTF-8).
pub(crate) fn path_str(path: &Path) -> String {
    path.to_str().expect("temp paths are UTF-8").to_owned()
}
