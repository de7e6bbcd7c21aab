//! Every file the CLI reads (a policy, a routes file, scenarios, a URL list, a CA certificate,
//! standard input) is read up to 16 MiB and refused past it with exit 2, whatever never ends
//! (`/dev/zero`); and a policy of a hundred thousand origins is validated and exported in linear
//! time.

use std::fs::File;
use std::process::{Command, Stdio};

use super::{TempDir, crossgate};

/// `crossgate`'s limit on one input, in bytes (16 MiB).
const LIMIT: usize = 16 << 20;

/// The end of the refusal, after `cannot read FILE: `.
const TOO_LARGE: &str = "larger than 16 MiB (16777216 bytes), the most crossgate reads from one \
                         file (a fixed limit): is it the right file?";

/// Each command that reads a file, with `{}` where the file goes, and how its message names it.
/// None of them reaches the network: every one stops at the file.
const READERS: [(&[&str], &str); 10] = [
    (&["validate", "{}"], "cannot read {}"),
    (&["validate", "--json", "{}"], "cannot read {}"),
    (&["export", "--to", "nginx", "{}"], "cannot read {}"),
    (&["simulate", "{}"], "cannot read {}"),
    (
        &["audit", "--input", "{}", "http://127.0.0.1:9/"],
        "cannot read {}",
    ),
    (
        &["check", "http://127.0.0.1:9/", "--policy", "{}"],
        "cannot read the policy file {}",
    ),
    (
        &[
            "check",
            "http://127.0.0.1:9/",
            "--origin",
            "http://127.0.0.1:8001",
            "--cacert",
            "{}",
        ],
        "cannot read {}",
    ),
    (
        &[
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:9",
            "--policy",
            "{}",
        ],
        "cannot read the policy file {}",
    ),
    (
        &["proxy", "--listen", "127.0.0.1:0", "--config", "{}"],
        "cannot read the routes file {}",
    ),
    (&["simulate", "-"], "cannot read <stdin>"),
];

fn with(args: &[&str], file: &str) -> Vec<String> {
    args.iter().map(|a| a.replace("{}", file)).collect()
}

/// Runs `crossgate args…` with `/dev/zero` as standard input: the exit code and stderr.
fn crossgate_reading_zeros(args: &[String]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_crossgate"))
        .args(args)
        .stdin(File::open("/dev/zero").expect("/dev/zero"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("crossgate runs");
    (
        output.status.code().expect("crossgate exits, not killed"),
        String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    )
}

#[test]
fn an_endless_input_is_refused_after_the_limit() {
    // Before the limit, `crossgate validate /dev/zero` grew until the kernel killed it.
    for (args, name) in READERS {
        let args = with(args, "/dev/zero");
        let (code, stderr) = crossgate_reading_zeros(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        let name = name.replace("{}", "/dev/zero");
        assert_eq!(
            stderr,
            format!("crossgate: {name}: {TOO_LARGE}\n"),
            "{args:?}"
        );
    }
    let (code, stderr) = crossgate_reading_zeros(&with(&["validate", "-"], ""));
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(
        stderr,
        format!("crossgate: cannot read <stdin>: {TOO_LARGE}\n")
    );
}

#[test]
fn a_file_one_byte_over_the_limit_is_refused_and_one_at_it_is_read() {
    let dir = TempDir::new("input-limit");
    // Read whole, each would be refused for what it holds, with another message: a comment,
    // then a line that is not a policy, a routes file, a scenario, a URL or a certificate.
    let tail = "\nallow_origins = 1\n";
    let over = format!("#{}{tail}", "x".repeat(LIMIT + 1 - 1 - tail.len()));
    assert_eq!(over.len(), LIMIT + 1);
    let path = dir.file("over.toml", &over);
    for (args, name) in READERS.iter().filter(|(args, _)| !args.contains(&"-")) {
        let run = crossgate(
            &with(args, &path)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        let name = name.replace("{}", &path);
        assert_eq!(
            run.stderr,
            format!("crossgate: {name}: {TOO_LARGE}\n"),
            "{args:?}"
        );
    }

    let at = format!("#{}\n", "x".repeat(LIMIT - 2));
    assert_eq!(at.len(), LIMIT);
    let path = dir.file("at.toml", &at);
    let run = crossgate(&["validate", &path]);
    assert_eq!(run.code, 0, "{} bytes are read: {run:?}", at.len());
    assert!(
        run.stdout.contains(": valid (1 warning)\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_hundred_thousand_origins_are_checked_in_linear_time() {
    // Each entry was looked for among all those before it: 200,000 origins took half a minute
    // in release. With one hash probe per entry, this takes a second or two in a debug build; a
    // search of the list again would take minutes.
    const N: usize = 100_000;
    let dir = TempDir::new("input-linear");
    let mut policy = String::from("allow_origins = [\n");
    for i in 0..N {
        policy.push_str(&format!("  \"https://app{i}.example.com\",\n"));
    }
    policy.push_str("  \"https://app7.example.com\",\n]\n");
    let path = dir.file("long.toml", &policy);

    let run = crossgate(&["validate", &path]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with(&format!(
            "{path}: warning[duplicate] allow_origins[{N}] = \"https://app7.example.com\"\n"
        )),
        "{}",
        &run.stdout[..run.stdout.len().min(500)]
    );
    assert!(
        run.stdout.contains(": valid (1 warning)\n"),
        "{}",
        &run.stdout[..run.stdout.len().min(500)]
    );

    let run = crossgate(&["export", "--to", "nginx", &path]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout
            .matches(r#""~^https://app7\.example\.com$""#)
            .count(),
        1,
        "each origin once in the map"
    );
}
