//! `demo` through the real binary: the samples against the in-process emulator, and a
//! small rehearsal (`--users N`) with its figures.

use crate::util::{Cmd, read_csv_report, root, tempdir};

#[test]
fn demo_uploads_the_samples_and_skips_them_the_second_time() {
    let dir = tempdir();
    let run = Cmd::new(&["demo", "--samples"])
        .arg(root().join("samples"))
        .arg("--out")
        .arg(dir.path())
        .run()
        .expect_code(0);
    let out = run.stdout();
    assert!(
        out.contains("6 users skipped as unchanged, 0 uploaded"),
        "{out}"
    );
    assert!(
        out.contains("0 requests inside a Retry-After window"),
        "{out}"
    );
    let rows = read_csv_report(&dir.path().join("report.csv"));
    assert_eq!(rows.iter().filter(|r| r["status"] == "uploaded").count(), 6);
    assert_eq!(
        std::fs::read_dir(dir.path().join("uploaded"))
            .unwrap()
            .count(),
        6
    );
}

#[test]
fn a_rehearsal_uploads_every_generated_user_and_prints_the_figures() {
    let dir = tempdir();
    let run = Cmd::new(&["demo", "--users", "40", "--write-latency-ms", "50", "--out"])
        .arg(dir.path())
        .run()
        .expect_code(0);
    let out = run.stdout();
    assert!(out.contains("figures: 40 users in"), "{out}");
    assert!(
        out.contains("peak memory") && out.contains("state database"),
        "{out}"
    );
    let rows = read_csv_report(&dir.path().join("rehearsal-40/report.csv"));
    assert_eq!(rows.len(), 40);
    assert!(rows.iter().all(|r| r["status"] == "uploaded"), "{rows:?}");
    // Each generated user has a photo of their own.
    assert!(
        !rows.iter().any(|r| r["notes"].contains("same-photo")),
        "{rows:?}"
    );
    assert!(dir.path().join("rehearsal-40/report.html").is_file());
}
