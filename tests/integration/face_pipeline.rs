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
