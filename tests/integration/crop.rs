//! The face crop on real faces: a real portrait pasted far off-centre into wide and tall
//! canvases must end up whole inside the square; a picture without a face gets NoFace.

use std::path::PathBuf;
use std::time::Instant;

use image::{GenericImage, Rgb, RgbImage};
use m365_photos::config::{CropMode, Framing};
use m365_photos::process::{CropNote, Placement, place_square};

use crate::util;

/// A minimum side no photo reaches: the square stays the short side (no zoom), as
/// before framing zoomed in; these tests are about placement.
const SHORT_SIDE: u32 = u32::MAX;

/// The head in skimage's astronaut.png (512x512), hair top to chin, ear to ear, read off
/// the picture by eye (not by the detector under test).
const HEAD: (u32, u32, u32, u32) = (150, 12, 302, 192);

fn astronaut(test: &str) -> Option<RgbImage> {
    let path: PathBuf = util::root().join(".cache/faces/astronaut.png");
    if !path.is_file() {
        eprintln!(
            "SKIPPED {test}: {} absent; run scripts/fetch-test-faces.sh first",
            path.display()
        );
        return None;
    }
    Some(image::open(&path).expect("astronaut.png decodes").to_rgb8())
}

/// A dull background with some texture, so the canvas is not trivially flat.
fn canvas(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let v = 70 + ((x / 7 + y / 11) % 5) as u8 * 6;
        Rgb([v, v + 8, v + 16])
    })
}

fn assert_head_inside(name: &str, p: &Placement, ox: u32, oy: u32, w: u32, h: u32) {
    let (l, t, r, b) = (HEAD.0 + ox, HEAD.1 + oy, HEAD.2 + ox, HEAD.3 + oy);
    assert_eq!(p.side, w.min(h), "{name}");
    assert!(
        p.x + p.side <= w && p.y + p.side <= h,
        "{name}: {p:?} outside"
    );
    assert_eq!(p.note, CropNote::Face, "{name}: {p:?}");
    assert!(
        l >= p.x && t >= p.y && r <= p.x + p.side && b <= p.y + p.side,
        "{name}: head {l},{t}-{r},{b} not inside square {p:?}"
    );
}

#[test]
fn real_face_far_off_centre_stays_whole() {
    let Some(face) = astronaut("real_face_far_off_centre_stays_whole") else {
        return;
    };
    // (name, canvas size, where the 512x512 portrait goes)
    let cases = [
        ("wide, left edge", 1800, 640, 0, 60),
        ("wide, right edge", 1800, 640, 1800 - 512, 0),
        ("tall, bottom", 640, 1800, 64, 1800 - 512),
        ("tall, top right", 700, 1600, 700 - 512, 0),
    ];
    for (name, w, h, ox, oy) in cases {
        let mut img = canvas(w, h);
        img.copy_from(&face, ox, oy).unwrap();
        let p = place_square(&img, CropMode::Face, Framing::Standard, SHORT_SIDE);
        assert_head_inside(name, &p, ox, oy, w, h);
        // A centre crop would have lost the head: the test really exercises the crop.
        let c = place_square(&img, CropMode::Centre, Framing::Standard, SHORT_SIDE);
        let (l, r) = (HEAD.0 + ox, HEAD.2 + ox);
        let (t, b) = (HEAD.1 + oy, HEAD.3 + oy);
        assert!(
            l < c.x || r > c.x + c.side || t < c.y || b > c.y + c.side,
            "{name}: centre crop already holds the head"
        );
    }
}

#[test]
fn real_face_is_centred_with_headroom() {
    let Some(face) = astronaut("real_face_is_centred_with_headroom") else {
        return;
    };
    let (w, h) = (648, 1800);
    let (ox, oy) = (68, 900);
    let mut img = canvas(w, h);
    img.copy_from(&face, ox, oy).unwrap();
    let p = place_square(&img, CropMode::Face, Framing::Standard, SHORT_SIDE);
    assert_head_inside("tall, middle", &p, ox, oy, w, h);
    // Hair top well below the square's top, chin above its middle-low part.
    let hair = HEAD.1 + oy - p.y;
    let chin = HEAD.3 + oy - p.y;
    assert!(
        hair > p.side / 20,
        "no headroom: hair at {hair} of {}",
        p.side
    );
    assert!(
        chin < p.side * 3 / 4,
        "face too low: chin at {chin} of {}",
        p.side
    );
}

#[test]
fn two_real_faces_report_several() {
    let Some(face) = astronaut("two_real_faces_report_several") else {
        return;
    };
    let mut img = canvas(1400, 640);
    img.copy_from(&face, 0, 64).unwrap();
    img.copy_from(&face, 1400 - 512, 0).unwrap();
    let p = place_square(&img, CropMode::Face, Framing::Standard, SHORT_SIDE);
    assert_eq!(p.note, CropNote::SeveralFaces(2), "{p:?}");
}

#[test]
fn picture_without_a_face_gets_no_face() {
    // A synthetic landscape: sky, hills, a red house; and, when present, a real photo
    // of a landscape from the shared test photos.
    let img = RgbImage::from_fn(1200, 700, |x, y| {
        let hill = 400 + ((x as f32 / 90.0).sin() * 60.0) as u32;
        if (800..950).contains(&x) && (300..450).contains(&y) {
            Rgb([180, 40, 30])
        } else if y > hill {
            Rgb([40, 120 + (x % 13) as u8, 40])
        } else {
            Rgb([120, 170, 230 - (y / 5) as u8])
        }
    });
    let p = place_square(&img, CropMode::Face, Framing::Standard, SHORT_SIDE);
    assert_eq!(p.note, CropNote::NoFace, "{p:?}");
    assert!(p.x + p.side <= 1200 && p.side == 700);

    if let Some(dir) = util::testdata("picture_without_a_face_gets_no_face") {
        let img = image::open(dir.join("orientation/Landscape_1.jpg"))
            .unwrap()
            .to_rgb8();
        let p = place_square(&img, CropMode::Face, Framing::Standard, SHORT_SIDE);
        assert_eq!(p.note, CropNote::NoFace, "{p:?}");
    }
}

/// Prints what detection costs per photo at the decode scales the pipeline hands over
/// (648 and 1296 px short side). Asserts only a loose bound so a slow CI machine passes.
#[test]
fn detection_cost_is_small() {
    let Some(face) = astronaut("detection_cost_is_small") else {
        return;
    };
    for (w, h) in [(648, 864), (1296, 1728)] {
        let mut img = canvas(w, h);
        let scaled = image::imageops::resize(
            &face,
            w * 2 / 3,
            w * 2 / 3,
            image::imageops::FilterType::Triangle,
        );
        img.copy_from(&scaled, w / 6, h / 8).unwrap();
        let _ = place_square(&img, CropMode::Face, Framing::Standard, SHORT_SIDE); // model parse, detector set-up
        let runs = 10;
        let start = Instant::now();
        for _ in 0..runs {
            let p = place_square(&img, CropMode::Face, Framing::Standard, SHORT_SIDE);
            assert_eq!(p.note, CropNote::Face);
        }
        let per = start.elapsed() / runs;
        eprintln!("face crop of a {w}x{h} photo: {per:?} per photo");
        assert!(per.as_millis() < 500, "{per:?}");
    }
}
