//! Tenant commands against the emulator process with throttling and faults on: lock /
//! unlock / lock-status, backup, remove and restore, and the round trip
//! upload -> backup -> upload new -> restore -> the original bytes are back.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::util::{Cmd, Emulator, read_csv_report, tempdir};

const SECRET: &str = "emulator-secret";

/// Throttling (small bucket, Retry-After 1 s) and 15% 503/504 faults.
const HOSTILE: &[&str] = &[
    "--rate",
    "15",
    "--burst",
    "3",
    "--retry-after",
    "1",
    "--fail-rate",
    "0.15",
];

pub fn graph(emu: &Emulator, args: &[&str]) -> Cmd {
    Cmd::new(args)
        .args_str(&["--tenant", "contoso", "--client-id", "app"])
        .args_str(&["--graph-url", &emu.url, "--login-url", &emu.url])
        .env("AZURE_CLIENT_SECRET", SECRET)
}

fn status_json(emu: &Emulator) -> serde_json::Value {
    let run = graph(emu, &["lock-status", "--json"]).run().expect_code(0);
    serde_json::from_str(&run.stdout()).unwrap()
}

fn no_violations(emu: &Emulator) {
    let stats = emu.admin_json("/_emulator/stats");
    assert_eq!(stats["violations"], 0, "{stats}");
}

/// The run must actually have met throttling or faults, or it proves nothing.
fn was_hostile(emu: &Emulator) {
    let stats = emu.admin_json("/_emulator/stats");
    let met = stats["throttled"].as_u64().unwrap() + stats["faults"].as_u64().unwrap();
    assert!(met > 0, "no throttling or faults seen: {stats}");
}

#[test]
fn lock_unlock_status_round_trip_through_faults() {
    let dir = tempdir();
    let emu = Emulator::start(HOSTILE);
    assert_eq!(status_json(&emu)["locked"], false);

    let script = dir.path().join("owa.ps1");
    let run = graph(
        &emu,
        &[
            "lock",
            "--roles",
            "people-admin, 62E90394-69F5-4237-9190-012177145E10",
        ],
    )
    .arg("--owa-script")
    .arg(&script)
    .run()
    .expect_code(0);
    let text = run.stdout();
    assert!(
        text.contains("before:") && text.contains("after (read back)"),
        "{text}"
    );
    assert!(text.contains("changed and verified"), "{text}");
    assert!(text.contains("24 hours") && text.contains("beta"), "{text}");
    let ps = fs::read_to_string(&script).unwrap();
    assert!(ps.contains("-SetPhotoEnabled $false") && ps.contains("OwaMailboxPolicy-Default"));

    let s = status_json(&emu);
    assert_eq!(s["locked"], true);
    let names: Vec<&str> = s["allowedRoles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["people-admin", "global-admin"], "{s}");

    // Again: read, nothing to change.
    let again = graph(&emu, &["lock", "--roles", "global-admin,people-admin"])
        .run()
        .expect_code(0);
    assert!(
        again.stdout().contains("already as asked"),
        "{}",
        again.stdout()
    );

    graph(&emu, &["unlock"]).run().expect_code(0);
    let s = status_json(&emu);
    assert_eq!(s["locked"], false, "{s}");
    assert_eq!(s["allowedRoles"], serde_json::json!([]));

    // A bad role is a usage error before any request.
    graph(&emu, &["lock", "--roles", "helpdesk"])
        .run()
        .expect_code(2);
    no_violations(&emu);
    was_hostile(&emu);
}

#[test]
fn on_premises_is_explained_and_only_forced_changes_it() {
    let emu = Emulator::start(&["--photo-source", "onPremises", "--fail-rate", "0.1"]);
    let run = graph(&emu, &["lock"]).run().expect_code(1);
    assert!(run.stdout().contains("onPremises"), "{}", run.stdout());
    assert!(run.stdout().contains("Nothing was changed"));
    assert!(run.stdout().contains("24 hours"));
    assert_eq!(status_json(&emu)["source"], "onPremises");
    graph(&emu, &["unlock"]).run().expect_code(1);
    assert_eq!(status_json(&emu)["source"], "onPremises");

    graph(&emu, &["lock", "--force"]).run().expect_code(0);
    let s = status_json(&emu);
    assert_eq!(s["source"], "cloud");
    assert_eq!(s["allowedRoles"].as_array().unwrap().len(), 2, "{s}");
    no_violations(&emu);
}

/// A small JPEG whose colour depends on `seed`.
fn photo(path: &Path, seed: u8) {
    let img = image::RgbImage::from_fn(96, 120, |x, y| {
        image::Rgb([seed, (x * 3) as u8, (y * 2) as u8])
    });
    img.save(path).unwrap();
}

struct Tenant {
    dir: tempfile::TempDir,
    tenant_csv: PathBuf,
    /// a, b, c (no mailbox), ghost (unknown).
    users_csv: PathBuf,
}

fn tenant() -> Tenant {
    let dir = tempdir();
    let tenant_csv = dir.path().join("tenant.csv");
    fs::write(
        &tenant_csv,
        "id,userPrincipalName,mailbox\n\
         00000000-0000-4000-9000-00000000000a,a@contoso.test,exchange\n\
         00000000-0000-4000-9000-00000000000b,b@contoso.test,exchange\n\
         00000000-0000-4000-9000-00000000000c,c@contoso.test,none\n\
         00000000-0000-4000-9000-00000000000d,d@contoso.test,exchange\n",
    )
    .unwrap();
    let users_csv = dir.path().join("users.csv");
    fs::write(
        &users_csv,
        "userPrincipalName\na@contoso.test\nb@contoso.test\nc@contoso.test\nghost@contoso.test\n",
    )
    .unwrap();
    Tenant {
        dir,
        tenant_csv,
        users_csv,
    }
}

/// Uploads photos for a and b (colour `seed`); `extra` adds upload flags.
fn upload(
    emu: &Emulator,
    t: &Tenant,
    name: &str,
    seed: u8,
    extra: &[&str],
) -> Vec<HashMap<String, String>> {
    let photos = t.dir.path().join(name);
    fs::create_dir_all(&photos).unwrap();
    photo(&photos.join("a@contoso.test.jpg"), seed);
    photo(&photos.join("b@contoso.test.jpg"), seed.wrapping_add(60));
    let staff = t.dir.path().join(format!("{name}.csv"));
    fs::write(
        &staff,
        "userPrincipalName\na@contoso.test\nb@contoso.test\n",
    )
    .unwrap();
    let report = t.dir.path().join(format!("{name}-report.csv"));
    graph(emu, &["upload", "--crop", "centre"])
        .arg("--photos")
        .arg(&photos)
        .arg("--users")
        .arg(&staff)
        .arg("--report")
        .arg(&report)
        .args_str(extra)
        .run()
        .expect_code(0);
    read_csv_report(&report)
}

fn stored(emu: &Emulator) -> HashMap<String, (bool, Option<String>)> {
    emu.admin_json("/_emulator/users")
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["userPrincipalName"].as_str().unwrap().to_string(),
                (
                    u["has_photo"].as_bool().unwrap(),
                    u["sha256"].as_str().map(str::to_string),
                ),
            )
        })
        .collect()
}

fn by_user(rows: &[HashMap<String, String>]) -> HashMap<String, String> {
    rows.iter()
        .map(|r| (r["user"].clone(), r["status"].clone()))
        .collect()
}

#[test]
fn backup_upload_restore_round_trip_brings_the_original_bytes_back() {
    let t = tenant();
    let tenant_csv = t.tenant_csv.to_str().unwrap().to_string();
    let mut args = vec!["--users", tenant_csv.as_str()];
    args.extend_from_slice(HOSTILE);
    let emu = Emulator::start(&args);

    upload(&emu, &t, "originals", 10, &["--no-backup"]);
    let original = stored(&emu);
    assert!(original["a@contoso.test"].0 && original["b@contoso.test"].0);

    // backup: photos, a user without photo / mailbox / known to the tenant, all listed.
    let bk = t.dir.path().join("bk");
    let report = t.dir.path().join("backup.csv");
    graph(&emu, &["backup"])
        .arg("--users")
        .arg(&t.users_csv)
        .arg("--out")
        .arg(&bk)
        .arg("--report")
        .arg(&report)
        .run()
        .expect_code(1); // ghost is user-not-found
    let st = by_user(&read_csv_report(&report));
    assert_eq!(st["a@contoso.test"], "backed-up");
    assert_eq!(st["b@contoso.test"], "backed-up");
    assert_eq!(st["c@contoso.test"], "no-tenant-photo");
    assert_eq!(st["ghost@contoso.test"], "user-not-found");
    let manifest = read_csv_report(&bk.join("manifest.csv"));
    assert_eq!(manifest.len(), 4);
    for m in manifest.iter().filter(|m| m["status"] == "backed-up") {
        let bytes = fs::read(bk.join(&m["file"])).unwrap();
        assert_eq!(bytes.len().to_string(), m["bytes"]);
        assert_eq!(Some(&m["sha256"]), original[&m["upn"]].1.as_ref());
    }

    // upload new photos (the default backs the current ones up first) and lock afterwards.
    let bk2 = t.dir.path().join("bk2");
    let rows = upload(
        &emu,
        &t,
        "new",
        200,
        &["--backup-dir", bk2.to_str().unwrap(), "--lock"],
    );
    assert!(
        rows.iter()
            .filter(|r| r["status"] == "uploaded")
            .all(|r| r["notes"].contains("backed up")),
        "{rows:#?}"
    );
    assert_eq!(read_csv_report(&bk2.join("manifest.csv")).len(), 2);
    assert_eq!(status_json(&emu)["locked"], true);
    let replaced = stored(&emu);
    assert_ne!(replaced["a@contoso.test"].1, original["a@contoso.test"].1);

    // restore: the original bytes are back.
    let report = t.dir.path().join("restore.csv");
    graph(&emu, &["restore"])
        .arg("--from")
        .arg(&bk)
        .arg("--report")
        .arg(&report)
        .run()
        .expect_code(0);
    let st = by_user(&read_csv_report(&report));
    assert_eq!(st["a@contoso.test"], "restored");
    assert_eq!(st["b@contoso.test"], "restored");
    let back = stored(&emu);
    assert_eq!(back["a@contoso.test"].1, original["a@contoso.test"].1);
    assert_eq!(back["b@contoso.test"].1, original["b@contoso.test"].1);
    no_violations(&emu);
    was_hostile(&emu);
}

#[test]
fn remove_backs_up_first_and_dry_run_changes_nothing() {
    let t = tenant();
    let tenant_csv = t.tenant_csv.to_str().unwrap().to_string();
    let mut args = vec!["--users", tenant_csv.as_str()];
    args.extend_from_slice(HOSTILE);
    let emu = Emulator::start(&args);
    upload(&emu, &t, "originals", 30, &["--no-backup"]);
    let original = stored(&emu);

    let report = t.dir.path().join("dry.csv");
    graph(&emu, &["remove", "--dry-run"])
        .arg("--users")
        .arg(&t.users_csv)
        .arg("--report")
        .arg(&report)
        .run()
        .expect_code(1);
    let st = by_user(&read_csv_report(&report));
    assert_eq!(st["a@contoso.test"], "would-remove");
    assert_eq!(st["c@contoso.test"], "no-tenant-photo");
    assert_eq!(st["ghost@contoso.test"], "user-not-found");
    assert_eq!(stored(&emu), original);

    let rm = t.dir.path().join("rm");
    let report = t.dir.path().join("remove.json");
    graph(&emu, &["remove"])
        .arg("--users")
        .arg(&t.users_csv)
        .arg("--backup-dir")
        .arg(&rm)
        .arg("--report")
        .arg(&report)
        .run()
        .expect_code(1);
    let now = stored(&emu);
    assert!(!now["a@contoso.test"].0 && !now["b@contoso.test"].0);
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    assert!(json.to_string().contains("\"removed\""), "{json}");

    graph(&emu, &["restore"])
        .arg("--from")
        .arg(&rm)
        .run()
        .expect_code(0);
    assert_eq!(stored(&emu), original);
    no_violations(&emu);
}

#[test]
fn upload_lock_does_not_lock_after_a_failed_upload() {
    let t = tenant();
    let tenant_csv = t.tenant_csv.to_str().unwrap().to_string();
    let emu = Emulator::start(&["--users", tenant_csv.as_str()]);
    let photos = t.dir.path().join("p");
    fs::create_dir_all(&photos).unwrap();
    photo(&photos.join("a@contoso.test.jpg"), 1);
    photo(&photos.join("ghost@contoso.test.jpg"), 2);
    let report = t.dir.path().join("up.csv");
    let run = graph(&emu, &["upload", "--crop", "centre", "--lock"])
        .arg("--photos")
        .arg(&photos)
        .arg("--users")
        .arg(&t.users_csv)
        .arg("--report")
        .arg(&report)
        .run()
        .expect_code(1);
    assert!(run.stdout().contains("NOT locked"), "{}", run.stdout());
    let rows = read_csv_report(&report);
    assert!(rows.iter().any(|r| r["detail"].contains("NOT locked")));
    assert_eq!(status_json(&emu)["locked"], false);
    // The default backup folder sits beside the report and lists a (who had no photo).
    let backup = fs::read_dir(t.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("photo-backup-"))
        .expect("a time-stamped backup folder beside the report");
    let manifest = read_csv_report(&backup.path().join("manifest.csv"));
    assert_eq!(manifest.len(), 1, "{manifest:#?}");
    assert_eq!(manifest[0]["status"], "no-tenant-photo");
}

#[test]
fn backup_all_pages_through_every_user() {
    let dir = tempdir();
    let emu = Emulator::start(&["--generate-users", "1005", "--fail-rate", "0.05"]);
    let out = dir.path().join("all");
    let report = dir.path().join("all.csv");
    graph(
        &emu,
        &["backup", "--all", "--concurrency", "16", "--rate", "400"],
    )
    .arg("--out")
    .arg(&out)
    .arg("--report")
    .arg(&report)
    .run()
    .expect_code(0);
    let rows = read_csv_report(&report);
    assert_eq!(rows.len(), 1005);
    assert!(
        rows.iter().all(|r| r["status"] == "no-tenant-photo"),
        "{:?}",
        rows[0]
    );
    assert_eq!(read_csv_report(&out.join("manifest.csv")).len(), 1005);
    no_violations(&emu);
}
