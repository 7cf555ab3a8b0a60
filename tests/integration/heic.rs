//! HEIC/HEIF through the real binary: every test file becomes a clean 648x648 JPEG, the
//! rotated one comes out upright, a truncated one is one reported row.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use libheif_rs::{ColorSpace, DecodingOptions, HeifContext, LibHeif, RgbChroma};

use crate::util::{Cmd, read_csv_report, tempdir, testdata};

fn heic_files(td: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(td.join("heic"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

/// Copies `files` into a fresh photo folder (sources stay untouched) with a CSV naming
/// every stem, runs `process`, and returns the temp dir and report rows by file name.
fn process(
    files: &[PathBuf],
    extra: &[&str],
) -> (tempfile::TempDir, HashMap<String, HashMap<String, String>>) {
    let dir = tempdir();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    let mut csv = String::from("userPrincipalName\n");
    for f in files {
        fs::copy(f, photos.join(f.file_name().unwrap())).unwrap();
        csv.push_str(&format!(
            "\"{}\"\n",
            f.file_stem().unwrap().to_string_lossy()
        ));
    }
    let users = dir.path().join("users.csv");
    fs::write(&users, csv).unwrap();
    let report = dir.path().join("report.csv");
    let run = Cmd::new(&["process", "--photos"])
        .arg(&photos)
        .arg("--users")
        .arg(&users)
        .arg("--out")
        .arg(dir.path().join("out"))
        .arg("--report")
        .arg(&report)
        .args_str(extra)
        .run();
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    let rows = read_csv_report(&report)
        .into_iter()
        .filter(|r| !r["file"].is_empty())
        .map(|r| (r["file"].clone(), r))
        .collect();
    (dir, rows)
}

fn output_of(dir: &Path, row: &HashMap<String, String>) -> PathBuf {
    let out = Path::new(&row["output_file"]);
    if out.is_absolute() {
        out.to_path_buf()
    } else {
        dir.join("out").join(out.file_name().unwrap())
    }
}

fn assert_clean_square(path: &Path, side: u32) {
    let bytes = fs::read(path).unwrap();
    assert_eq!(&bytes[..2], &[0xFF, 0xD8], "{}", path.display());
    for needle in [&b"Exif"[..], b"ICC_PROFILE", b"http://ns.adobe.com"] {
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
    assert_eq!(img.color(), image::ColorType::Rgb8);
}

#[test]
fn every_heic_becomes_a_clean_648_jpeg() {
    let Some(td) = testdata("every_heic_becomes_a_clean_648_jpeg") else {
        return;
    };
    let files = heic_files(&td);
    let (dir, rows) = process(&files, &[]);
    assert_eq!(rows.len(), files.len(), "{rows:?}");
    for (file, row) in &rows {
        assert_eq!(row["source_format"], "HEIC", "{file}: {row:?}");
        assert!(
            row["status"] != "invalid-image" && row["status"] != "failed",
            "{file}: {row:?}"
        );
        let w: u32 = row["source_width"].parse().unwrap();
        let h: u32 = row["source_height"].parse().unwrap();
        // Small sources are not upscaled: the side is then their short side.
        assert_clean_square(&output_of(dir.path(), row), w.min(h).min(648));
    }
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

/// The stored (un-transformed) pixels and the file's `irot` angle, read straight
/// through libheif, independently of the code under test.
fn stored(path: &Path) -> (image::RgbImage, u32, u32) {
    let ctx = HeifContext::read_from_file(path.to_str().unwrap()).unwrap();
    let handle = ctx.primary_image_handle().unwrap();
    let mut opts = DecodingOptions::new().unwrap();
    opts.set_ignore_transformations(true);
    let img = LibHeif::new()
        .decode(&handle, ColorSpace::Rgb(RgbChroma::Rgb), Some(opts))
        .unwrap();
    let planes = img.planes();
    let p = planes.interleaved.unwrap();
    let mut buf = Vec::new();
    for y in 0..p.height as usize {
        buf.extend_from_slice(&p.data[y * p.stride..y * p.stride + p.width as usize * 3]);
    }
    let rgb = image::RgbImage::from_raw(p.width, p.height, buf).unwrap();
    (rgb, handle.width(), handle.height())
}

/// Square centre crop resized to `side`, as `--crop centre` frames it.
fn centre_square(img: &image::RgbImage, side: u32) -> image::RgbImage {
    let s = img.width().min(img.height());
    let x = (img.width() - s) / 2;
    let y = (img.height() - s) / 2;
    let sq = image::imageops::crop_imm(img, x, y, s, s).to_image();
    image::imageops::resize(&sq, side, side, image::imageops::FilterType::Triangle)
}

#[test]
fn a_rotated_heic_comes_out_upright() {
    let Some(td) = testdata("a_rotated_heic_comes_out_upright") else {
        return;
    };
    // The file whose container says to rotate: displayed size differs from stored.
    let rotated: Vec<_> = heic_files(&td)
        .into_iter()
        .filter(|f| {
            let (img, w, h) = stored(f);
            (img.width(), img.height()) == (h, w) && w != h
        })
        .collect();
    assert!(!rotated.is_empty(), "no rotated HEIC in the test data");
    for file in &rotated {
        let (raw, w, h) = stored(file);
        let (dir, rows) = process(std::slice::from_ref(file), &["--crop", "centre"]);
        let row = rows.values().next().unwrap();
        assert_eq!(
            (row["source_width"].as_str(), row["source_height"].as_str()),
            (w.to_string().as_str(), h.to_string().as_str())
        );
        let made = image::open(output_of(dir.path(), row)).unwrap().to_rgb8();
        let side = made.width();
        // Our own rotations of the stored pixels, framed the same way: the output must
        // be one of them (irot applied) and far from the stored, sideways framing.
        let cw = mean_abs_diff(
            &made,
            &centre_square(&image::imageops::rotate90(&raw), side),
        );
        let ccw = mean_abs_diff(
            &made,
            &centre_square(&image::imageops::rotate270(&raw), side),
        );
        let sideways = mean_abs_diff(&made, &centre_square(&raw, side));
        let good = cw.min(ccw);
        eprintln!(
            "{}: cw {cw:.1} ccw {ccw:.1} sideways {sideways:.1}",
            file.display()
        );
        assert!(
            good < 8.0,
            "{}: differs from the rotated reference by {good:.1}",
            file.display()
        );
        assert!(sideways > good + 10.0, "{}: looks sideways", file.display());
    }
}

#[test]
fn a_truncated_heic_is_one_invalid_image_row() {
    let Some(td) = testdata("a_truncated_heic_is_one_invalid_image_row") else {
        return;
    };
    let files = heic_files(&td);
    let src = tempdir();
    let good = files[0].clone();
    let bytes = fs::read(&good).unwrap();
    let cut = src.path().join("truncated.heic");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let (_dir, rows) = process(&[cut, good.clone()], &[]);
    let bad = &rows["truncated.heic"];
    assert_eq!(bad["status"], "invalid-image", "{bad:?}");
    assert!(bad["detail"].contains("HEIC"), "{bad:?}");
    // The batch carried on.
    let ok = &rows[&good.file_name().unwrap().to_string_lossy().to_string()];
    assert!(ok["status"] != "invalid-image", "{ok:?}");
}
