//! The face crop on a real face (scikit-image's astronaut photo, fetched by
//! scripts/fetch-test-faces.sh), pasted far off-centre into wide and tall pictures.

use std::fs;

use crate::util::{Cmd, read_csv_report, root, tempdir};

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
    Cmd::new(&["process", "--photos"])
        .arg(&photos)
        .arg("--users")
        .arg(&users)
        .arg("--out")
        .arg(dir.path().join("out"))
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

/// Through the real binary: a small face is zoomed to head-and-shoulders, a tiny one is
/// `small-face`, a blurred and a darkened one say so, a CSV `crop` cell overrides the
/// run's `--crop` for one user, an unknown one is a bad row, and one photo given to two
/// users is `same-photo` on both.
#[test]
fn process_frames_faces_and_notes_what_hr_would_check() {
    let face = root().join(".cache/faces/astronaut.png");
    if !face.is_file() {
        eprintln!(
            "SKIPPED process_frames_faces_and_notes_what_hr_would_check: run scripts/fetch-test-faces.sh"
        );
        return;
    }
    let astronaut = image::open(&face).unwrap().to_rgb8();
    let dir = tempdir();
    let photos = dir.path().join("photos");
    fs::create_dir(&photos).unwrap();
    let paste = |img: &image::RgbImage, scale: f32| {
        let small = image::imageops::resize(
            img,
            (512.0 * scale) as u32,
            (512.0 * scale) as u32,
            image::imageops::FilterType::Triangle,
        );
        let mut canvas = image::RgbImage::from_pixel(3000, 2000, image::Rgb([90, 100, 110]));
        image::imageops::overlay(&mut canvas, &small, 1700, 900);
        canvas
    };
    let dark = image::RgbImage::from_fn(512, 512, |x, y| {
        image::Rgb(astronaut.get_pixel(x, y).0.map(|v| v / 5))
    });
    let blurred = image::imageops::blur(&astronaut, 4.0);
    paste(&astronaut, 1.0)
        .save(photos.join("zoom.jpg"))
        .unwrap();
    paste(&astronaut, 1.0)
        .save(photos.join("override.jpg"))
        .unwrap();
    paste(&astronaut, 0.25)
        .save(photos.join("tiny.png"))
        .unwrap();
    paste(&dark, 1.0).save(photos.join("dark.png")).unwrap();
    paste(&blurred, 1.0)
        .save(photos.join("blurry.png"))
        .unwrap();
    paste(&astronaut, 1.0).save(photos.join("bad.png")).unwrap();
    let plain = image::RgbImage::from_fn(800, 600, |x, y| {
        image::Rgb([(x / 3) as u8, (y / 3) as u8, 120])
    });
    plain.save(photos.join("copy1.png")).unwrap();
    fs::copy(photos.join("copy1.png"), photos.join("copy2.png")).unwrap();
    let users = dir.path().join("users.csv");
    fs::write(
        &users,
        "userPrincipalName,crop\nzoom,\noverride,centre\ntiny,\ndark,\nblurry,\nbad,sideways\ncopy1,\ncopy2,face\n",
    )
    .unwrap();
    let report = dir.path().join("r.csv");
    Cmd::new(&["process", "--size", "256", "--photos"])
        .arg(&photos)
        .arg("--users")
        .arg(&users)
        .arg("--out")
        .arg(dir.path().join("out"))
        .arg("--report")
        .arg(&report)
        .run();
    let rows = read_csv_report(&report);
    let row = |user: &str| {
        rows.iter()
            .find(|r| r["user"] == user && r["status"] != "bad-row")
            .unwrap_or_else(|| panic!("{user}: no row in {rows:?}"))
    };
    let notes = |user: &str| {
        row(user)["notes"]
            .split(';')
            .map(String::from)
            .collect::<Vec<_>>()
    };

    let zoom = row("zoom");
    let share: f32 = zoom["face_share"].parse().unwrap();
    assert!(
        (0.36..=0.48).contains(&share),
        "zoom: share {share}: {zoom:?}"
    );
    let side: u32 = zoom["crop"].rsplit(',').next().unwrap().parse().unwrap();
    assert!((256..1000).contains(&side), "zoom: square {side}: {zoom:?}");
    assert_eq!(zoom["output_side"], "256");
    assert!(
        zoom["face_confidence"].parse::<f32>().unwrap() >= 0.8,
        "{zoom:?}"
    );
    assert!(notes("zoom").iter().all(|n| n.is_empty()), "{zoom:?}");

    // The CSV cell wins over --crop face: the plain centre square, no face looked for.
    assert_eq!(row("override")["crop"], "500,0,2000");
    assert_eq!(row("override")["face_share"], "");

    assert!(
        notes("tiny").contains(&"small-face".to_string()),
        "{:?}",
        row("tiny")
    );
    assert!(
        notes("dark").contains(&"dark".to_string()),
        "{:?}",
        row("dark")
    );
    assert!(
        notes("blurry").contains(&"blurry".to_string()),
        "{:?}",
        row("blurry")
    );
    for user in ["copy1", "copy2"] {
        assert!(
            notes(user).contains(&"same-photo".to_string()),
            "{:?}",
            row(user)
        );
        assert!(
            notes(user).contains(&"no-face".to_string()),
            "{:?}",
            row(user)
        );
    }
    assert!(
        row("copy1")["detail"].contains("copy2"),
        "{:?}",
        row("copy1")
    );
    let bad = rows
        .iter()
        .find(|r| r["status"] == "bad-row" && r["detail"].contains("sideways"))
        .unwrap_or_else(|| panic!("no bad-row for the unknown crop value: {rows:?}"));
    assert_eq!(bad["user"], "bad");
}
