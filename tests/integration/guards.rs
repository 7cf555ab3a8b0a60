//! Issue 14 items 1, 4 and 9 through the real binary: outputs never overwrite sources,
//! output names never collide, and Ctrl-C stops new uploads.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::util::{Cmd, Emulator, photo_batch, read_csv_report, tempdir, upload_cmd};

const UPNS: [&str; 3] = ["a@contoso.test", "b@contoso.test", "c@contoso.test"];

/// Photos named by UPN (so the output name equals the source name) and their CSV.
fn upn_photos(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let photos = dir.join("photos");
    photos_named(&photos, &UPNS);
    let csv = dir.join("users.csv");
    fs::write(&csv, format!("userPrincipalName\n{}\n", UPNS.join("\n"))).unwrap();
    (photos, csv)
}

fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = walk(dir);
    files.sort();
    files
}

fn walk(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push((p.display().to_string(), fs::read(&p).unwrap()));
        }
    }
    out
}

#[test]
fn process_refuses_an_out_folder_that_is_or_holds_the_photos() {
    let dir = tempdir();
    let (photos, csv) = upn_photos(dir.path());
    let before = snapshot(&photos);
    for out in [photos.clone(), photos.join("."), dir.path().to_path_buf()] {
        let run = Cmd::new(&["process", "--photos"])
            .arg(&photos)
            .arg("--users")
            .arg(&csv)
            .arg("--out")
            .arg(&out)
            .run()
            .expect_code(2);
        assert!(run.stderr().contains("--out"), "{}", run.stderr());
        assert_eq!(
            snapshot(&photos),
            before,
            "sources changed for --out {}",
            out.display()
        );
    }
    // A folder inside the photos folder is fine: discovery skips it, also on a re-run.
    let inside = photos.join("made");
    for _ in 0..2 {
        let report = dir.path().join("r.csv");
        Cmd::new(&["process", "--crop", "centre", "--photos"])
            .arg(&photos)
            .arg("--users")
            .arg(&csv)
            .arg("--out")
            .arg(&inside)
            .arg("--report")
            .arg(&report)
            .run()
            .expect_code(0);
        let rows = read_csv_report(&report);
        assert_eq!(rows.len(), 3, "{rows:#?}");
        assert!(rows.iter().all(|r| r["status"] == "processed"), "{rows:#?}");
    }
    for (path, bytes) in &before {
        assert_eq!(&fs::read(path).unwrap(), bytes, "{path} changed");
    }
    assert_eq!(fs::read_dir(&inside).unwrap().count(), 3);
}

#[test]
fn report_and_page_never_overwrite_the_users_csv_or_a_photo() {
    let dir = tempdir();
    let (photos, csv) = upn_photos(dir.path());
    let csv_before = fs::read(&csv).unwrap();
    let photo = photos.join("a@contoso.test.jpg");
    let photo_before = fs::read(&photo).unwrap();
    let run = Cmd::new(&["plan", "--photos"])
        .arg(&photos)
        .arg("--users")
        .arg(&csv)
        .arg("--report")
        .arg(&csv)
        .run()
        .expect_code(2);
    assert!(run.stderr().contains("users CSV"), "{}", run.stderr());
    let html_photo = photos.join("b@contoso.test.html");
    fs::copy(&photo, &html_photo).unwrap();
    let run = Cmd::new(&["plan", "--photos"])
        .arg(&photos)
        .arg("--users")
        .arg(&csv)
        .arg("--html")
        .arg(&html_photo)
        .run()
        .expect_code(2);
    assert!(run.stderr().contains("--html"), "{}", run.stderr());
    assert_eq!(fs::read(&csv).unwrap(), csv_before);
    assert_eq!(fs::read(&photo).unwrap(), photo_before);
    assert_eq!(fs::read(&html_photo).unwrap(), photo_before);
}

#[test]
fn output_names_never_collide_and_the_report_names_the_real_file() {
    let dir = tempdir();
    let photos = dir.path().join("photos");
    photos_named(&photos, &["1", "2", "3"]);
    let csv = dir.path().join("users.csv");
    // (`A_B` beside `a_b` would be one user: user names match without regard to case.)
    fs::write(&csv, "id,user\n1,a/b\n2,a_b\n3,a?b\n").unwrap();
    let out = dir.path().join("out");
    let report = dir.path().join("r.csv");
    Cmd::new(&[
        "process",
        "--crop",
        "centre",
        "--match-column",
        "id",
        "--user-column",
        "user",
    ])
    .arg("--photos")
    .arg(&photos)
    .arg("--users")
    .arg(&csv)
    .arg("--out")
    .arg(&out)
    .arg("--report")
    .arg(&report)
    .run()
    .expect_code(0);
    let rows = read_csv_report(&report);
    assert_eq!(rows.len(), 3);
    let mut names: Vec<String> = rows
        .iter()
        .map(|r| r["output_file"].to_lowercase())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 3, "{rows:#?}");
    let a_b = rows.iter().find(|r| r["user"] == "a_b").unwrap();
    assert_eq!(
        a_b["output_file"], "a_b.jpg",
        "the exact name keeps its plain file"
    );
    for r in &rows {
        let made = fs::read(out.join(&r["output_file"])).unwrap();
        assert_eq!(made.len().to_string(), r["output_bytes"], "{r:#?}");
    }
    assert_eq!(fs::read_dir(&out).unwrap().count(), 3);
}

fn photo_writes(emu: &Emulator) -> u64 {
    emu.admin_json("/_emulator/stats")["photo_writes"]
        .as_u64()
        .unwrap()
}

// Sends SIGINT (Unix signals); on Windows Ctrl-C is a console event, not testable from here.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_uploads_waiting_in_the_throttle() {
    const USERS: usize = 60;
    const CONCURRENCY: u64 = 2;
    let dir = tempdir();
    let (photos, staff, tenant) = photo_batch(dir.path(), USERS, &[]);
    let emu = Emulator::start(&[
        "--users",
        tenant.to_str().unwrap(),
        "--write-latency-ms",
        "200",
    ]);
    let report = dir.path().join("report.csv");
    let state = dir.path().join("state.db");
    let args = [
        "--no-backup",
        "--crop",
        "centre",
        "--rate",
        "5",
        "--concurrency",
        "2",
        "--state",
        state.to_str().unwrap(),
    ];
    let mut child = upload_cmd(&emu, &photos, &staff, &report, &args).spawn();
    wait_until(Duration::from_secs(60), || {
        assert!(
            child.try_wait().unwrap().is_none(),
            "upload ended too early"
        );
        photo_writes(&emu) >= 3
    });
    let at_signal = photo_writes(&emu);
    signal(child.id(), "-INT");
    let out = wait_exit(child, Duration::from_secs(40));
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = photo_writes(&emu);
    // Only the uploads already sent may finish (one more for the race between reading
    // the count and the signal); none of those queued in the throttle is sent.
    assert!(
        after <= at_signal + CONCURRENCY + 1,
        "{} photos written after Ctrl-C (at the signal: {at_signal})",
        after - at_signal
    );
    let rows = read_csv_report(&report);
    let uploaded = rows.iter().filter(|r| r["status"] == "uploaded").count() as u64;
    assert_eq!(
        uploaded, after,
        "every write that landed is reported uploaded"
    );
    let pending = rows.iter().filter(|r| r["status"] == "pending").count();
    assert_eq!(uploaded as usize + pending, USERS);
}

/// Writes a small distinct JPEG per name into `dir` (`<name>.jpg`), returns their paths.
pub fn photos_named(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let img = image::RgbImage::from_fn(660, 700, |x, y| {
                image::Rgb([(i * 61 % 256) as u8, (x * 3) as u8, (y * 2) as u8])
            });
            let path = dir.join(format!("{name}.jpg"));
            img.save(&path).unwrap();
            path
        })
        .collect()
}

/// Sends `sig` (like `-INT`) to a process. On Windows only `-KILL` exists (`taskkill /F`).
pub fn signal(pid: u32, sig: &str) {
    #[cfg(unix)]
    let mut cmd = {
        let mut cmd = std::process::Command::new("kill");
        cmd.args([sig, &pid.to_string()]);
        cmd
    };
    #[cfg(not(unix))]
    let mut cmd = {
        assert_eq!(sig, "-KILL", "only -KILL can be sent on Windows");
        let mut cmd = std::process::Command::new("taskkill");
        cmd.args(["/F", "/PID", &pid.to_string()]);
        cmd
    };
    let ok = cmd.status().unwrap().success();
    assert!(ok, "kill {sig} {pid}");
}

/// Waits for a child to exit, killing it (and failing) after `within`.
pub fn wait_exit(child: std::process::Child, within: Duration) -> std::process::Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(within) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            signal(pid, "-KILL");
            panic!("process did not end within {within:?}");
        }
    }
}

/// Polls `f` until it is true (or fails after `within`).
pub fn wait_until(within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "condition not met within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
