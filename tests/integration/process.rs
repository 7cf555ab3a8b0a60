//! `plan` and `process` on real photos: orientation, clean output, bad input, the tree
//! of real-world files, never upscaling.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use crate::util::{Cmd, process_cmd, read_csv_report, tempdir, testdata};

/// Copies `files` into a fresh folder and writes a CSV naming every stem.
fn stage(files: &[&Path]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempdir();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    let mut csv = String::from("userPrincipalName\n");
    for f in files {
        fs::copy(f, photos.join(f.file_name().unwrap())).unwrap();
        let stem = f.file_stem().unwrap().to_string_lossy().to_string();
        csv.push_str(&format!("\"{stem}\"\n"));
    }
    let users = dir.path().join("users.csv");
    fs::write(&users, csv).unwrap();
    (dir, users)
}

fn rows_by_file(report: &Path) -> HashMap<String, HashMap<String, String>> {
    read_csv_report(report)
        .into_iter()
        .filter(|r| !r["file"].is_empty())
        .map(|r| (r["file"].clone(), r))
        .collect()
}

/// JPEG segment markers before the scan.
fn markers(jpeg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 2;
    while i + 4 <= jpeg.len() && jpeg[i] == 0xFF {
        let m = jpeg[i + 1];
        out.push(m);
        if m == 0xDA {
            break;
        }
        i += 2 + u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
    }
    out
}

/// Asserts a made photo is what Microsoft 365 wants.
fn assert_clean_jpeg(path: &Path, side: u32, max_bytes: usize) {
    let bytes = fs::read(path).unwrap();
    assert!(
        bytes.len() <= max_bytes,
        "{}: {} bytes",
        path.display(),
        bytes.len()
    );
    let m = markers(&bytes);
    assert!(
        m.contains(&0xC0),
        "{}: not baseline: {m:x?}",
        path.display()
    );
    assert!(
        !m.iter().any(|&x| (0xE1..=0xEF).contains(&x) || x == 0xFE),
        "{}: metadata segments left: {m:x?}",
        path.display()
    );
    for needle in [&b"Exif"[..], b"GPS", b"http://ns.adobe.com", b"ICC_PROFILE"] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{}: contains {:?}",
            path.display(),
            String::from_utf8_lossy(needle)
        );
    }
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        (side, side),
        "{}",
        path.display()
    );
    assert_eq!(img.color(), image::ColorType::Rgb8, "{}", path.display());
}

fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    total as f64 / a.as_raw().len() as f64
}

#[test]
fn every_exif_orientation_gives_the_same_picture() {
    let Some(td) = testdata("every_exif_orientation_gives_the_same_picture") else {
        return;
    };
    for scene in ["Landscape", "Portrait"] {
        let files: Vec<_> = (0..=8)
            .map(|i| td.join(format!("orientation/{scene}_{i}.jpg")))
            .collect();
        let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
        let (dir, users) = stage(&refs);
        let out = dir.path().join("out");
        Cmd::new(&["process", "--crop", "centre", "--size", "256", "--photos"])
            .arg(dir.path().join("photos"))
            .arg("--users")
            .arg(&users)
            .arg("--out")
            .arg(&out)
            .run()
            .expect_code(0);
        let first = image::open(out.join(format!("{scene}_1.jpg")))
            .unwrap()
            .to_rgb8();
        for i in 0..=8 {
            let img = image::open(out.join(format!("{scene}_{i}.jpg")))
                .unwrap()
                .to_rgb8();
            let diff = mean_abs_diff(&first, &img);
            assert!(
                diff < 6.0,
                "{scene}_{i}.jpg differs from {scene}_1.jpg by {diff:.1} on average"
            );
        }
        // And a wrong orientation would really show: a mirrored picture is far off.
        let mirrored = image::imageops::flip_horizontal(&first);
        assert!(
            mean_abs_diff(&first, &mirrored) > 10.0,
            "{scene}: the scene is too symmetric to test"
        );
    }
}

#[test]
fn the_whole_testdata_tree_is_accounted_for() {
    let Some(td) = testdata("the_whole_testdata_tree_is_accounted_for") else {
        return;
    };
    let dir = tempdir();
    // Every file's stem is a user, so that every photo goes through processing.
    let mut stems: Vec<String> = walk(&td)
        .iter()
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .map(|p| p.file_stem().unwrap().to_string_lossy().to_string())
        .collect();
    stems.sort();
    stems.dedup();
    let mut csv = String::from("userPrincipalName\n");
    for s in &stems {
        csv.push_str(&format!("\"{}\"\n", s.replace('"', "\"\"")));
    }
    let users = dir.path().join("users.csv");
    fs::write(&users, csv).unwrap();
    let files = walk(&td).len();
    for command in ["plan", "process"] {
        let report = dir.path().join(format!("{command}.csv"));
        let mut cmd = Cmd::new(&[command, "--photos"])
            .arg(&td)
            .arg("--users")
            .arg(&users)
            .arg("--report")
            .arg(&report);
        if command == "process" {
            cmd = cmd.arg("--out").arg(dir.path().join("out"));
        }
        let run = cmd.run();
        assert!(
            run.code() == 0 || run.code() == 1,
            "{command}: exit {} {}",
            run.code(),
            run.stderr()
        );
        assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
        let rows = read_csv_report(&report);
        let file_rows = rows.iter().filter(|r| !r["file"].is_empty()).count();
        assert_eq!(
            file_rows, files,
            "{command}: every file needs exactly one row"
        );
        for r in &rows {
            assert!(!r["status"].is_empty());
            if r["status"] == "invalid-image" || r["status"] == "failed" {
                assert!(!r["detail"].is_empty(), "{r:?}");
            }
        }
        let by_file = rows_by_file(&report);
        // plan decodes too (JPEG at 1/8 scale): the truncation shows in both.
        assert_eq!(by_file["broken/corrupted.jpg"]["status"], "invalid-image");
        // Some odd-exif files are under 96 px: refused for their size, not their EXIF.
        let odd = by_file
            .iter()
            .filter(|(f, _)| f.starts_with("odd-exif/"))
            .filter(|(_, r)| r["status"] == "invalid-image")
            .filter(|(_, r)| !r["detail"].starts_with("too small to use"))
            .count();
        assert_eq!(odd, 0, "a broken EXIF tag is not a broken photo");
        if command == "process" {
            for (file, r) in &by_file {
                if r["status"] == "processed" || r["status"] == "too-small" {
                    let side: u32 = r["output_side"].parse().unwrap();
                    if r["status"] == "processed" {
                        assert_eq!(side, 648, "{file}");
                    }
                    assert!(!r["quality"].is_empty(), "{file}: quality not reported");
                    assert_clean_jpeg(
                        &dir.path().join("out").join(&r["output_file"]),
                        side,
                        102_400,
                    );
                }
            }
            // Location never reaches the uploaded photo.
            for (file, r) in by_file
                .iter()
                .filter(|(f, _)| f.starts_with("cameras/gps/"))
            {
                assert!(
                    r["status"] == "processed" || r["status"] == "too-small",
                    "{file}: {}",
                    r["detail"]
                );
            }
        }
    }
    // Sources are never modified.
    let again = walk(&td).len();
    assert_eq!(again, files);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if !p.file_name().unwrap().to_string_lossy().starts_with('.') {
            out.push(p);
        }
    }
    out
}

#[test]
fn small_sources_are_not_upscaled_and_odd_pixels_are_converted() {
    let dir = tempdir();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    // 300x400 RGB JPEG: too small.
    image::RgbImage::from_fn(300, 400, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    })
    .save(photos.join("small.jpg"))
    .unwrap();
    // 16-bit grey PNG and a transparent RGBA PNG, both large enough.
    image::ImageBuffer::<image::Luma<u16>, _>::from_fn(800, 700, |x, _| {
        image::Luma([(x * 80) as u16])
    })
    .save(photos.join("grey16.png"))
    .unwrap();
    image::RgbaImage::from_pixel(700, 700, image::Rgba([255, 0, 0, 0]))
        .save(photos.join("clear.png"))
        .unwrap();
    fs::write(photos.join("empty.jpg"), b"").unwrap();
    fs::write(photos.join("notes.jpg"), b"not a photo at all").unwrap();
    let users = dir.path().join("users.csv");
    fs::write(
        &users,
        "userPrincipalName\nsmall\ngrey16\nclear\nempty\nnotes\n",
    )
    .unwrap();
    let report = dir.path().join("r.csv");
    let out = dir.path().join("out");
    process_cmd(&photos, &users, &out, &[])
        .arg("--report")
        .arg(&report)
        .run()
        .expect_code(1);
    let rows = rows_by_file(&report);
    assert_eq!(rows["small.jpg"]["status"], "too-small");
    assert_eq!(rows["small.jpg"]["output_side"], "300");
    assert_clean_jpeg(&out.join("small.jpg"), 300, 102_400);
    assert_eq!(rows["grey16.png"]["status"], "processed");
    assert_clean_jpeg(&out.join("grey16.jpg"), 648, 102_400);
    let clear = image::open(out.join("clear.jpg")).unwrap().to_rgb8();
    let p = clear.get_pixel(324, 324).0;
    assert!(
        p.iter().all(|&c| c > 245),
        "transparent pixels go onto white, got {p:?}"
    );
    assert_eq!(rows["empty.jpg"]["status"], "invalid-image");
    assert!(rows["empty.jpg"]["detail"].contains("empty"));
    assert_eq!(rows["notes.jpg"]["status"], "invalid-image");
}

#[test]
fn decompression_bombs_are_refused_before_decoding() {
    let dir = tempdir();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    // A valid small JPEG whose frame header is rewritten to claim 30000 x 30000 pixels.
    let mut jpeg = Vec::new();
    image::RgbImage::new(16, 16)
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    jpeg[sof + 5..sof + 9].copy_from_slice(&[0x75, 0x30, 0x75, 0x30]);
    fs::write(photos.join("bomb.jpg"), &jpeg).unwrap();
    let users = dir.path().join("users.csv");
    fs::write(&users, "userPrincipalName\nbomb\n").unwrap();
    let report = dir.path().join("r.csv");
    process_cmd(&photos, &users, &dir.path().join("out"), &[])
        .arg("--report")
        .arg(&report)
        .run()
        .expect_code(1);
    let rows = rows_by_file(&report);
    assert_eq!(rows["bomb.jpg"]["status"], "invalid-image");
    assert!(
        rows["bomb.jpg"]["detail"].contains("limit"),
        "{}",
        rows["bomb.jpg"]["detail"]
    );
}

#[test]
fn samples_plan_reports_every_kind_of_problem() {
    let dir = tempdir();
    let report = dir.path().join("plan.json");
    let run = Cmd::new(&["plan", "--match-column", "employeeId", "--photos"])
        .arg(crate::util::root().join("samples/photos"))
        .arg("--users")
        .arg(crate::util::root().join("samples/users.csv"))
        .arg("--report")
        .arg(&report)
        .run()
        .expect_code(1);
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    let summary = &json["summary"];
    assert_eq!(summary["matched"], 6, "{}", run.stdout());
    assert_eq!(summary["too-small"], 1);
    assert_eq!(summary["no-user"], 1);
    assert_eq!(summary["no-photo"], 1);
    assert_eq!(summary["invalid-image"], 1);
    // plan writes nothing but the report.
    let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

#[test]
fn html_page_is_self_contained_and_escapes_names() {
    let dir = tempdir();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    // Windows forbids `<`, `>` and `"` in file names: there the name breaks out of an
    // attribute instead of opening a tag.
    #[cfg(unix)]
    let (evil, escaped) = (
        "<img src=x onerror=alert(1)>",
        "&lt;img src=x onerror=alert(1)&gt;",
    );
    #[cfg(not(unix))]
    let (evil, escaped) = (
        "x' onmouseover='alert(1)",
        "x&#x27; onmouseover=&#x27;alert(1)",
    );
    for name in [evil, "plain"] {
        image::RgbImage::from_fn(700, 900, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        })
        .save_with_format(photos.join(format!("{name}.jpg")), image::ImageFormat::Jpeg)
        .unwrap();
    }
    let users = dir.path().join("users.csv");
    fs::write(
        &users,
        format!("userPrincipalName\n\"{evil}\"\nplain\nnobody\n"),
    )
    .unwrap();
    let page = dir.path().join("sheet.html");
    process_cmd(&photos, &users, &dir.path().join("out"), &[])
        .arg("--html")
        .arg(&page)
        .run()
        .expect_code(0);
    let html = fs::read_to_string(&page).unwrap();
    assert!(!html.contains(evil), "file names must be escaped");
    assert!(html.contains(escaped), "{escaped}");
    assert_eq!(html.matches("<section class=\"card").count(), 3);
    assert_eq!(
        html.matches("data:image/jpeg;base64,").count(),
        4,
        "source and square for each photo"
    );
    assert!(!html.contains("src=\"http"), "no external assets");
    // Thumbnails, not the upload bytes: a card costs a few kilobytes.
    assert!(html.len() < 60_000, "page is {} bytes", html.len());
}
