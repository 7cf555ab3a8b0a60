//! Resumable runs: the state database skips what is unchanged, a SIGKILL at any moment
//! loses nothing and re-sends nothing confirmed, Ctrl-C stops cleanly, `status` tells.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::{Cmd, Emulator, photo_batch, read_csv_report, tempdir, upload_cmd};

/// Users whose upload the state database holds as confirmed.
fn confirmed(db: &Path) -> BTreeSet<String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare("SELECT user_key FROM users WHERE landed_at IS NOT NULL")
        .unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Photo writes per user and the SHA-256 of each stored photo, from the emulator.
fn tenant_photos(emu: &Emulator) -> HashMap<String, (u64, Option<String>)> {
    emu.admin_json("/_emulator/users")
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["userPrincipalName"].as_str().unwrap().to_lowercase(),
                (
                    u["writes"].as_u64().unwrap(),
                    u["sha256"].as_str().map(str::to_string),
                ),
            )
        })
        .collect()
}

fn photo_writes(emu: &Emulator) -> u64 {
    emu.admin_json("/_emulator/stats")["photo_writes"]
        .as_u64()
        .unwrap()
}

/// SHA-256 of what `process` makes of each user's photo: what the tenant must end with.
fn expected_photos(
    photos: &Path,
    staff: &Path,
    out: &Path,
    extra: &[&str],
) -> HashMap<String, String> {
    Cmd::new(&["process", "--match-column", "employeeId", "--photos"])
        .arg(photos)
        .arg("--users")
        .arg(staff)
        .arg("--out")
        .arg(out)
        .args_str(extra)
        .run()
        .expect_code(0);
    fs::read_dir(out)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().to_string();
            let user = name.trim_end_matches(".jpg").to_lowercase();
            let bytes = fs::read(e.path()).unwrap();
            (user, sha256_hex(&bytes))
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn count(rows: &[HashMap<String, String>], status: &str) -> usize {
    rows.iter().filter(|r| r["status"] == status).count()
}

#[test]
fn rerun_skips_unchanged_and_redoes_changed_failed_and_forced() {
    let dir = tempdir();
    let (photos, staff, tenant) = photo_batch(dir.path(), 12, &[]);
    let emu = Emulator::start(&["--users", tenant.to_str().unwrap()]);
    let db = dir.path().join("state.db");
    let report = dir.path().join("report.csv");
    let args = [
        "--no-backup",
        "--crop",
        "centre",
        "--state",
        db.to_str().unwrap(),
    ];
    upload_cmd(&emu, &photos, &staff, &report, &args)
        .run()
        .expect_code(0);
    assert_eq!(count(&read_csv_report(&report), "uploaded"), 12);

    // Nothing changed: nothing decoded, nothing sent.
    let run = upload_cmd(&emu, &photos, &staff, &report, &args)
        .run()
        .expect_code(0);
    assert_eq!(count(&read_csv_report(&report), "skipped-unchanged"), 12);
    assert!(
        run.stdout().contains("12 users skipped"),
        "{}",
        run.stdout()
    );
    assert_eq!(photo_writes(&emu), 12);

    // One photo replaced by another (same name), one made unreadable in place: the first
    // is sent again, the second fails and is retried once it is fixed.
    fs::copy(photos.join("5003.jpg"), photos.join("5001.jpg")).unwrap();
    let good_5002 = fs::read(photos.join("5002.jpg")).unwrap();
    fs::write(photos.join("5002.jpg"), b"not a photo any more").unwrap();
    upload_cmd(&emu, &photos, &staff, &report, &args)
        .run()
        .expect_code(1);
    let rows = read_csv_report(&report);
    let status_of = |rows: &[HashMap<String, String>], user: &str| {
        rows.iter().find(|r| r["user"] == user).unwrap()["status"].clone()
    };
    assert_eq!(status_of(&rows, "u1@contoso.test"), "uploaded");
    assert_eq!(status_of(&rows, "u2@contoso.test"), "invalid-image");
    assert_eq!(count(&rows, "skipped-unchanged"), 10);
    assert_eq!(photo_writes(&emu), 13);

    // The photo fixed: its last attempt failed, so it is done again.
    fs::write(photos.join("5002.jpg"), &good_5002).unwrap();
    upload_cmd(&emu, &photos, &staff, &report, &args)
        .run()
        .expect_code(0);
    assert_eq!(
        status_of(&read_csv_report(&report), "u2@contoso.test"),
        "uploaded"
    );
    assert_eq!(photo_writes(&emu), 14);

    // Other settings make other photos: everything is sent again.
    let mut bigger = args.to_vec();
    bigger.extend(["--quality", "80"]);
    upload_cmd(&emu, &photos, &staff, &report, &bigger)
        .run()
        .expect_code(0);
    assert_eq!(count(&read_csv_report(&report), "uploaded"), 12);
    assert_eq!(photo_writes(&emu), 26);

    // --force sends everything whatever the state says.
    let mut forced = bigger.clone();
    forced.push("--force");
    upload_cmd(&emu, &photos, &staff, &report, &forced)
        .run()
        .expect_code(0);
    assert_eq!(count(&read_csv_report(&report), "uploaded"), 12);
    assert_eq!(photo_writes(&emu), 38);

    // A dry run reads the state but writes nothing to it.
    let mut dry = bigger.clone();
    dry.push("--dry-run");
    upload_cmd(&emu, &photos, &staff, &report, &dry)
        .run()
        .expect_code(0);
    assert_eq!(count(&read_csv_report(&report), "skipped-unchanged"), 12);

    // `remove --state` makes the next upload send the photo again.
    let remove_csv = dir.path().join("remove.csv");
    fs::write(&remove_csv, "userPrincipalName\nu4@contoso.test\n").unwrap();
    Cmd::new(&["remove", "--tenant", "contoso", "--client-id", "app"])
        .args_str(&["--graph-url", &emu.url, "--login-url", &emu.url])
        .arg("--users")
        .arg(&remove_csv)
        .arg("--backup-dir")
        .arg(dir.path().join("removed"))
        .arg("--state")
        .arg(&db)
        .env("AZURE_CLIENT_SECRET", crate::util::SECRET)
        .run()
        .expect_code(0);
    upload_cmd(&emu, &photos, &staff, &report, &bigger)
        .run()
        .expect_code(0);
    let rows = read_csv_report(&report);
    assert_eq!(status_of(&rows, "u4@contoso.test"), "uploaded");
    assert_eq!(count(&rows, "skipped-unchanged"), 11);

    // `status` lists the runs and exports the latest one.
    let export = dir.path().join("status.json");
    let run = Cmd::new(&["status", "--state"])
        .arg(&db)
        .arg("--report")
        .arg(&export)
        .run()
        .expect_code(0);
    let out = run.stdout();
    assert!(out.contains("runs (newest first):"), "{out}");
    assert!(out.contains("remove"), "{out}");
    assert!(
        out.contains("done          12  (uploaded 1, skipped-unchanged 11)"),
        "{out}"
    );
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&export).unwrap()).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), 12, "{json}");
}

#[test]
fn sigkill_at_random_moments_loses_nothing_and_resends_nothing_confirmed() {
    const USERS: usize = 2000;
    let dir = tempdir();
    let (photos, staff, tenant) = photo_batch(dir.path(), USERS, &[]);
    let emu = Emulator::start(&[
        "--users",
        tenant.to_str().unwrap(),
        "--fail-rate",
        "0.03",
        "--write-latency-ms",
        "15",
    ]);
    let db = dir.path().join("state.db");
    let report = dir.path().join("report.csv");
    let args = [
        "--no-backup",
        "--crop",
        "centre",
        "--concurrency",
        "16",
        "--rate",
        "400",
        "--state",
        db.to_str().unwrap(),
    ];
    let seed: u64 = rand::random();
    eprintln!("kill points from seed {seed}");
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);

    // (users confirmed at that moment, their write counts then)
    let mut snapshots: Vec<HashMap<String, u64>> = Vec::new();
    let mut kills = 0;
    for _ in 0..4 {
        let before = photo_writes(&emu);
        let target = before + rand::Rng::random_range(&mut rng, 50..450);
        let mut child = upload_cmd(&emu, &photos, &staff, &report, &args).spawn();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut finished = false;
        while photo_writes(&emu) < target {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            assert!(Instant::now() < deadline, "upload made no progress");
            std::thread::sleep(Duration::from_millis(5));
        }
        if finished {
            break;
        }
        child.kill().unwrap(); // SIGKILL: no chance to clean up
        child.wait().unwrap();
        kills += 1;
        std::thread::sleep(Duration::from_millis(100));
        let tenant_now = tenant_photos(&emu);
        let done = confirmed(&db);
        snapshots.push(
            done.iter()
                .map(|u| (u.clone(), tenant_now.get(u).map_or(0, |t| t.0)))
                .collect(),
        );
    }
    assert!(
        kills >= 2,
        "the runs must have been killed mid-way (seed {seed})"
    );
    let last = snapshots.last().unwrap().len();
    assert!(
        last > 0 && last < USERS,
        "a kill must land mid-upload: {last} confirmed (seed {seed})"
    );

    upload_cmd(&emu, &photos, &staff, &report, &args)
        .run()
        .expect_code(0);
    let rows = read_csv_report(&report);
    assert_eq!(
        count(&rows, "uploaded") + count(&rows, "skipped-unchanged"),
        USERS
    );
    assert!(count(&rows, "skipped-unchanged") >= last, "seed {seed}");

    let tenant_end = tenant_photos(&emu);
    // No user whose upload had been confirmed was uploaded again.
    for (k, snap) in snapshots.iter().enumerate() {
        for (user, writes) in snap {
            assert_eq!(
                tenant_end[user].0, *writes,
                "{user} was confirmed before kill {k} and uploaded again (seed {seed})"
            );
        }
    }
    // Every user ends with exactly the right photo.
    let expected = expected_photos(
        &photos,
        &staff,
        &dir.path().join("made"),
        &["--crop", "centre"],
    );
    assert_eq!(expected.len(), USERS);
    for (user, hash) in &expected {
        assert_eq!(
            tenant_end[user].1.as_deref(),
            Some(hash.as_str()),
            "{user} does not have its photo (seed {seed})"
        );
    }
    // And one more run sends nothing at all.
    let writes = photo_writes(&emu);
    upload_cmd(&emu, &photos, &staff, &report, &args)
        .run()
        .expect_code(0);
    assert_eq!(count(&read_csv_report(&report), "skipped-unchanged"), USERS);
    assert_eq!(photo_writes(&emu), writes);
}

#[cfg(unix)]
fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

#[cfg(unix)]
fn wait_for_writes(emu: &Emulator, n: u64, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while photo_writes(emu) < n {
        assert!(
            child.try_wait().unwrap().is_none(),
            "upload ended too early"
        );
        assert!(Instant::now() < deadline, "upload made no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(unix)]
fn wait_exit(child: std::process::Child, within: Duration) -> std::process::Output {
    let pid = child.id();
    let start = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(within) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            signal(pid, "-KILL");
            panic!(
                "upload did not stop within {within:?} (started {:?} ago)",
                start.elapsed()
            );
        }
    }
}

// Unix signals (SIGINT); Windows has console events instead.
#[cfg(unix)]
#[test]
fn ctrl_c_finishes_in_flight_uploads_records_them_and_resumes() {
    const USERS: usize = 150;
    let dir = tempdir();
    let (photos, staff, tenant) = photo_batch(dir.path(), USERS, &[]);
    let emu = Emulator::start(&[
        "--users",
        tenant.to_str().unwrap(),
        "--write-latency-ms",
        "300",
    ]);
    let db = dir.path().join("state.db");
    let report = dir.path().join("report.csv");
    let args = [
        "--no-backup",
        "--crop",
        "centre",
        "--rate",
        "20",
        "--concurrency",
        "8",
        "--state",
        db.to_str().unwrap(),
    ];
    let mut child = upload_cmd(&emu, &photos, &staff, &report, &args).spawn();
    wait_for_writes(&emu, 20, &mut child);
    signal(child.id(), "-INT");
    let out = wait_exit(child, Duration::from_secs(30));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stdout.contains("interrupted:"), "{stdout}");
    assert!(stdout.contains("Run the same command again"), "{stdout}");
    assert!(stderr.contains("stopping"), "{stderr}");

    let rows = read_csv_report(&report);
    let uploaded = count(&rows, "uploaded");
    let pending = count(&rows, "pending");
    assert_eq!(uploaded + pending, USERS, "{rows:#?}");
    assert!(pending > 0 && uploaded >= 20);
    // Every upload that was in flight finished and was recorded: the tenant has exactly
    // the confirmed ones.
    assert_eq!(photo_writes(&emu), uploaded as u64);
    assert_eq!(confirmed(&db).len(), uploaded);

    let status = Cmd::new(&["status", "--state"])
        .arg(&db)
        .run()
        .expect_code(1);
    assert!(
        status.stdout().contains("interrupted (Ctrl-C)"),
        "{}",
        status.stdout()
    );
    assert!(
        status.stdout().contains(&format!("pending  {pending:>7}")),
        "{}",
        status.stdout()
    );

    upload_cmd(&emu, &photos, &staff, &report, &args)
        .run()
        .expect_code(0);
    let rows = read_csv_report(&report);
    assert_eq!(count(&rows, "skipped-unchanged"), uploaded);
    assert_eq!(count(&rows, "uploaded"), pending);
    assert_eq!(
        photo_writes(&emu),
        USERS as u64,
        "nobody was uploaded twice"
    );
}

// Unix signals (SIGTERM, SIGINT).
#[cfg(unix)]
#[test]
fn second_signal_stops_at_once_and_the_state_stays_usable() {
    const USERS: usize = 40;
    let dir = tempdir();
    let (photos, staff, tenant) = photo_batch(dir.path(), USERS, &[]);
    let emu = Emulator::start(&[
        "--users",
        tenant.to_str().unwrap(),
        "--write-latency-ms",
        "3000",
    ]);
    let db = dir.path().join("state.db");
    let report = dir.path().join("report.csv");
    let args = [
        "--no-backup",
        "--crop",
        "centre",
        "--concurrency",
        "16",
        "--state",
        db.to_str().unwrap(),
    ];
    let mut child = upload_cmd(&emu, &photos, &staff, &report, &args).spawn();
    wait_for_writes(&emu, 1, &mut child);
    let started = Instant::now();
    signal(child.id(), "-TERM");
    std::thread::sleep(Duration::from_millis(200));
    signal(child.id(), "-INT");
    let out = wait_exit(child, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(130));
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "the second signal must not wait for the 3 s uploads in flight"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped at once"));

    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);

    upload_cmd(&emu, &photos, &staff, &report, &args)
        .run()
        .expect_code(0);
    let expected = expected_photos(
        &photos,
        &staff,
        &dir.path().join("made"),
        &["--crop", "centre"],
    );
    let tenant_end = tenant_photos(&emu);
    for (user, hash) in &expected {
        assert_eq!(tenant_end[user].1.as_deref(), Some(hash.as_str()), "{user}");
    }
}
