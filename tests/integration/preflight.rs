//! Before and during the first real run (issue 12): the permission preflight (a token
//! without consent or without a needed permission stops the command after sign-in,
//! before any Graph request, with exit 2, naming what is missing and the admin-consent
//! URL) and staged roll-outs with `--limit`.

use crate::util::{Cmd, Emulator, SECRET, photo_batch, read_csv_report, tempdir, upload_cmd};

fn graph_requests(emu: &Emulator) -> u64 {
    emu.admin_json("/_emulator/stats")["requests"]
        .as_u64()
        .unwrap()
}

#[test]
fn upload_without_admin_consent_stops_before_any_request() {
    let dir = tempdir();
    let (photos, staff, tenant) = photo_batch(dir.path(), 5, &[]);
    let emu = Emulator::start(&["--users", tenant.to_str().unwrap(), "--roles", "none"]);
    let report = dir.path().join("report.csv");
    let run = upload_cmd(&emu, &photos, &staff, &report, &["--no-backup"])
        .run()
        .expect_code(2);
    let err = run.stderr();
    assert!(err.contains("admin consent not granted"), "{err}");
    assert!(err.contains("/adminconsent?client_id=app"), "{err}");
    assert_eq!(graph_requests(&emu), 0, "nothing but sign-in was asked");
}

#[test]
fn upload_names_the_missing_write_permission() {
    let dir = tempdir();
    let (photos, staff, tenant) = photo_batch(dir.path(), 5, &[]);
    let emu = Emulator::start(&[
        "--users",
        tenant.to_str().unwrap(),
        "--roles",
        "User.Read.All,ProfilePhoto.Read.All",
    ]);
    let report = dir.path().join("report.csv");
    let run = upload_cmd(&emu, &photos, &staff, &report, &[])
        .run()
        .expect_code(2);
    let err = run.stderr();
    assert!(err.contains("ProfilePhoto.ReadWrite.All"), "{err}");
    assert!(
        !err.contains("User.Read.All (to"),
        "look-ups are granted: {err}"
    );
    assert_eq!(graph_requests(&emu), 0);
    // A dry run only looks users up: the same token is enough for it.
    upload_cmd(&emu, &photos, &staff, &report, &["--dry-run"])
        .run()
        .expect_code(0);
    let rows = read_csv_report(&report);
    assert_eq!(
        rows.iter()
            .filter(|r| r["status"] == "would-upload")
            .count(),
        5,
        "{rows:#?}"
    );
}

#[test]
fn lock_status_needs_a_people_settings_permission() {
    let emu = Emulator::start(&["--roles", "User.Read.All,ProfilePhoto.ReadWrite.All"]);
    let run = Cmd::new(&["lock-status"])
        .args_str(&["--tenant", "contoso", "--client-id", "app"])
        .args_str(&["--graph-url", &emu.url, "--login-url", &emu.url])
        .env("AZURE_CLIENT_SECRET", SECRET)
        .run()
        .expect_code(2);
    assert!(
        run.stderr().contains("PeopleSettings.Read.All"),
        "{}",
        run.stderr()
    );
    assert_eq!(graph_requests(&emu), 0);
}

#[test]
fn limit_uploads_a_few_then_the_next_few() {
    let dir = tempdir();
    let (photos, staff, tenant) = photo_batch(dir.path(), 5, &[]);
    let emu = Emulator::start(&["--users", tenant.to_str().unwrap()]);
    let report = dir.path().join("report.csv");
    let state = dir.path().join("state.db");
    let args = [
        "--no-backup",
        "--crop",
        "centre",
        "--limit",
        "2",
        "--state",
        state.to_str().unwrap(),
    ];
    upload_cmd(&emu, &photos, &staff, &report, &args)
        .run()
        .expect_code(0);
    let count = |rows: &[std::collections::HashMap<String, String>], s: &str| {
        rows.iter().filter(|r| r["status"] == s).count()
    };
    let rows = read_csv_report(&report);
    assert_eq!(count(&rows, "uploaded"), 2, "{rows:#?}");
    assert_eq!(count(&rows, "skipped"), 3, "{rows:#?}");
    assert!(rows.iter().any(|r| r["detail"].contains("--limit 2")));
    assert_eq!(emu.admin_json("/_emulator/stats")["photo_writes"], 2);
    upload_cmd(&emu, &photos, &staff, &report, &args)
        .run()
        .expect_code(0);
    let rows = read_csv_report(&report);
    assert_eq!(count(&rows, "skipped-unchanged"), 2, "{rows:#?}");
    assert_eq!(count(&rows, "uploaded"), 2, "{rows:#?}");
    assert_eq!(count(&rows, "skipped"), 1, "{rows:#?}");
    assert_eq!(emu.admin_json("/_emulator/stats")["photo_writes"], 4);
}
