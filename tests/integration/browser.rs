//! The HTML contact sheet as a real browser renders it: headless Chromium loads the page
//! from disk, offline, and the DOM it built is checked (cards, statuses, pictures, no
//! injected markup), plus a screenshot that must not be blank.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Cmd, root, tempdir};

/// Chromium, or `None` with a message (a failure when `M365_REQUIRE_BROWSER=1`, as the
/// README's test command sets, so CI cannot skip this silently).
fn chromium(test: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("M365_CHROMIUM").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/chromium")),
        Some(PathBuf::from("/usr/bin/chromium-browser")),
        Some(PathBuf::from("/usr/bin/google-chrome")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_file());
    if found.is_none() {
        let msg = format!("SKIPPED {test}: no Chromium found (install the `chromium` package)");
        assert!(
            std::env::var("M365_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "{msg}, but M365_REQUIRE_BROWSER=1"
        );
        eprintln!("{msg}");
    }
    found
}

/// Runs headless Chromium with the flags this closed network needs, with a deadline.
fn run_chromium(browser: &Path, profile: &Path, extra: &[String], url: &str) -> Vec<u8> {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().expect("chromium stdout");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut buf).ok();
        buf
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

#[test]
fn contact_sheet_renders_in_chromium() {
    let Some(browser) = chromium("contact_sheet_renders_in_chromium") else {
        return;
    };
    let dir = tempdir();
    // The samples, plus a photo whose name is markup: it must show as text.
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    for entry in std::fs::read_dir(root().join("samples/photos")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), photos.join(entry.file_name())).unwrap();
        }
    }
    let evil = "<img id=\"injected\" src=x>";
    std::fs::copy(
        root().join("samples/photos/10432.jpg"),
        photos.join(format!("{evil}.jpg")),
    )
    .unwrap();
    let users = dir.path().join("users.csv");
    let mut csv = std::fs::read_to_string(root().join("samples/users.csv")).unwrap();
    let delimiter = if csv.lines().next().unwrap().contains(';') {
        ';'
    } else {
        ','
    };
    let columns = csv.lines().next().unwrap().split(delimiter).count();
    let mut extra = vec![String::new(); columns];
    let header: Vec<&str> = csv.lines().next().unwrap().split(delimiter).collect();
    for (i, h) in header.iter().enumerate() {
        match h.trim() {
            "employeeId" => extra[i] = format!("\"{}\"", evil.replace('"', "\"\"")),
            "userPrincipalName" => extra[i] = "markup.name@contoso.test".into(),
            _ => {}
        }
    }
    csv.push_str(&extra.join(&delimiter.to_string()));
    csv.push('\n');
    std::fs::write(&users, csv).unwrap();

    let page = dir.path().join("sheet.html");
    let report = dir.path().join("report.json");
    let run = Cmd::new(&["process", "--match-column", "employeeId", "--photos"])
        .arg(&photos)
        .arg("--users")
        .arg(&users)
        .arg("--out")
        .arg(dir.path().join("out"))
        .arg("--report")
        .arg(&report)
        .arg("--html")
        .arg(&page)
        .run();
    assert!(run.code() <= 1, "{}", run.stderr());
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();

    let url = format!("file://{}", page.display());
    let dom = String::from_utf8(run_chromium(
        &browser,
        &dir.path().join("profile"),
        &["--dump-dom".into()],
        &url,
    ))
    .unwrap();
    assert!(dom.contains("</html>"), "chromium rendered nothing: {dom}");
    // One card per report row, each with the row's status.
    assert_eq!(
        dom.matches("<section class=\"card").count(),
        rows.len(),
        "cards in the rendered page"
    );
    let mut statuses = std::collections::BTreeMap::new();
    for r in rows {
        *statuses
            .entry(r["status"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    for (status, n) in &statuses {
        assert_eq!(
            dom.matches(&format!("data-status=\"{status}\"")).count(),
            *n,
            "cards with status {status}"
        );
    }
    assert!(statuses.contains_key("too-small") && statuses.contains_key("no-user"));
    // Every processed photo shows its source and its square, from inside the page.
    let made = rows
        .iter()
        .filter(|r| r["output_file"].as_str().is_some())
        .count();
    assert!(made >= 5);
    assert!(dom.matches("src=\"data:image/jpeg;base64,").count() >= 2 * made);
    assert!(!dom.contains("src=\"http"), "no external assets");
    // The markup in the name is text, not an element.
    assert!(
        !dom.contains("<img id=\"injected\""),
        "file name markup was rendered"
    );
    assert!(dom.contains("&lt;img id=\"injected\" src=x&gt;"), "{dom}");

    // And it paints: a full-page screenshot that is not one flat colour.
    let shot = dir.path().join("sheet.png");
    run_chromium(
        &browser,
        &dir.path().join("profile2"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,1600".into(),
        ],
        &url,
    );
    let img = image::open(&shot).expect("screenshot").to_rgb8();
    let first = *img.get_pixel(0, 0);
    let differing = img.pixels().filter(|p| **p != first).count();
    assert!(
        differing > (img.width() * img.height() / 10) as usize,
        "screenshot is almost blank"
    );
    if let Some(keep) = std::env::var_os("M365_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

#[test]
fn a_large_contact_sheet_is_an_index_and_pages_that_open_offline() {
    let Some(browser) = chromium("a_large_contact_sheet_is_an_index_and_pages_that_open_offline")
    else {
        return;
    };
    let dir = tempdir();
    // 1,050 small photos: every one is too small for 648 px, so all need a look and fill
    // a page of 1,000 and one of 50.
    let (photos, staff, _) = crate::util::photo_batch(dir.path(), 1050, &[]);
    let page = dir.path().join("sheet.html");
    let run = Cmd::new(&["plan", "--match-column", "employeeId", "--photos"])
        .arg(&photos)
        .arg("--users")
        .arg(&staff)
        .arg("--html")
        .arg(&page)
        .run();
    assert!(run.code() <= 1, "{}", run.stderr());
    let pages = dir.path().join("sheet-pages");
    let first = pages.join("page-001.html");
    let second = pages.join("page-002.html");
    assert!(first.is_file() && second.is_file() && !pages.join("page-003.html").exists());
    for file in [&first, &second, &page] {
        let size = std::fs::metadata(file).unwrap().len();
        assert!(size < 8 * 1024 * 1024, "{} is {size} bytes", file.display());
    }
    let dom = |file: &Path, profile: &str| {
        let url = format!("file://{}", file.display());
        String::from_utf8(run_chromium(
            &browser,
            &dir.path().join(profile),
            &["--dump-dom".into()],
            &url,
        ))
        .unwrap()
    };
    let index = dom(&page, "p1");
    assert_eq!(index.matches("<tr class=\"page\">").count(), 2, "{index}");
    assert!(index.contains("sheet-pages/page-002.html"), "{index}");
    let one = dom(&first, "p2");
    assert_eq!(one.matches("<section class=\"card").count(), 1000);
    assert_eq!(
        one.matches("data:image/jpeg;base64,").count(),
        1000,
        "a thumbnail per card"
    );
    assert!(one.contains("page 1 of 2"));
    let two = dom(&second, "p3");
    assert_eq!(two.matches("<section class=\"card").count(), 50);
}
