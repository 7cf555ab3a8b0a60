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

/// The token's roles look right, but every photo write is refused (as when
/// ProfilePhoto.ReadWrite.All was removed after the token was issued): the breaker stops
/// the run after the first ten, leaves the rest pending, and a re-run after the fix
/// resumes.
#[test]
fn identical_refusals_on_the_first_writes_stop_the_run_and_a_rerun_resumes() {
    let dir = tempdir();
    let n = 40;
    let (photos, staff, tenant) = photo_batch(dir.path(), n, &[]);
    let emu = Emulator::start(&["--users", tenant.to_str().unwrap(), "--deny-photo-writes"]);
    let report = dir.path().join("report.csv");
    let state = dir.path().join("state.db");
    let args = [
        "--no-backup",
        "--crop",
        "centre",
        "--concurrency",
        "2",
        "--state",
        state.to_str().unwrap(),
    ];
    let run = upload_cmd(&emu, &photos, &staff, &report, &args)
        .run()
        .expect_code(2);
    let err = run.stderr();
    assert!(
        err.contains("first 10 photo writes all failed with HTTP 403 Authorization_RequestDenied"),
        "{err}"
    );
    assert!(err.contains("ProfilePhoto.ReadWrite.All"), "{err}");
    let stats = emu.admin_json("/_emulator/stats");
    let refused = stats["by_status"]["403"].as_u64().unwrap();
    assert!(
        (10..=14).contains(&refused),
        "10 writes and those in flight, not {n}: {stats}"
    );
    let rows = read_csv_report(&report);
    let count = |rows: &[std::collections::HashMap<String, String>], s: &str| {
        rows.iter().filter(|r| r["status"] == s).count()
    };
    // A write abandoned on its way may have reached Graph: pending, not failed.
    let failed = count(&rows, "failed");
    assert!((10..=refused as usize).contains(&failed), "{rows:#?}");
    assert_eq!(count(&rows, "pending"), n - failed, "{rows:#?}");
    for r in rows.iter().filter(|r| r["status"] == "failed") {
        assert_eq!(r["http_status"], "403");
        assert!(!r["request_id"].is_empty(), "Graph's request-id: {r:?}");
    }
    // The state database says the same: the run stopped, the rest is pending.
    let status = Cmd::new(&["status", "--state", state.to_str().unwrap()]).run();
    let text = status.stdout();
    assert!(text.contains("stopped early"), "{text}");
    let db = rusqlite::Connection::open(&state).unwrap();
    let count_items = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count_items("SELECT COUNT(*) FROM run_items WHERE status = 'pending'"),
        (n - failed) as i64
    );
    assert_eq!(
        count_items(
            "SELECT COUNT(*) FROM run_items WHERE status = 'failed' AND length(request_id) > 0"
        ),
        failed as i64,
        "every failure keeps Graph's request-id"
    );
    assert_eq!(
        count_items("SELECT COUNT(*) FROM users WHERE length(last_request_id) > 0"),
        failed as i64
    );
    drop(db);

    // The admin grants the permission; the same command finishes the job.
    emu.admin_json("/_emulator/allow-photo-writes");
    upload_cmd(&emu, &photos, &staff, &report, &args)
        .run()
        .expect_code(0);
    let rows = read_csv_report(&report);
    assert_eq!(count(&rows, "uploaded"), n, "{rows:#?}");
    assert_eq!(emu.admin_json("/_emulator/stats")["photo_writes"], n as u64);
}

/// The state database keys a tenant by the token's `tid`: a domain and the tenant's GUID
/// share one history.
#[test]
fn a_tenant_domain_and_its_guid_share_one_history() {
    let dir = tempdir();
    let (photos, staff, tenant) = photo_batch(dir.path(), 3, &[]);
    let guid = "3f2c9a10-5b7e-4d21-8c4f-9e0a1b2c3d4e";
    let emu = Emulator::start(&["--users", tenant.to_str().unwrap(), "--tenant-id", guid]);
    let report = dir.path().join("report.csv");
    let state = dir.path().join("state.db");
    let upload = |tenant: &str| {
        Cmd::new(&["upload", "--match-column", "employeeId"])
            .args_str(&["--tenant", tenant, "--client-id", "app"])
            .args_str(&["--graph-url", &emu.url, "--login-url", &emu.url])
            .args_str(&["--no-backup", "--crop", "centre"])
            .arg("--photos")
            .arg(&photos)
            .arg("--users")
            .arg(&staff)
            .arg("--report")
            .arg(&report)
            .arg("--state")
            .arg(&state)
            .env("AZURE_CLIENT_SECRET", SECRET)
            .run()
            .expect_code(0)
    };
    upload("Contoso.com");
    let statuses = |s: &str| {
        read_csv_report(&report)
            .iter()
            .filter(|r| r["status"] == s)
            .count()
    };
    assert_eq!(statuses("uploaded"), 3);
    upload(&guid.to_uppercase());
    assert_eq!(
        statuses("skipped-unchanged"),
        3,
        "same tenant, same history"
    );
    assert_eq!(emu.admin_json("/_emulator/stats")["photo_writes"], 3);
    let db = rusqlite::Connection::open(&state).unwrap();
    let scopes: Vec<String> = db
        .prepare("SELECT DISTINCT scope FROM users")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(scopes, [format!("{guid} @ {}", emu.url)]);
}

#[test]
fn writes_refused_as_unauthorised_even_with_fresh_tokens_stop_the_run() {
    let dir = tempdir();
    let n = 40;
    let (photos, staff, tenant) = photo_batch(dir.path(), n, &[]);
    let emu = Emulator::start(&["--users", tenant.to_str().unwrap(), "--reject-write-tokens"]);
    let report = dir.path().join("report.csv");
    let args = ["--no-backup", "--crop", "centre", "--concurrency", "2"];
    let run = upload_cmd(&emu, &photos, &staff, &report, &args)
        .run()
        .expect_code(2);
    let err = run.stderr();
    assert!(err.contains("stopped:") && err.contains("401"), "{err}");
    let stats = emu.admin_json("/_emulator/stats");
    let refused = stats["by_status"]["401"].as_u64().unwrap_or(0);
    assert!(
        refused < 2 * n as u64 - 20,
        "far fewer than every user's writes: {stats}"
    );
    assert!(
        stats["tokens_issued"].as_u64().unwrap() >= 2,
        "the token was renewed: {stats}"
    );
    let rows = read_csv_report(&report);
    assert!(
        rows.iter().filter(|r| r["status"] == "pending").count() >= 20,
        "{rows:?}"
    );
}
