//! The face crop through the real binary, on real faces fetched by
//! scripts/fetch-test-faces.sh from what PyPI ships (scikit-image's astronaut, the
//! insightface test photos): pasted small into large pictures, at the edge, several at a
//! time, and photos with no face; the notes HR would check; the contact sheet.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine;

use crate::util::{
    Emulator, photo_batch, process_cmd, read_csv_report, root, tempdir, upload_cmd as upload,
};

/// The whole head (hair to chin) in astronaut.png, generously: x0, y0, x1, y1.
const HEAD: (u32, u32, u32, u32) = (150, 30, 295, 200);

#[test]
fn the_whole_face_is_inside_the_square() {
    let face = root().join(".cache/faces/astronaut.png");
    if !face.is_file() {
        eprintln!("SKIPPED the_whole_face_is_inside_the_square: run scripts/fetch-test-faces.sh");
        return;
    }
    let astronaut = image::open(&face).unwrap().to_rgb8();
    let dir = tempdir();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    // (name, canvas w, h, where the 512x512 photo goes)
    let cases = [
        ("wide-left", 2400, 800, 0, 150),
        ("wide-right", 2400, 800, 1888, 0),
        ("tall-bottom", 800, 2400, 150, 1888),
        ("tall-middle", 700, 2000, 0, 900),
    ];
    let mut csv = String::from("userPrincipalName\n");
    for (name, w, h, px, py) in cases {
        // A textured background, so that "most interesting" is not trivially the face.
        let mut canvas = image::RgbImage::from_fn(w, h, |x, y| {
            let v = ((x / 40 + y / 40) % 2 * 60 + 60) as u8;
            image::Rgb([v, v + 20, v + 40])
        });
        image::imageops::overlay(&mut canvas, &astronaut, i64::from(px), i64::from(py));
        canvas.save(photos.join(format!("{name}.jpg"))).unwrap();
        csv.push_str(&format!("{name}\n"));
    }
    let users = dir.path().join("users.csv");
    fs::write(&users, csv).unwrap();
    let report = dir.path().join("r.csv");
    process_cmd(&photos, &users, &dir.path().join("out"), &[])
        .arg("--report")
        .arg(&report)
        .run()
        .expect_code(0);
    let rows = read_csv_report(&report);
    for (name, _, _, px, py) in cases {
        let row = rows.iter().find(|r| r["user"] == name).unwrap();
        assert!(
            !row["notes"].contains("no-face"),
            "{name}: face not found: {row:?}"
        );
        let parts: Vec<u32> = row["crop"].split(',').map(|v| v.parse().unwrap()).collect();
        let (x, y, side) = (parts[0], parts[1], parts[2]);
        let (x0, y0, x1, y1) = (px + HEAD.0, py + HEAD.1, px + HEAD.2, py + HEAD.3);
        assert!(
            x <= x0 && y <= y0 && x + side >= x1 && y + side >= y1,
            "{name}: head {x0},{y0}-{x1},{y1} not inside square {x},{y}+{side}"
        );
    }
}

type Rows = Vec<HashMap<String, String>>;

/// `.cache/faces` when scripts/fetch-test-faces.sh has filled it, else `None` with a
/// message saying that `test` skipped.
fn faces(test: &str) -> Option<PathBuf> {
    let dir = root().join(".cache/faces");
    let wanted = [
        "astronaut.png",
        "Tom_Hanks_54745.png",
        "t1.jpg",
        "mask_white.jpg",
    ];
    if wanted.iter().all(|f| dir.join(f).is_file()) {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED {test}: the real face photos are not in {} (run scripts/fetch-test-faces.sh)",
            dir.display()
        );
        None
    }
}

fn open(dir: &Path, name: &str) -> image::RgbImage {
    image::open(dir.join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .to_rgb8()
}

/// A plain `w`x`h` picture with `face` scaled by `scale` pasted at each place.
fn pasted(
    face: &image::RgbImage,
    scale: f32,
    w: u32,
    h: u32,
    at: &[(i64, i64)],
) -> image::RgbImage {
    let small = image::imageops::resize(
        face,
        (face.width() as f32 * scale).round() as u32,
        (face.height() as f32 * scale).round() as u32,
        image::imageops::FilterType::Triangle,
    );
    let mut canvas = image::RgbImage::from_pixel(w, h, image::Rgb([96, 104, 112]));
    for &(x, y) in at {
        image::imageops::overlay(&mut canvas, &small, x, y);
    }
    canvas
}

fn numbers(cell: &str) -> Vec<f32> {
    cell.split(',')
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("not numbers: {cell:?}"))
        })
        .collect()
}

/// The row of `user` (not a bad-row).
fn row<'a>(rows: &'a Rows, user: &str) -> &'a HashMap<String, String> {
    rows.iter()
        .find(|r| r["user"] == user && r["status"] != "bad-row")
        .unwrap_or_else(|| panic!("{user}: no row in {rows:#?}"))
}

fn notes(rows: &Rows, user: &str) -> Vec<String> {
    row(rows, user)["notes"]
        .split(';')
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect()
}

/// The square (x, y, side) and the face box (x, y, w, h) of a framed face's row, after
/// checking that the square is inside the photo and the face box inside the square.
fn framed(r: &HashMap<String, String>) -> ([f32; 3], [f32; 4]) {
    let c = numbers(&r["crop"]);
    let f = numbers(&r["face_box"]);
    let (w, h): (f32, f32) = (
        r["source_width"].parse().unwrap(),
        r["source_height"].parse().unwrap(),
    );
    assert!(
        c[0] + c[2] <= w && c[1] + c[2] <= h,
        "square outside the photo: {r:?}"
    );
    assert!(
        f[0] >= c[0] && f[1] >= c[1] && f[0] + f[2] <= c[0] + c[2] && f[1] + f[3] <= c[1] + c[2],
        "face not inside the square: {r:?}"
    );
    ([c[0], c[1], c[2]], [f[0], f[1], f[2], f[3]])
}

/// Through the real binary (`process --size 256 --framing loose --html`): a real face at
/// 6% of the short side is found and zoomed to the share its CSV `framing` cell (or the
/// flag) asks for, with room above and below; a face at the photo's edge stays whole
/// inside it; of three faces of one size the centre one is framed and the detail says
/// so; a group photo is `several-faces`; a real photo with no face keeps the fallback and
/// `no-face`; dark and blurred faces are noted; a CSV `crop` cell overrides `--crop`, an
/// unknown one is a bad row; one photo given to two users is `same-photo` on both; the
/// contact sheet lists what needs a look first and boxes the face on the source.
#[test]
fn process_frames_real_faces_and_notes_what_hr_would_check() {
    let Some(dir) = faces("process_frames_real_faces_and_notes_what_hr_would_check") else {
        return;
    };
    let astronaut = open(&dir, "astronaut.png");
    let hanks = open(&dir, "Tom_Hanks_54745.png");
    let tmp = tempdir();
    let photos = tmp.path().join("photos");
    fs::create_dir(&photos).unwrap();
    let save = |img: &image::RgbImage, name: &str| img.save(photos.join(name)).unwrap();
    // The astronaut at 2x: a face of ~170 px (the head ~300 px) in a 3000x2000 photo,
    // saved as JPEG, so that the decode is at reduced scale and the zoom decodes again.
    save(
        &pasted(&astronaut, 2.0, 3000, 2000, &[(300, 300)]),
        "tight.jpg",
    );
    save(
        &pasted(&astronaut, 2.0, 3000, 2000, &[(1500, 700)]),
        "standard.jpg",
    );
    save(
        &pasted(&astronaut, 2.0, 3000, 2000, &[(1900, 900)]),
        "loose.jpg",
    );
    save(
        &pasted(&astronaut, 2.0, 3000, 2000, &[(900, 500)]),
        "override.jpg",
    );
    // Tom Hanks's aligned 112 px face at 2.5x, flush with the right edge and the top.
    let side = (hanks.width() as f32 * 2.5).round() as i64;
    save(
        &pasted(&hanks, 2.5, 1600, 900, &[(1600 - side, 0)]),
        "edge.png",
    );
    // Three faces of one size: left, centre, right.
    let fw = (hanks.width() * 2) as i64;
    let centre = (1200 - fw / 2, 450);
    save(
        &pasted(
            &hanks,
            2.0,
            2400,
            1200,
            &[(60, 100), centre, (2400 - fw - 60, 800)],
        ),
        "three.png",
    );
    fs::copy(dir.join("t1.jpg"), photos.join("group.jpg")).unwrap();
    fs::copy(dir.join("mask_white.jpg"), photos.join("mask.jpg")).unwrap();
    let dark = image::RgbImage::from_fn(512, 512, |x, y| {
        image::Rgb(astronaut.get_pixel(x, y).0.map(|v| v / 5))
    });
    save(&pasted(&dark, 2.0, 3000, 2000, &[(1200, 600)]), "dark.png");
    let blurred = image::imageops::blur(&astronaut, 4.0);
    save(
        &pasted(&blurred, 2.0, 3000, 2000, &[(1300, 600)]),
        "blurry.png",
    );
    save(
        &pasted(&astronaut, 2.0, 3000, 2000, &[(100, 100)]),
        "bad.png",
    );
    let plain = image::RgbImage::from_fn(800, 600, |x, y| {
        image::Rgb([(x / 3) as u8, (y / 3) as u8, 120])
    });
    save(&plain, "copy1.png");
    fs::copy(photos.join("copy1.png"), photos.join("copy2.png")).unwrap();
    let users = tmp.path().join("users.csv");
    fs::write(
        &users,
        "userPrincipalName,crop,framing\n\
         tight,,tight\nstandard,face,standard\nloose,,\noverride,centre,\n\
         edge,,standard\nthree,,standard\ngroup,,\nmask,,\ndark,,\nblurry,,\n\
         bad,sideways,\ncopy1,,\ncopy2,face,\n",
    )
    .unwrap();
    let report = tmp.path().join("r.csv");
    let sheet = tmp.path().join("sheet.html");
    process_cmd(
        &photos,
        &users,
        &tmp.path().join("out"),
        &["--size", "256", "--framing", "loose"],
    )
    .arg("--report")
    .arg(&report)
    .arg("--html")
    .arg(&sheet)
    .run()
    .expect_code(0); // a bad row is a notice, not a failure
    let rows = read_csv_report(&report);

    // Zoomed to the share asked for (tight and standard from the CSV, loose from the
    // flag), never below --size, eyes centred, room above the hair and below the chin.
    for (user, want) in [("tight", 0.50), ("standard", 0.42), ("loose", 0.35)] {
        let r = row(&rows, user);
        assert_eq!(notes(&rows, user), Vec::<String>::new(), "{r:?}");
        let ([x, y, side], [fx, fy, fw, fh]) = framed(r);
        let share: f32 = r["face_share"].parse().unwrap();
        assert!((share - want).abs() <= 0.03, "{user}: share {share}: {r:?}");
        assert!((fw / side - share).abs() <= 0.01, "{r:?}");
        assert!(
            (256.0..1000.0).contains(&side),
            "{user}: square {side}: {r:?}"
        );
        assert_eq!(r["output_side"], "256");
        assert!(r["face_confidence"].parse::<f32>().unwrap() >= 0.8, "{r:?}");
        let centre = x + side / 2.0 - (fx + fw / 2.0);
        assert!(
            centre.abs() <= 0.08 * side,
            "{user}: off centre by {centre}: {r:?}"
        );
        assert!(fy - y >= 0.08 * side, "{user}: no room above: {r:?}");
        assert!(
            y + side - (fy + fh) >= 0.1 * side,
            "{user}: chin at the edge: {r:?}"
        );
    }
    let share = |user: &str| row(&rows, user)["face_share"].parse::<f32>().unwrap();
    assert!(share("tight") > share("standard") && share("standard") > share("loose"));

    // The CSV cell wins over --crop face: the plain centre square, no face looked for.
    assert_eq!(row(&rows, "override")["crop"], "500,0,2000");
    assert_eq!(row(&rows, "override")["face_box"], "");

    // At the edge: found, whole, the square inside the photo.
    let r = row(&rows, "edge");
    let ([x, y, side], _) = framed(r);
    assert!(side >= 256.0 && x + side <= 1600.0 && y >= 0.0, "{r:?}");
    assert!(
        !notes(&rows, "edge").contains(&"no-face".to_string()),
        "{r:?}"
    );

    // Three faces of one size: the centre one, said so.
    let r = row(&rows, "three");
    assert!(
        notes(&rows, "three").contains(&"several-faces".to_string()),
        "{r:?}"
    );
    assert!(r["detail"].starts_with("3 faces found"), "{r:?}");
    assert!(r["detail"].contains("nearest the centre"), "{r:?}");
    let (_, [fx, _, fw, _]) = framed(r);
    assert!(
        fx >= centre.0 as f32 && fx + fw <= (centre.0 + fw as i64 * 2) as f32,
        "not the centre face: {r:?}"
    );
    assert!(
        notes(&rows, "group").contains(&"several-faces".to_string()),
        "{:?}",
        row(&rows, "group")
    );

    // No face in a real photo: the fallback square (the short side) and `no-face`.
    let r = row(&rows, "mask");
    assert!(
        notes(&rows, "mask").contains(&"no-face".to_string()),
        "{r:?}"
    );
    assert_eq!(r["face_box"], "", "{r:?}");
    let short = r["source_width"]
        .parse::<f32>()
        .unwrap()
        .min(r["source_height"].parse().unwrap());
    assert_eq!(numbers(&r["crop"])[2], short, "{r:?}");

    assert!(
        notes(&rows, "dark").contains(&"dark".to_string()),
        "{:?}",
        row(&rows, "dark")
    );
    assert!(
        notes(&rows, "blurry").contains(&"blurry".to_string()),
        "{:?}",
        row(&rows, "blurry")
    );
    for (user, other) in [("copy1", "copy2"), ("copy2", "copy1")] {
        let n = notes(&rows, user);
        assert!(
            n.contains(&"same-photo".to_string()),
            "{:?}",
            row(&rows, user)
        );
        assert!(n.contains(&"no-face".to_string()), "{:?}", row(&rows, user));
        assert!(
            row(&rows, user)["detail"].contains(other),
            "{:?}",
            row(&rows, user)
        );
    }
    let bad = rows
        .iter()
        .find(|r| r["status"] == "bad-row" && r["detail"].contains("sideways"))
        .unwrap_or_else(|| panic!("no bad-row for the unknown crop value: {rows:#?}"));
    assert_eq!(bad["user"], "bad");

    // The contact sheet: every card that needs a look before every one that does not,
    // and a green box around the face on the source thumbnail.
    let html = fs::read_to_string(&sheet).unwrap();
    let cards: Vec<&str> = html.split("<section class=\"card").skip(1).collect();
    let user_of = |card: &str| {
        let at = card.find("<div class=\"user\">").expect("user") + 18;
        card[at..at + card[at..].find('<').unwrap()].to_string()
    };
    let fine = ["tight", "standard", "loose", "override"];
    let order: Vec<String> = cards.iter().map(|c| user_of(c)).collect();
    let first_fine = order
        .iter()
        .position(|u| fine.contains(&u.as_str()))
        .unwrap();
    for looked in ["three", "group", "mask", "dark", "blurry", "copy1", "copy2"] {
        let at = order
            .iter()
            .position(|u| u == looked)
            .unwrap_or_else(|| panic!("{looked} not on the sheet: {order:?}"));
        assert!(at < first_fine, "{looked} after a fine card: {order:?}");
    }
    let card = cards.iter().find(|c| user_of(c) == "standard").unwrap();
    let b64 = card.split("data:image/jpeg;base64,").nth(1).unwrap();
    // The page escapes `/` as `&#x2f;` (browsers read it back).
    let b64 = b64[..b64.find('"').unwrap()].replace("&#x2f;", "/");
    let thumb = image::load_from_memory(
        &base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
    .to_rgb8();
    // Green pixels on the face box's outline (scaled to the thumbnail), none elsewhere.
    let (_, [fx, fy, fw, fh]) = framed(row(&rows, "standard"));
    let k = thumb.width() as f32 / 3000.0;
    let (x0, y0, x1, y1) = (fx * k, fy * k, (fx + fw) * k, (fy + fh) * k);
    let near = |v: f32, edge: f32| (v - edge).abs() <= 3.0;
    let (mut on, mut off) = (0, 0);
    for (x, y, p) in thumb.enumerate_pixels() {
        if !(p[1] > 170 && p[0] < 90 && p[2] < 120) {
            continue;
        }
        let (x, y) = (x as f32, y as f32);
        let inside = x >= x0 - 3.0 && x <= x1 + 3.0 && y >= y0 - 3.0 && y <= y1 + 3.0;
        let border = near(x, x0) || near(x, x1) || near(y, y0) || near(y, y1);
        if inside && border { on += 1 } else { off += 1 }
    }
    assert!(
        on >= 30 && off <= 5,
        "face box on the source thumbnail: {on} green pixels on it, {off} elsewhere"
    );
}

/// Never upscaled: at the default --size 648 a face too small to fill its share in 648
/// source pixels gets a 648 px square (not smaller), and `small-face`.
#[test]
fn a_small_face_is_not_upscaled_and_is_noted() {
    let Some(dir) = faces("a_small_face_is_not_upscaled_and_is_noted") else {
        return;
    };
    let astronaut = open(&dir, "astronaut.png");
    let tmp = tempdir();
    let photos = tmp.path().join("photos");
    fs::create_dir(&photos).unwrap();
    // A face of ~85 px (4% of the short side): framed at 42% it would want ~200 px.
    pasted(&astronaut, 1.0, 3000, 2000, &[(1700, 900)])
        .save(photos.join("far.jpg"))
        .unwrap();
    let users = tmp.path().join("users.csv");
    fs::write(&users, "userPrincipalName\nfar\n").unwrap();
    let report = tmp.path().join("r.csv");
    process_cmd(&photos, &users, &tmp.path().join("out"), &[])
        .arg("--report")
        .arg(&report)
        .run()
        .expect_code(0);
    let rows = read_csv_report(&report);
    let r = row(&rows, "far");
    let ([_, _, side], [_, _, fw, _]) = framed(r);
    assert_eq!(side, 648.0, "{r:?}");
    assert_eq!(r["output_side"], "648");
    assert!(
        notes(&rows, "far").contains(&"small-face".to_string()),
        "{r:?}"
    );
    assert!(fw / side < 0.25, "{r:?}");
}

/// `upload` says `same-photo` on both users whose photo files are the same bytes.
#[test]
fn upload_notes_one_photo_given_to_two_users() {
    let tmp = tempdir();
    let (photos, staff, tenant) = photo_batch(tmp.path(), 3, &[]);
    fs::copy(photos.join("5000.jpg"), photos.join("5001.jpg")).unwrap();
    let emu = Emulator::start(&["--users", tenant.to_str().unwrap()]);
    let report = tmp.path().join("r.csv");
    upload(&emu, &photos, &staff, &report, &[])
        .run()
        .expect_code(0);
    let rows = read_csv_report(&report);
    for (user, other) in [
        ("u0@contoso.test", "u1@contoso.test"),
        ("u1@contoso.test", "u0@contoso.test"),
    ] {
        let r = row(&rows, user);
        assert_eq!(r["status"], "uploaded", "{r:?}");
        assert!(r["notes"].split(';').any(|n| n == "same-photo"), "{r:?}");
        assert!(r["detail"].contains(other), "{r:?}");
    }
    assert!(!row(&rows, "u2@contoso.test")["notes"].contains("same-photo"));
}
