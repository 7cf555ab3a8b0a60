//! Usage and configuration errors: exit status 2, a message naming the flag or file.

use crate::util::{Cmd, tempdir};

#[test]
fn missing_photos_folder_is_a_usage_error() {
    let dir = tempdir();
    let csv = dir.path().join("users.csv");
    std::fs::write(&csv, "userPrincipalName\na@contoso.com\n").unwrap();
    let run = Cmd::new(&["plan", "--photos"])
        .arg(dir.path().join("nope"))
        .arg("--users")
        .arg(&csv)
        .run()
        .expect_code(2);
    assert!(run.stderr().contains("nope"), "{}", run.stderr());
}

#[test]
fn csv_without_the_named_column_is_a_usage_error() {
    let dir = tempdir();
    let csv = dir.path().join("users.csv");
    std::fs::write(&csv, "mail,name\na@contoso.com,A\n").unwrap();
    let run = Cmd::new(&["plan", "--photos"])
        .arg(dir.path())
        .arg("--users")
        .arg(&csv)
        .args_str(&["--match-column", "employeeId"])
        .run()
        .expect_code(2);
    let err = run.stderr();
    assert!(
        err.contains("employeeId") && err.contains("--match-column") && err.contains("mail, name"),
        "{err}"
    );
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let dir = tempdir();
    let csv = dir.path().join("users.csv");
    std::fs::write(&csv, "userPrincipalName\n").unwrap();
    for (flag, value) in [
        ("--quality", "0"),
        ("--max-bytes", "100"),
        ("--report", "r.txt"),
    ] {
        let run = Cmd::new(&["plan", "--photos"])
            .arg(dir.path())
            .arg("--users")
            .arg(&csv)
            .args_str(&[flag, value])
            .run()
            .expect_code(2);
        assert!(run.stderr().contains(flag), "{flag}: {}", run.stderr());
    }
}

/// What packagers ship: the man page and every completion script, from the real binary.
#[test]
fn generate_man_page_and_completions() {
    for kind in [
        "man",
        "complete-bash",
        "complete-zsh",
        "complete-fish",
        "complete-powershell",
    ] {
        let run = Cmd::new(&["generate", kind]).run().expect_code(0);
        // roff escapes every hyphen (`\-\-auth`).
        let text = run.stdout().replace('\\', "");
        assert!(text.contains("upload"), "{kind}: {text}");
        assert!(text.contains("--auth"), "{kind} lacks the upload flags");
    }
    let man = Cmd::new(&["generate", "man"]).run().stdout();
    assert!(
        man.starts_with(".ie") || man.contains(".TH"),
        "not roff: {man}"
    );
    // Hidden from users' help: it is for packagers.
    let help = Cmd::new(&["--help"]).run().expect_code(0).stdout();
    assert!(!help.contains("generate"), "{help}");
}

#[test]
fn demo_without_its_samples_says_why_once() {
    let dir = tempdir();
    let run = Cmd::new(&["demo", "--samples"])
        .arg(dir.path().join("nowhere"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .run();
    assert_ne!(run.code(), 0);
    let err = run.stderr();
    assert!(
        err.contains("tenant-users.csv") && err.contains("--samples"),
        "{err}"
    );
    // The cause once, not once per layer of the error's chain.
    assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
}

#[test]
fn emulator_store_that_cannot_be_made_says_why_once() {
    let dir = tempdir();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let run = Cmd::new(&["emulator", "--store"])
        .arg(file.join("store"))
        .run();
    assert_ne!(run.code(), 0);
    let err = run.stderr();
    assert!(err.contains("--store") && err.contains("a-file"), "{err}");
    assert_eq!(err.matches("(os error").count(), 1, "{err}");
}
