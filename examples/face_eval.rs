//! Face detection measured against labelled photos, for `benches/faces.sh` (see there
//! and the README's "Speed" section). Uses the library's own `process::find_faces`: the
//! same decode, analysis copy and detector as `m365-photos process --crop face`, but
//! every face rather than only the one framed.
//!
//! ```text
//! face_eval detect NAME LABELS.tsv      recall of the labelled faces (IoU >= 0.3)
//! face_eval paste LABELS.tsv BG_DIR OUT_DIR SHARE > SMALL.tsv
//!                                       each labelled face, with its head around it,
//!                                       pasted into a large face-free photo so that
//!                                       its box is SHARE of the short side
//! face_eval draw IMAGE OUT.png          the detections boxed on the photo (a look)
//! ```
//!
//! LABELS.tsv: one photo a line, `path<TAB>x,y,w,h<TAB>x,y,w,h...` (boxes in the
//! oriented photo's pixels).

use std::path::{Path, PathBuf};

use m365_photos::config::ImageOptions;
use m365_photos::process::{self, FaceBox, FoundFaces};

/// A labelled face is found when a detected box overlaps it by at least this
/// intersection over union (each detection matches one label at most).
const MATCH_IOU: f32 = 0.3;

type Rect = (f32, f32, f32, f32);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    match strs.as_slice() {
        ["detect", name, labels] => detect(name, Path::new(labels)),
        ["paste", labels, bg, out, share] => paste(
            Path::new(labels),
            Path::new(bg),
            Path::new(out),
            share.parse().expect("SHARE is a number"),
        ),
        ["draw", image, out] => draw(Path::new(image), Path::new(out)),
        _ => {
            eprintln!("usage: see the top of examples/face_eval.rs");
            std::process::exit(2);
        }
    }
}

fn read_labels(path: &Path) -> Vec<(PathBuf, Vec<Rect>)> {
    let text = std::fs::read_to_string(path).expect("labels file");
    let base = path.parent().unwrap_or(Path::new("."));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut cols = l.split('\t');
            let file = base.join(cols.next().expect("path"));
            let boxes = cols
                .map(|c| {
                    let v: Vec<f32> = c
                        .split(',')
                        .map(|n| n.trim().parse().expect("box"))
                        .collect();
                    (v[0], v[1], v[2], v[3])
                })
                .collect();
            (file, boxes)
        })
        .collect()
}

fn faces(path: &Path) -> FoundFaces {
    let bytes = std::fs::read(path).expect("photo");
    let format = process::format::sniff(&bytes[..bytes.len().min(64)]);
    process::find_faces(path, &format, &ImageOptions::default()).expect("decodable photo")
}

fn iou(a: Rect, b: Rect) -> f32 {
    let ix = ((a.0 + a.2).min(b.0 + b.2) - a.0.max(b.0)).max(0.0);
    let iy = ((a.1 + a.3).min(b.1 + b.3) - a.1.max(b.1)).max(0.0);
    let inter = ix * iy;
    let union = a.2 * a.3 + b.2 * b.3 - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Greedy one-to-one matching, best overlap first: for each label, the IoU of the
/// detection matched to it (None: missed).
fn matches(labels: &[Rect], found: &[Rect]) -> Vec<Option<f32>> {
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (i, l) in labels.iter().enumerate() {
        for (j, f) in found.iter().enumerate() {
            let o = iou(*l, *f);
            if o >= MATCH_IOU {
                pairs.push((o, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut out = vec![None; labels.len()];
    let mut used = vec![false; found.len()];
    for (o, i, j) in pairs {
        if out[i].is_none() && !used[j] {
            out[i] = Some(o);
            used[j] = true;
        }
    }
    out
}

fn rect(f: &FaceBox) -> Rect {
    (f.x, f.y, f.width, f.height)
}

fn detect(name: &str, labels: &Path) {
    let (mut labelled, mut found, mut detections, mut low, mut second) = (0, 0, 0, 0, 0);
    let mut windows = 0;
    let mut photos = 0;
    let mut ious = Vec::new();
    for (file, boxes) in read_labels(labels) {
        let FoundFaces {
            faces: dets,
            low_confidence,
            passes,
        } = faces(&file);
        photos += 1;
        second += usize::from(passes.windows > 0);
        windows += passes.windows;
        let rects: Vec<Rect> = dets.iter().map(rect).collect();
        let m = matches(&boxes, &rects);
        let hit = m.iter().flatten().count();
        labelled += boxes.len();
        found += hit;
        detections += rects.len();
        low += usize::from(low_confidence);
        ious.extend(m.iter().flatten().copied());
        let missed: Vec<String> = boxes
            .iter()
            .zip(&m)
            .filter(|(_, m)| m.is_none())
            .map(|(b, _)| format!("{:.0},{:.0},{:.0},{:.0}", b.0, b.1, b.2, b.3))
            .collect();
        println!(
            "{name}\t{}\t{hit}/{} found\t{} detected{}\tscores {:?}\tfirst pass best {:.2}{}{}",
            file.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            boxes.len(),
            rects.len(),
            if low_confidence {
                " (low-confidence)"
            } else {
                ""
            },
            dets.iter()
                .map(|d| (d.score * 100.0).round() / 100.0)
                .collect::<Vec<_>>(),
            passes.first_best,
            match passes.windows {
                0 => String::new(),
                n => format!(
                    ", second pass in {n} window{}",
                    if n == 1 { "" } else { "s" }
                ),
            },
            if missed.is_empty() {
                String::new()
            } else {
                format!("\tmissed {}", missed.join(" "))
            }
        );
    }
    ious.sort_by(f32::total_cmp);
    let median = ious.get(ious.len() / 2).copied().unwrap_or(0.0);
    println!(
        "SUMMARY\t{name}\tlabelled {labelled}\tfound {found}\trecall {:.1}%\tdetections {detections}\tnot matching a label {}\tmedian IoU {median:.2}\tphotos low-confidence {low}\tsecond pass on {second} of {photos} photos ({windows} windows)",
        100.0 * found as f32 / labelled.max(1) as f32,
        detections - found,
    );
}

fn open_rgb(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

fn paste(labels: &Path, bg_dir: &Path, out_dir: &Path, share: f32) {
    let mut bgs: Vec<PathBuf> = std::fs::read_dir(bg_dir)
        .expect("background folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("jpg")))
        .collect();
    bgs.sort();
    assert!(!bgs.is_empty(), "no .jpg in {}", bg_dir.display());
    let bgs: Vec<image::RgbImage> = bgs.iter().map(|p| open_rgb(p)).collect();
    std::fs::create_dir_all(out_dir).expect("out folder");
    // Where the face goes, as a share of the free width and height: centre, then the
    // four quarters (never at the edge: that is a different test).
    let spots = [
        (0.5, 0.5),
        (0.25, 0.3),
        (0.75, 0.3),
        (0.3, 0.7),
        (0.7, 0.65),
    ];
    let mut k = 0usize;
    for (file, boxes) in read_labels(labels) {
        let src = open_rgb(&file);
        for b in boxes {
            let mut big = bgs[k % bgs.len()].clone();
            let (bw, bh) = big.dimensions();
            // The head around the labelled box: the box plus half its size on each side
            // (hair, ears, chin), clamped to the photo.
            let (cx, cy) = (b.0 + b.2 / 2.0, b.1 + b.3 / 2.0);
            let half = b.2.max(b.3);
            let x0 = (cx - half).max(0.0) as u32;
            let y0 = (cy - half).max(0.0) as u32;
            let x1 = ((cx + half) as u32).min(src.width());
            let y1 = ((cy + half) as u32).min(src.height());
            let head = image::imageops::crop_imm(&src, x0, y0, x1 - x0, y1 - y0).to_image();
            let scale = share * bw.min(bh) as f32 / b.2;
            let (hw, hh) = (
                ((head.width() as f32 * scale).round() as u32).max(1),
                ((head.height() as f32 * scale).round() as u32).max(1),
            );
            let head =
                image::imageops::resize(&head, hw, hh, image::imageops::FilterType::CatmullRom);
            let (sx, sy) = spots[k % spots.len()];
            let px = ((bw.saturating_sub(hw)) as f32 * sx) as u32;
            let py = ((bh.saturating_sub(hh)) as f32 * sy) as u32;
            image::imageops::overlay(&mut big, &head, i64::from(px), i64::from(py));
            let name = format!("small-{k:03}.jpg");
            let out = std::fs::File::create(out_dir.join(&name)).expect("write");
            let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(
                std::io::BufWriter::new(out),
                92,
            );
            enc.encode_image(&big).expect("encode");
            let lx = px as f32 + (b.0 - x0 as f32) * scale;
            let ly = py as f32 + (b.1 - y0 as f32) * scale;
            println!(
                "{name}\t{:.0},{:.0},{:.0},{:.0}",
                lx,
                ly,
                b.2 * scale,
                b.3 * scale
            );
            k += 1;
        }
    }
}

fn draw(image: &Path, out: &Path) {
    let dets = faces(image).faces;
    let mut img = open_rgb(image);
    let (w, h) = img.dimensions();
    // A light grid every 50 px, to read label coordinates off by eye.
    for y in 0..h {
        for x in 0..w {
            if x % 50 == 0 || y % 50 == 0 {
                let p = img.get_pixel_mut(x, y);
                p.0 = [255, 255, p.0[2] / 2];
            }
        }
    }
    for (i, d) in dets.iter().enumerate() {
        println!(
            "{i}\t{:.0},{:.0},{:.0},{:.0}\tscore {:.2}",
            d.x, d.y, d.width, d.height, d.score
        );
        let (x0, y0) = (d.x.max(0.0) as u32, d.y.max(0.0) as u32);
        let x1 = ((d.x + d.width) as u32).min(w - 1);
        let y1 = ((d.y + d.height) as u32).min(h - 1);
        for x in x0..=x1 {
            for y in [y0, y1] {
                img.put_pixel(x, y, image::Rgb([0, 230, 60]));
            }
        }
        for y in y0..=y1 {
            for x in [x0, x1] {
                img.put_pixel(x, y, image::Rgb([0, 230, 60]));
            }
        }
    }
    img.save(out).expect("png");
}
