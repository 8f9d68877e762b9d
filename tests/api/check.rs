//! `cio-relay check` on every fixture: valid files pass, each invalid one fails with exit code 2
//! and a message that names the bad key (`<name>.expected` holds the text it must contain).

use crate::helpers::relay_command;
use std::path::Path;

fn fixtures(kind: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(kind);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

fn check(path: &Path) -> std::process::Output {
    relay_command()
        .arg("check")
        .arg("--config")
        .arg(path)
        .output()
        .expect("run cio-relay")
}

#[test]
fn valid_configurations_pass_check() {
    for path in fixtures("valid") {
        let out = check(&path);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("configuration OK"), "{stdout}");
        assert!(stdout.contains("subscriptions ("), "{stdout}");
    }
}

#[test]
fn invalid_configurations_name_the_bad_key() {
    for path in fixtures("invalid") {
        let expected = std::fs::read_to_string(path.with_extension("expected"))
            .unwrap_or_else(|_| panic!("{} needs a .expected file", path.display()));
        let out = check(&path);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
        for needle in expected.lines().filter(|l| !l.is_empty()) {
            assert!(
                stderr.contains(needle),
                "{}: expected {needle:?} in:\n{stderr}",
                path.display()
            );
        }
    }
}

#[test]
fn a_bad_trigger_shows_the_expression_and_the_position() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config/invalid/bad_trigger_uppercase_and.toml");
    let out = check(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"type = "track" AND event = "x""#),
        "{stderr}"
    );
    assert!(
        stderr.contains('^'),
        "a caret points at the position: {stderr}"
    );
    assert!(
        stderr.contains("at position 15"),
        "the position is given: {stderr}"
    );
}

#[test]
fn the_embedded_default_passes_check() {
    let out = relay_command()
        .arg("check")
        .output()
        .expect("run cio-relay");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("DRY RUN"), "{stdout}");
    assert!(stdout.contains("Create or Update Person"), "{stdout}");
}
