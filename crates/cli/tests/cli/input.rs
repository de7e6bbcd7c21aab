//! Every file the CLI reads is checked in time linear in its number of entries: a policy of a
//! hundred thousand origins is validated and exported in seconds.

use super::{TempDir, crossgate};

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
