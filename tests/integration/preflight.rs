//! The permission preflight (issue 12): a token without consent or without a needed
//! permission stops the command after sign-in, before any Graph request, with exit 2,
//! naming what is missing and the admin-consent URL.

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
