//! Issue 14 hardening through the real binary: a bad JPEG does not poison its worker,
//! `plan` refuses what `process` cannot decode, FIFOs, file-size and decode-memory caps,
//! photos too small to use, unreadable folders, long CJK names, UTF-16 and `sep=` CSVs,
//! and PowerShell quoting in the Outlook-on-the-web script.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::{Cmd, Emulator, Run, SECRET, photo_batch, read_csv_report, tempdir, upload_cmd};

type Rows = HashMap<String, HashMap<String, String>>;

/// A textured JPEG (so that most of its bytes are scan data).
fn jpeg(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            seed.wrapping_add((x * y % 61) as u8),
            (x % 251) as u8,
            (y % 241) as u8,
        ])
    });
    let mut out = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut out),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    out
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 7])
    });
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// Report rows keyed by `file`, or by `user` for rows without a file.
fn rows(report: &Path) -> Rows {
    read_csv_report(report)
        .into_iter()
        .map(|r| {
            let key = if r["file"].is_empty() {
                r["user"].clone()
            } else {
                r["file"].clone()
            };
            (key, r)
        })
        .collect()
}

/// `plan` or `process` (with `--out DIR/out`) over `photos` and `users`.
fn photo_cmd(command: &str, dir: &Path, photos: &Path, users: &Path, extra: &[&str]) -> Cmd {
    let mut cmd = Cmd::new(&[command, "--photos"])
        .arg(photos)
        .arg("--users")
        .arg(users)
        .arg("--report")
        .arg(dir.join(format!("{command}.csv")))
        .args_str(extra);
    if command == "process" {
        cmd = cmd.arg("--out").arg(dir.join("out"));
    }
    cmd
}

/// Runs a command that must finish within `secs` (a hang is the bug being tested).
fn run_within(cmd: Cmd, secs: u64) -> Run {
    let args = cmd.args.clone();
    let mut child = cmd.spawn();
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("m365-photos {args:?} still running after {secs} s: it hangs");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Run {
        args,
        output: child.wait_with_output().unwrap(),
    }
}

#[track_caller]
fn assert_detail(rows: &Rows, key: &str, status: &str, needles: &[&str]) {
    let row = rows
        .get(key)
        .unwrap_or_else(|| panic!("no row for {key}: {rows:#?}"));
    assert_eq!(row["status"], status, "{key}: {row:?}");
    for n in needles {
        assert!(
            row["detail"].contains(n),
            "{key}: {n:?} not in {:?}",
            row["detail"]
        );
    }
}

#[test]
fn a_bad_jpeg_does_not_poison_later_jpegs_on_its_thread_in_plan_and_process() {
    let dir = tempdir();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    let good = jpeg(700, 760, 1);
    // Cut inside the markers: libjpeg-turbo fails while reading the header.
    let header_cut = good[..100].to_vec();
    // Cut inside the scan: the header is fine, the decode is not.
    let scan_cut = good[..good.len() * 6 / 10].to_vec();
    let mut users = String::from("userPrincipalName\n");
    // With -j 1 the work goes in CSV order: each bad file is followed by good ones.
    for (name, bytes) in [
        ("a-header-cut", &header_cut),
        ("b-good", &good),
        ("c-good", &good),
        ("d-scan-cut", &scan_cut),
        ("e-good", &good),
        ("f-header-cut", &header_cut),
        ("g-good", &good),
    ] {
        fs::write(photos.join(format!("{name}.jpg")), bytes).unwrap();
        users.push_str(&format!("{name}\n"));
    }
    let users_csv = dir.path().join("users.csv");
    fs::write(&users_csv, users).unwrap();
    for command in ["plan", "process"] {
        photo_cmd(command, dir.path(), &photos, &users_csv, &["-j", "1"])
            .run()
            .expect_code(1);
        let rows = rows(&dir.path().join(format!("{command}.csv")));
        let ok = if command == "plan" {
            "matched"
        } else {
            "processed"
        };
        for name in ["b-good", "c-good", "e-good", "g-good"] {
            assert_eq!(
                rows[&format!("{name}.jpg")]["status"],
                ok,
                "{command} {name}: {rows:#?}"
            );
        }
        // plan now says of the truncated scan what process says: it cannot be decoded.
        for name in ["a-header-cut", "d-scan-cut", "f-header-cut"] {
            assert_detail(&rows, &format!("{name}.jpg"), "invalid-image", &["JPEG"]);
        }
    }
    for name in ["b-good", "c-good", "e-good", "g-good"] {
        assert!(dir.path().join(format!("out/{name}.jpg")).is_file());
    }
}

#[test]
fn plan_refuses_a_png_that_process_cannot_decode() {
    let dir = tempdir();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    let mut bad = png(300, 300);
    // Garbage in the compressed data, headers intact (the CRC check catches it).
    let idat = bad.windows(4).position(|w| w == b"IDAT").unwrap();
    for b in &mut bad[idat + 20..idat + 60] {
        *b ^= 0x5A;
    }
    fs::write(photos.join("bad.png"), &bad).unwrap();
    fs::write(photos.join("good.png"), png(300, 300)).unwrap();
    let users = dir.path().join("users.csv");
    fs::write(&users, "userPrincipalName\nbad\ngood\n").unwrap();
    for command in ["plan", "process"] {
        photo_cmd(command, dir.path(), &photos, &users, &[])
            .run()
            .expect_code(1);
        let rows = rows(&dir.path().join(format!("{command}.csv")));
        assert_detail(
            &rows,
            "bad.png",
            "invalid-image",
            &["PNG could not be decoded"],
        );
        assert_eq!(rows["good.png"]["status"], "too-small", "{command}");
    }
}

#[test]
fn a_bad_jpeg_does_not_poison_later_uploads_on_its_thread() {
    let dir = tempdir();
    let (photos, staff, tenant) = photo_batch(dir.path(), 6, &[]);
    let big = jpeg(700, 760, 9);
    fs::write(photos.join("5000.jpg"), &big[..100]).unwrap();
    fs::write(photos.join("5003.jpg"), &big[..big.len() / 2]).unwrap();
    let emu = Emulator::start(&["--users", tenant.to_str().unwrap()]);
    let report = dir.path().join("upload.csv");
    upload_cmd(&emu, &photos, &staff, &report, &["-j", "1"])
        .run()
        .expect_code(1);
    let rows = rows(&report);
    for i in [0, 3] {
        assert_detail(
            &rows,
            &format!("{}.jpg", 5000 + i),
            "invalid-image",
            &["JPEG"],
        );
    }
    for i in [1, 2, 4, 5] {
        assert_eq!(
            rows[&format!("{}.jpg", 5000 + i)]["status"],
            "uploaded",
            "{rows:#?}"
        );
    }
    let users = emu.admin_json("/_emulator/users");
    for u in users.as_array().unwrap() {
        let upn = u["userPrincipalName"].as_str().unwrap();
        let want = if upn == "u0@contoso.test" || upn == "u3@contoso.test" {
            0
        } else {
            1
        };
        assert_eq!(u["writes"], want, "{u}");
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_named_jpg_is_skipped_without_being_opened() {
    let dir = tempdir();
    let photos = dir.path().join("photos");
    fs::create_dir_all(photos.join("sub")).unwrap();
    fs::write(photos.join("good.jpg"), jpeg(700, 760, 3)).unwrap();
    fs::write(photos.join("sub/real.jpg"), jpeg(700, 760, 4)).unwrap();
    // A link to a regular file inside the folder is still a photo.
    std::os::unix::fs::symlink("sub/real.jpg", photos.join("alias.jpg")).unwrap();
    let mkfifo = std::process::Command::new("mkfifo")
        .arg(photos.join("pipe.jpg"))
        .status()
        .unwrap();
    assert!(mkfifo.success());
    let users = dir.path().join("users.csv");
    fs::write(&users, "userPrincipalName\ngood\nreal\nalias\npipe\n").unwrap();
    for command in ["plan", "process"] {
        let cmd = photo_cmd(command, dir.path(), &photos, &users, &[]);
        run_within(cmd, 120).expect_code(0);
        let rows = rows(&dir.path().join(format!("{command}.csv")));
        assert_detail(
            &rows,
            "pipe.jpg",
            "skipped",
            &["FIFO", "not a regular file"],
        );
        assert_eq!(rows["pipe"]["status"], "no-photo");
        let ok = if command == "plan" {
            "matched"
        } else {
            "processed"
        };
        for file in ["good.jpg", "sub/real.jpg", "alias.jpg"] {
            assert_eq!(rows[file]["status"], ok, "{command} {file}");
        }
    }

    let (batch, staff, tenant) = photo_batch(&dir.path().join("batch"), 3, &[]);
    fs::remove_file(batch.join("5001.jpg")).unwrap();
    let mkfifo = std::process::Command::new("mkfifo")
        .arg(batch.join("5001.jpg"))
        .status()
        .unwrap();
    assert!(mkfifo.success());
    let emu = Emulator::start(&["--users", tenant.to_str().unwrap()]);
    let report = dir.path().join("upload.csv");
    run_within(upload_cmd(&emu, &batch, &staff, &report, &[]), 120).expect_code(0);
    let rows = rows(&report);
    assert_eq!(rows["5000.jpg"]["status"], "uploaded");
    assert_eq!(rows["5002.jpg"]["status"], "uploaded");
    assert_detail(&rows, "5001.jpg", "skipped", &["FIFO"]);
}

#[test]
fn files_over_max_file_size_are_refused_from_their_size_alone() {
    let dir = tempdir();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    // 2 GiB, sparse: a JPEG start, then nothing on disk.
    let huge = fs::File::create(photos.join("huge.jpg")).unwrap();
    std::io::Write::write_all(&mut &huge, &[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10]).unwrap();
    huge.set_len(2 << 30).unwrap();
    drop(huge);
    fs::write(photos.join("ok.jpg"), jpeg(700, 760, 5)).unwrap();
    let users = dir.path().join("users.csv");
    fs::write(&users, "userPrincipalName\nhuge\nok\n").unwrap();
    for command in ["plan", "process"] {
        photo_cmd(command, dir.path(), &photos, &users, &[])
            .run()
            .expect_code(1);
        let rows = rows(&dir.path().join(format!("{command}.csv")));
        assert_detail(
            &rows,
            "huge.jpg",
            "invalid-image",
            &["2147483648 bytes", "--max-file-size 104857600", "not read"],
        );
        let ok = if command == "plan" {
            "matched"
        } else {
            "processed"
        };
        assert_eq!(rows["ok.jpg"]["status"], ok);
    }
    photo_cmd(
        "plan",
        dir.path(),
        &photos,
        &users,
        &["--max-file-size", "1000"],
    )
    .run()
    .expect_code(1);
    let rows = rows(&dir.path().join("plan.csv"));
    assert_detail(&rows, "ok.jpg", "invalid-image", &["--max-file-size 1000"]);
}

/// Standard CRC-32 (PNG chunks).
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn a_png_that_would_need_too_much_decode_memory_is_refused_before_decoding() {
    let dir = tempdir();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    // A small 16-bit RGBA PNG whose header then claims 13000 x 13000: 169 MP, inside
    // --max-pixels, but 8 bytes a pixel (1.35 GB) to decode.
    let img = image::ImageBuffer::<image::Rgba<u16>, _>::from_pixel(
        16,
        16,
        image::Rgba([9, 9, 9, 65535]),
    );
    let mut bomb = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bomb),
        image::ImageFormat::Png,
    )
    .unwrap();
    assert_eq!(&bomb[12..16], b"IHDR");
    bomb[16..20].copy_from_slice(&13_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&13_000u32.to_be_bytes());
    let crc = crc32(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    fs::write(photos.join("bomb.png"), &bomb).unwrap();
    let users = dir.path().join("users.csv");
    fs::write(&users, "userPrincipalName\nbomb\n").unwrap();
    for command in ["plan", "process"] {
        photo_cmd(command, dir.path(), &photos, &users, &[])
            .run()
            .expect_code(1);
        let rows = rows(&dir.path().join(format!("{command}.csv")));
        assert_detail(
            &rows,
            "bomb.png",
            "invalid-image",
            &[
                "13000x13000",
                "1352000000 bytes of decode memory",
                "--max-pixels",
            ],
        );
    }
}

#[test]
fn photos_too_small_to_use_are_invalid_images() {
    let dir = tempdir();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    fs::write(photos.join("dot-jpg.jpg"), jpeg(1, 1, 0)).unwrap();
    fs::write(photos.join("dot-png.png"), png(1, 1)).unwrap();
    fs::write(photos.join("narrow.jpg"), jpeg(95, 400, 0)).unwrap();
    fs::write(photos.join("edge.jpg"), jpeg(96, 400, 0)).unwrap();
    let users = dir.path().join("users.csv");
    fs::write(
        &users,
        "userPrincipalName\ndot-jpg\ndot-png\nnarrow\nedge\n",
    )
    .unwrap();
    for command in ["plan", "process"] {
        photo_cmd(command, dir.path(), &photos, &users, &[])
            .run()
            .expect_code(1);
        let rows = rows(&dir.path().join(format!("{command}.csv")));
        for file in ["dot-jpg.jpg", "dot-png.png"] {
            assert_detail(
                &rows,
                file,
                "invalid-image",
                &["too small to use (1 px; at least 96)"],
            );
        }
        assert_detail(
            &rows,
            "narrow.jpg",
            "invalid-image",
            &["too small to use (95 px; at least 96)"],
        );
        assert_eq!(rows["edge.jpg"]["status"], "too-small", "{command}");
    }
    assert!(!dir.path().join("out/dot-jpg.jpg").exists());
    assert!(dir.path().join("out/edge.jpg").is_file());
}

/// A command for the binary as an unprivileged user (root reads any folder), or `None`
/// when that cannot be arranged here.
#[cfg(unix)]
fn unprivileged(args: &[&str]) -> Option<std::process::Command> {
    let uid = std::process::Command::new("id").arg("-u").output().ok()?;
    let root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
    let mut cmd = if root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(crate::util::bin());
        c
    } else {
        std::process::Command::new(crate::util::bin())
    };
    cmd.env("NO_COLOR", "1").args(args);
    Some(cmd)
}

#[cfg(unix)]
#[test]
fn an_unreadable_folder_fails_the_run_and_says_why() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let photos = dir.path().join("photos");
    fs::create_dir_all(photos.join("locked")).unwrap();
    fs::write(photos.join("ok.jpg"), jpeg(700, 760, 6)).unwrap();
    fs::write(photos.join("locked/hidden.jpg"), jpeg(700, 760, 7)).unwrap();
    let users = dir.path().join("users.csv");
    fs::write(&users, "userPrincipalName\nok\nhidden\n").unwrap();
    let report = dir.path().join("plan.csv");
    let args = [
        "plan",
        "--photos",
        photos.to_str().unwrap(),
        "--users",
        users.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    let can_run = unprivileged(&["--version"]).and_then(|mut c| c.output().ok());
    if !can_run.is_some_and(|o| o.status.success()) {
        eprintln!(
            "SKIPPED an_unreadable_folder_fails_the_run_and_says_why: cannot run the binary unprivileged (setpriv)"
        );
        return;
    }
    fs::set_permissions(photos.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
    let output = unprivileged(&args).unwrap().output().unwrap();
    fs::set_permissions(photos.join("locked"), fs::Permissions::from_mode(0o755)).unwrap();
    let run = Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        output,
    };
    let run = run.expect_code(1);
    let rows = rows(&report);
    assert_detail(
        &rows,
        "locked",
        "failed",
        &["cannot read this folder", "ermission denied"],
    );
    assert_detail(
        &rows,
        "hidden",
        "no-photo",
        &["1 folder(s) could not be read", "locked"],
    );
    assert_eq!(rows["ok.jpg"]["status"], "matched", "{}", run.stdout());

    // The photos folder itself unreadable: nothing can be matched, a usage error.
    fs::set_permissions(&photos, fs::Permissions::from_mode(0o000)).unwrap();
    let output = unprivileged(&args).unwrap().output().unwrap();
    fs::set_permissions(&photos, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot list it"), "{stderr}");
}

#[test]
fn long_cjk_user_names_make_short_distinct_output_files() {
    let dir = tempdir();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    fs::write(photos.join("1.jpg"), jpeg(700, 760, 8)).unwrap();
    fs::write(photos.join("2.jpg"), jpeg(700, 760, 9)).unwrap();
    // 89 CJK letters: 267 bytes before the domain, over the 255-byte name limit.
    let long = "山田太郎".repeat(22);
    let (a, b) = (
        format!("{long}甲@contoso.test"),
        format!("{long}乙@contoso.test"),
    );
    let users = dir.path().join("users.csv");
    fs::write(
        &users,
        format!("employeeId,userPrincipalName\n1,{a}\n2,{b}\n"),
    )
    .unwrap();
    photo_cmd(
        "process",
        dir.path(),
        &photos,
        &users,
        &["--match-column", "employeeId"],
    )
    .run()
    .expect_code(0);
    let rows = rows(&dir.path().join("process.csv"));
    let (fa, fb) = (&rows["1.jpg"], &rows["2.jpg"]);
    assert_eq!(fa["status"], "processed", "{fa:?}");
    assert_eq!(fb["status"], "processed", "{fb:?}");
    assert_ne!(fa["output_file"], fb["output_file"]);
    for f in [fa, fb] {
        let name = &f["output_file"];
        assert!(name.len() <= 204, "{} bytes: {name}", name.len());
        assert!(
            name.starts_with("山田太郎山田太郎") && name.ends_with(".jpg"),
            "{name}"
        );
        assert!(dir.path().join("out").join(name).is_file());
    }
}

#[test]
fn utf16_unicode_text_and_sep_line_csvs_are_read() {
    let dir = tempdir();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    fs::write(photos.join("10432.jpg"), jpeg(700, 760, 1)).unwrap();
    fs::write(photos.join("10433.jpg"), jpeg(700, 760, 2)).unwrap();
    // Excel's "Unicode text": UTF-16 LE with a byte-order mark, tab separated, CRLF.
    let text =
        "employeeId\tuserPrincipalName\r\n10432\tzoë@contoso.test\r\n10433\t山田@contoso.test\r\n";
    let mut utf16 = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        utf16.extend(u.to_le_bytes());
    }
    let unicode = dir.path().join("unicode.txt");
    fs::write(&unicode, utf16).unwrap();
    // `sep=;` names the delimiter; the header alone would say `,`.
    let sep = dir.path().join("sep.csv");
    fs::write(
        &sep,
        "sep=;\r\nemployeeId;userPrincipalName;name, given, middle, title\r\n10432;a@contoso.test;A\r\n10433;b@contoso.test;B\r\n",
    )
    .unwrap();
    // `csv_line` is the line in the file (the `sep=` line counts, as in any editor).
    for (csv, users, line) in [
        (&unicode, ["zoë@contoso.test", "山田@contoso.test"], "3"),
        (&sep, ["a@contoso.test", "b@contoso.test"], "4"),
    ] {
        photo_cmd(
            "plan",
            dir.path(),
            &photos,
            csv,
            &["--match-column", "employeeId"],
        )
        .run()
        .expect_code(0);
        let rows = rows(&dir.path().join("plan.csv"));
        for (file, user) in ["10432.jpg", "10433.jpg"].iter().zip(users) {
            assert_eq!(rows[*file]["status"], "matched", "{rows:#?}");
            assert_eq!(rows[*file]["user"], user);
        }
        assert_eq!(rows["10433.jpg"]["csv_line"], line);
    }
}

/// PowerShell's single-quote characters: `'` and U+2018-U+201B.
fn is_ps_quote(c: char) -> bool {
    matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}')
}

/// Reads one PowerShell verbatim (single-quoted) string literal as the PowerShell
/// tokenizer does: any single-quote character opens and ends it, and two in a row stand
/// for one. Returns the value and the text after the literal; `None` if unterminated.
fn read_ps_literal(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices().peekable();
    let (_, open) = chars.next()?;
    if !is_ps_quote(open) {
        return None;
    }
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        if !is_ps_quote(c) {
            value.push(c);
            continue;
        }
        match chars.peek() {
            Some(&(_, next)) if is_ps_quote(next) => {
                chars.next();
                value.push(next);
            }
            _ => return Some((value, &s[i + c.len_utf8()..])),
        }
    }
    None
}

#[test]
fn owa_script_users_survive_every_powershell_quote_character() {
    let dir = tempdir();
    let alphabet = [
        'x', '\'', '\u{2018}', '\u{2019}', '\u{201A}', '\u{201B}', '"', '$', '`', ';',
    ];
    let mut values = vec![
        "o’brien@contoso.test".to_string(),
        "x’; Remove-Mailbox -Identity boss -Confirm:$false; ’@contoso.test".to_string(),
    ];
    // Every string of one to three of these characters, made unique by a prefix.
    let mut combos: Vec<String> = Vec::new();
    for a in alphabet {
        combos.push(a.to_string());
        for b in alphabet {
            combos.push(format!("{a}{b}"));
            for c in alphabet {
                combos.push(format!("{a}{b}{c}"));
            }
        }
    }
    assert_eq!(combos.len(), 10 + 100 + 1000);
    for (i, c) in combos.iter().enumerate() {
        values.push(format!("u{i}{c}"));
        values.push(format!("u{i}-{c}-end"));
    }
    let users = dir.path().join("users.csv");
    let mut w = csv::Writer::from_path(&users).unwrap();
    w.write_record(["userPrincipalName"]).unwrap();
    for v in &values {
        w.write_record([v]).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let emu = Emulator::start(&[]);
    let script = dir.path().join("owa.ps1");
    Cmd::new(&["lock", "--owa-script"])
        .arg(&script)
        .arg("--users")
        .arg(&users)
        .args_str(&["--tenant", "contoso", "--client-id", "app"])
        .args_str(&["--graph-url", &emu.url, "--login-url", &emu.url])
        .env("AZURE_CLIENT_SECRET", SECRET)
        .run()
        .expect_code(0);
    let ps = fs::read_to_string(&script).unwrap();
    let start = ps.find("$users = @(\n").unwrap() + "$users = @(\n".len();
    let end = start + ps[start..].find("\n)\n").unwrap();
    let mut read = Vec::new();
    for line in ps[start..end].lines() {
        let literal = line.strip_prefix("    ").unwrap();
        let (value, rest) = read_ps_literal(literal)
            .unwrap_or_else(|| panic!("unterminated PowerShell string: {line}"));
        assert!(
            rest.is_empty() || rest == ",",
            "text after the string: {line}"
        );
        read.push(value);
    }
    assert_eq!(read, values);
}
