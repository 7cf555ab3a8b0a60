//! Real directory data (issue 12): duplicate employeeIds, disabled and guest accounts,
//! values Graph refuses, and look-ups that fail for a while.

use std::fs;

use crate::util::{Cmd, Emulator, SECRET, photo_batch, read_csv_report, tempdir, upload_cmd};

fn writes_for(emu: &Emulator) -> serde_json::Value {
    emu.admin_json("/_emulator/stats")
}

#[test]
fn a_duplicate_employee_id_is_ambiguous_and_nobody_gets_the_photo() {
    let dir = tempdir();
    let (photos, staff, tenant) = photo_batch(dir.path(), 4, &[]);
    // A leaver's disabled account shares u1's employeeId; u2's account is disabled; u3 is
    // a guest.
    let mut t = fs::read_to_string(&tenant).unwrap();
    t = t.replace(
        "id,userPrincipalName,employeeId\n",
        "id,userPrincipalName,employeeId,accountEnabled,userType\n",
    );
    let mut lines: Vec<String> = t.lines().map(str::to_string).collect();
    for l in lines.iter_mut().skip(1) {
        let extra = if l.contains("u2@") {
            ",false,Member"
        } else if l.contains("u3@") {
            ",true,Guest"
        } else {
            ",true,Member"
        };
        l.push_str(extra);
    }
    lines.push("00000000-0000-4000-9000-999999999999,old.u1@contoso.test,5001,false,Member".into());
    fs::write(&tenant, lines.join("\n") + "\n").unwrap();
    let emu = Emulator::start(&["--users", tenant.to_str().unwrap()]);
    let report = dir.path().join("report.csv");
    // The CSV names users by employeeId (as HR exports often do).
    let args = [
        "--no-backup",
        "--crop",
        "centre",
        "--user-column",
        "employeeId",
    ];
    upload_cmd(&emu, &photos, &staff, &report, &args)
        .run()
        .expect_code(1);
    let rows = read_csv_report(&report);
    let by_file = |f: &str| rows.iter().find(|r| r["file"] == f).unwrap();
    let amb = by_file("5001.jpg");
    assert_eq!(amb["status"], "ambiguous", "{amb:?}");
    assert!(amb["detail"].contains("u1@contoso.test"), "{amb:?}");
    assert!(amb["detail"].contains("old.u1@contoso.test"), "{amb:?}");
    assert!(amb["detail"].contains("disabled"), "{amb:?}");
    assert_eq!(by_file("5000.jpg")["status"], "uploaded");
    let disabled = by_file("5002.jpg");
    assert_eq!(disabled["status"], "uploaded");
    assert!(
        disabled["notes"].contains("disabled-account"),
        "{disabled:?}"
    );
    assert!(by_file("5003.jpg")["notes"].contains("guest"));
    let users = emu.admin_json("/_emulator/users");
    let written: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["writes"].as_u64().unwrap_or(0) > 0)
        .map(|u| u["userPrincipalName"].as_str().unwrap_or(""))
        .collect();
    assert!(!written.iter().any(|u| u.contains("u1@")), "{written:?}");
    assert_eq!(writes_for(&emu)["photo_writes"], 3);
}

#[test]
fn a_value_graph_refuses_costs_one_row_not_the_look_up() {
    let dir = tempdir();
    let (photos, _staff, tenant) = photo_batch(dir.path(), 20, &[]);
    // Match by object id: one CSV row holds a value that is not a GUID, which makes Graph
    // refuse a whole `id in (...)` request.
    let mut staff = String::from("employeeId,id\n");
    for i in 0..20 {
        if i == 7 {
            staff.push_str("5007,not-a-guid\n");
        } else {
            staff.push_str(&format!("{},00000000-0000-4000-9000-{i:012}\n", 5000 + i));
        }
    }
    let staff_csv = dir.path().join("by-id.csv");
    fs::write(&staff_csv, staff).unwrap();
    let emu = Emulator::start(&["--users", tenant.to_str().unwrap()]);
    let report = dir.path().join("report.csv");
    upload_cmd(
        &emu,
        &photos,
        &staff_csv,
        &report,
        &["--no-backup", "--crop", "centre", "--user-column", "id"],
    )
    .run()
    .expect_code(1);
    let rows = read_csv_report(&report);
    let bad = rows.iter().find(|r| r["file"] == "5007.jpg").unwrap();
    assert_eq!(bad["status"], "user-not-found", "{bad:?}");
    assert!(bad["detail"].contains("GUID"), "{bad:?}");
    let uploaded = rows.iter().filter(|r| r["status"] == "uploaded").count();
    assert_eq!(uploaded, 19, "{rows:#?}");
}

#[test]
fn a_look_up_that_keeps_failing_leaves_its_users_pending_with_a_report() {
    let dir = tempdir();
    let (photos, staff, tenant) = photo_batch(dir.path(), 3, &[]);
    let emu = Emulator::start(&["--users", tenant.to_str().unwrap(), "--fail-rate", "1"]);
    let report = dir.path().join("report.csv");
    upload_cmd(
        &emu,
        &photos,
        &staff,
        &report,
        &["--max-attempts", "1", "--no-backup"],
    )
    .run()
    .expect_code(1);
    let rows = read_csv_report(&report);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    for r in &rows {
        assert_eq!(r["status"], "pending", "{r:?}");
        assert!(r["detail"].contains("run the same command again"), "{r:?}");
    }
}

/// `upload` with the Graph flags and no `--users`: the photo names are matched against
/// the tenant's directory.
fn upload_without_csv(emu: &Emulator, photos: &std::path::Path, report: &std::path::Path) -> Cmd {
    Cmd::new(&[
        "upload",
        "--tenant",
        "contoso",
        "--client-id",
        "app",
        "--no-backup",
    ])
    .args_str(&["--graph-url", &emu.url, "--login-url", &emu.url])
    .arg("--photos")
    .arg(photos)
    .arg("--report")
    .arg(report)
    .env("AZURE_CLIENT_SECRET", SECRET)
}

#[test]
fn without_a_csv_photo_names_are_matched_against_the_directory() {
    let dir = tempdir();
    let (photos, _, tenant) = photo_batch(dir.path(), 6, &[]);
    // A leaver's account still holds 5002: that photo must go to neither.
    let mut users = std::fs::read_to_string(&tenant).unwrap();
    users.push_str("00000000-0000-4000-9000-999999999999,leaver@contoso.test,5002\n");
    std::fs::write(&tenant, users).unwrap();
    let emu = Emulator::start(&["--users", tenant.to_str().unwrap()]);
    let report = dir.path().join("r.csv");
    let run = upload_without_csv(&emu, &photos, &report)
        .args_str(&["--match-property", "employeeId"])
        .run()
        .expect_code(1);
    let rows = read_csv_report(&report);
    let status = |s: &str| rows.iter().filter(|r| r["status"] == s).count();
    assert_eq!(
        (status("uploaded"), status("ambiguous")),
        (5, 1),
        "{}",
        run.stdout()
    );
    let amb = rows.iter().find(|r| r["status"] == "ambiguous").unwrap();
    assert!(
        amb["detail"].contains("leaver@contoso.test") && amb["detail"].contains("u2@contoso.test"),
        "{amb:?}"
    );
    assert_eq!(rows.len(), 6, "no rows for tenant users without a photo");
    let stats = emu.admin_json("/_emulator/stats");
    assert_eq!(stats["lookups"], 0, "one listing, no look-ups: {stats}");
    assert_eq!(stats["photo_writes"], 5);

    // By UPN (the default), as the file names are written: any case.
    let by_upn = dir.path().join("by-upn");
    std::fs::create_dir(&by_upn).unwrap();
    std::fs::copy(photos.join("5000.jpg"), by_upn.join("u0@contoso.test.jpg")).unwrap();
    std::fs::copy(photos.join("5001.jpg"), by_upn.join("U1@Contoso.Test.jpg")).unwrap();
    std::fs::copy(
        photos.join("5003.jpg"),
        by_upn.join("nobody@contoso.test.jpg"),
    )
    .unwrap();
    let report = dir.path().join("upn.csv");
    upload_without_csv(&emu, &by_upn, &report)
        .args_str(&["--state", dir.path().join("upn.db").to_str().unwrap()])
        .run()
        .expect_code(0);
    let rows = read_csv_report(&report);
    let uploaded: Vec<&str> = rows
        .iter()
        .filter(|r| r["status"] == "uploaded")
        .map(|r| r["user"].as_str())
        .collect();
    assert_eq!(uploaded.len(), 2, "{rows:?}");
    let nobody = rows.iter().find(|r| r["status"] == "no-user").unwrap();
    assert!(
        nobody["detail"].contains("no user in the tenant has userPrincipalName"),
        "{nobody:?}"
    );
    // plan and process cannot sign in: they say the CSV is needed.
    Cmd::new(&["plan", "--photos"])
        .arg(&by_upn)
        .run()
        .expect_code(2);
}
