//! `doctor` through the real binary against the emulator: what the token says (tenant,
//! app, permissions and the commands they allow), the sign-in form, the clock, the raw
//! photoUpdateSettings, and a canary user's look-up, photo and test upload.

use crate::util::{Cmd, Emulator, SECRET, photo_batch, tempdir};

const TID: &str = "0c5e7f3a-1b2d-4e6f-8a9b-0c1d2e3f4a5b";

fn doctor(emu: &Emulator, extra: &[&str]) -> Cmd {
    Cmd::new(&["doctor", "--tenant", "contoso.com", "--client-id", "app"])
        .args_str(&["--graph-url", &emu.url, "--login-url", &emu.url])
        .args_str(extra)
        .env("AZURE_CLIENT_SECRET", SECRET)
}

fn json(run: &crate::util::Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {}", run.stdout()))
}

fn command<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["commands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["command"] == name)
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

#[test]
fn doctor_shows_the_tenant_app_permissions_clock_and_settings() {
    let emu = Emulator::start(&["--tenant-id", TID, "--photo-source", "unset"]);
    let v = json(&doctor(&emu, &["--json"]).run().expect_code(0));
    assert_eq!(v["tid"], TID);
    assert_eq!(v["appid"], "app");
    assert_eq!(v["cloud"], "global");
    assert_eq!(v["graph_url"], emu.url);
    assert_eq!(v["credential"], "client secret");
    assert_eq!(v["consent"], true);
    for c in [
        "upload",
        "backup",
        "remove",
        "restore",
        "lock",
        "lock-status",
    ] {
        assert_eq!(command(&v, c)["allowed"], true, "{c}: {v}");
    }
    let skew = v["clock_skew_seconds"].as_i64().expect("measured");
    assert!(skew.abs() <= 2, "{skew}");
    // Raw, as the tenant has it: an unset source is simply absent.
    let settings = &v["photo_update_settings"];
    assert!(
        settings.is_object() && settings.get("source").is_none(),
        "{v}"
    );
    assert_eq!(v["problems"].as_array().unwrap().len(), 0, "{v}");

    let text = doctor(&emu, &[]).run().expect_code(0).stdout();
    assert!(
        text.contains(&format!("tenant: contoso.com (tid {TID})")),
        "{text}"
    );
    assert!(text.contains("everything checked is fine"), "{text}");
    assert!(!text.contains(SECRET), "the secret is never shown");
}

#[test]
fn doctor_without_consent_or_with_part_of_it() {
    let none = Emulator::start(&["--roles", "none"]);
    let run = doctor(&none, &["--json"]).run().expect_code(1);
    let v = json(&run);
    assert_eq!(v["consent"], false);
    assert_eq!(command(&v, "upload")["allowed"], false);
    let problems = v["problems"].to_string();
    assert!(problems.contains("admin consent not granted"), "{problems}");
    assert!(
        problems.contains("/adminconsent?client_id=app"),
        "{problems}"
    );
    assert!(v["photo_update_settings"].is_null());

    // Enough to upload, not to lock: fine for the job, and says what lock would need.
    let partial = Emulator::start(&["--roles", "User.Read.All,ProfilePhoto.ReadWrite.All"]);
    let v = json(&doctor(&partial, &["--json"]).run().expect_code(0));
    assert_eq!(command(&v, "upload")["allowed"], true);
    assert_eq!(
        command(&v, "lock")["missing"][0],
        "PeopleSettings.ReadWrite.All"
    );
    assert_eq!(command(&v, "lock-status")["allowed"], false);
    assert!(
        v["settings_error"]
            .as_str()
            .unwrap()
            .contains("PeopleSettings.Read.All"),
        "{v}"
    );
    let text = doctor(&partial, &[]).run().expect_code(0).stdout();
    assert!(
        text.contains("lock         needs PeopleSettings.ReadWrite.All"),
        "{text}"
    );

    // Look-ups only: upload cannot run, and the missing permission is named.
    let read = Emulator::start(&["--roles", "User.Read.All"]);
    let v = json(&doctor(&read, &["--json"]).run().expect_code(1));
    assert_eq!(command(&v, "restore")["allowed"], false);
    // User.Read.All also reads photos: backups are allowed.
    assert_eq!(command(&v, "backup")["allowed"], true);
    assert!(
        v["problems"][0]
            .as_str()
            .unwrap()
            .contains("upload cannot run: the app lacks ProfilePhoto.ReadWrite.All"),
        "{v}"
    );
}

#[test]
fn doctor_looks_a_canary_up_and_finds_or_misses_it() {
    let dir = tempdir();
    let (_, _, tenant) = photo_batch(dir.path(), 2, &[]);
    let emu = Emulator::start(&["--users", tenant.to_str().unwrap()]);
    let v = json(
        &doctor(&emu, &["--json", "--canary", "u1@contoso.test"])
            .run()
            .expect_code(0),
    );
    let c = &v["canary"];
    assert_eq!(c["found"], true, "{v}");
    assert_eq!(c["id"], "00000000-0000-4000-9000-000000000001");
    assert_eq!(c["upn"], "u1@contoso.test");
    assert_eq!(c["account_enabled"], true);
    assert!(
        c["photo_error"]
            .as_str()
            .unwrap()
            .starts_with("no photo yet"),
        "{c}"
    );
    // By employeeId too.
    let v = json(
        &doctor(&emu, &["--json", "--canary", "5000"])
            .run()
            .expect_code(0),
    );
    assert_eq!(v["canary"]["upn"], "u0@contoso.test");

    let run = doctor(&emu, &["--canary", "nobody@contoso.test"])
        .run()
        .expect_code(1);
    let text = run.stdout();
    assert!(
        text.contains("canary nobody@contoso.test: NOT FOUND"),
        "{text}"
    );
    assert!(
        text.contains("problem: canary nobody@contoso.test"),
        "{text}"
    );
    assert_eq!(emu.admin_json("/_emulator/stats")["photo_writes"], 0);
}

#[test]
fn doctor_canary_write_uploads_once_and_reads_it_back() {
    let dir = tempdir();
    let (photos, _, tenant) = photo_batch(dir.path(), 2, &[]);
    let photo = photos.join("5001.jpg");
    let emu = Emulator::start(&["--users", tenant.to_str().unwrap()]);
    let args = [
        "--json",
        "--canary",
        "u1@contoso.test",
        "--canary-write",
        photo.to_str().unwrap(),
    ];
    let v = json(&doctor(&emu, &args).run().expect_code(0));
    let w = &v["canary"]["write"];
    assert_eq!(w["uploaded"], true, "{v}");
    assert_eq!(w["read_back_ok"], true, "{v}");
    // 96x120 is smaller than 648: made at its own short side, never upscaled.
    assert_eq!(w["side"], 96);
    assert_eq!(w["read_back"]["width"], 96);
    assert_eq!(emu.admin_json("/_emulator/stats")["photo_writes"], 1);

    // Writes refused: the test upload says so, and doctor exits 1.
    let denied = Emulator::start(&["--users", tenant.to_str().unwrap(), "--deny-photo-writes"]);
    let run = doctor(&denied, &args[1..]).run().expect_code(1);
    let text = run.stdout();
    assert!(text.contains("test upload"), "{text}");
    assert!(
        text.contains("HTTP 403 Authorization_RequestDenied"),
        "{text}"
    );
}
