//! Finds the square window that draws the eye, the way libvips' `attention` crop does:
//! per-pixel interest from edges, skin tones and saturation, then the window with most.

/// Interest of every pixel of an RGB picture (`rgb.len() == 3 * width * height`).
///
/// - edges: luma gradient (|dx| + |dy|), saturating at 64 levels, so texture and
///   outlines count but a single hard edge does not dominate;
/// - skin: the classic YCbCr skin box (Cb 77-127, Cr 133-173) on mid luma, weighted
///   highest because a person is what a staff photo is about;
/// - saturation: (max - min) / max on pixels that are neither near black nor white;
/// - in tall pictures, rows count more the nearer they are to the top.
pub fn interest_map(rgb: &[u8], width: u32, height: u32) -> Vec<f32> {
    let (w, h) = (width as usize, height as usize);
    if rgb.len() != 3 * w * h {
        return vec![0.0; w * h];
    }
    let luma: Vec<f32> = rgb
        .chunks_exact(3)
        .map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32)
        .collect();
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let right = if x + 1 < w { luma[i + 1] } else { luma[i] };
            let below = if y + 1 < h { luma[i + w] } else { luma[i] };
            let grad = (right - luma[i]).abs() + (below - luma[i]).abs();
            let edge = (grad / 64.0).min(1.0);

            let p = &rgb[3 * i..3 * i + 3];
            let (r, g, b) = (p[0] as f32, p[1] as f32, p[2] as f32);
            let cb = 128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b;
            let cr = 128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b;
            let skin = if (77.0..=127.0).contains(&cb)
                && (133.0..=173.0).contains(&cr)
                && (40.0..=240.0).contains(&luma[i])
            {
                1.0
            } else {
                0.0
            };

            let max = r.max(g).max(b);
            let min = r.min(g).min(b);
            let sat = if max > 24.0 && min < 232.0 {
                (max - min) / max
            } else {
                0.0
            };
            // In a tall photo the head is near the top far more often than not: a gentle
            // pull upwards keeps a bright shirt from winning over the face.
            let prior = if h > w {
                1.0 + 0.8 * (1.0 - y as f32 / h as f32)
            } else {
                1.0
            };
            out[i] = (edge + 1.5 * skin + 0.5 * sat) * prior;
        }
    }
    out
}

/// Top-left corner of the `side` x `side` window with the highest total interest.
/// Ties (a flat picture) go to the window nearest the centre.
pub fn best_window(interest: &[f32], width: u32, height: u32, side: u32) -> (u32, u32) {
    let (w, h, s) = (width as usize, height as usize, side as usize);
    if s == 0 || s > w || s > h || interest.len() != w * h {
        return (
            width.saturating_sub(side) / 2,
            height.saturating_sub(side) / 2,
        );
    }
    // Summed-area table with a zero row and column, in f64 so sums do not drift.
    let mut sat = vec![0.0f64; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0.0f64;
        for x in 0..w {
            row += interest[y * w + x] as f64;
            sat[(y + 1) * (w + 1) + x + 1] = sat[y * (w + 1) + x + 1] + row;
        }
    }
    let window = |x: usize, y: usize| {
        sat[(y + s) * (w + 1) + x + s] - sat[y * (w + 1) + x + s] - sat[(y + s) * (w + 1) + x]
            + sat[y * (w + 1) + x]
    };
    let (cx, cy) = ((w - s) as f64 / 2.0, (h - s) as f64 / 2.0);
    let mut best = (cx as usize, cy as usize);
    let mut best_score = f64::NEG_INFINITY;
    for y in 0..=h - s {
        for x in 0..=w - s {
            // A tiny pull to the centre decides between equal windows without
            // overriding any real difference in content.
            let dist = ((x as f64 - cx).abs() + (y as f64 - cy).abs()) * 1e-6;
            let score = window(x, y) - dist;
            if score > best_score {
                best_score = score;
                best = (x, y);
            }
        }
    }
    (best.0 as u32, best.1 as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grey picture with a busy checkerboard patch of the given size at (px, py).
    fn with_busy_patch(w: u32, h: u32, px: u32, py: u32, size: u32) -> Vec<u8> {
        let mut rgb = vec![120u8; (3 * w * h) as usize];
        for y in py..py + size {
            for x in px..px + size {
                let v = if (x / 2 + y / 2) % 2 == 0 { 20 } else { 230 };
                let i = 3 * (y * w + x) as usize;
                rgb[i..i + 3].copy_from_slice(&[v, v / 2, 255 - v]);
            }
        }
        rgb
    }

    #[test]
    fn wide_picture_window_moves_to_the_busy_region() {
        let (w, h) = (300, 100);
        let rgb = with_busy_patch(w, h, 250, 30, 40);
        let map = interest_map(&rgb, w, h);
        let (x, y) = best_window(&map, w, h, 100);
        assert_eq!(y, 0);
        assert!(x <= 250 && x + 100 >= 290, "window at {x} misses the patch");
        assert!(x >= 190, "window at {x} not pulled right");
    }

    #[test]
    fn tall_picture_window_moves_to_the_busy_region() {
        let (w, h) = (90, 270);
        let rgb = with_busy_patch(w, h, 20, 5, 30);
        let map = interest_map(&rgb, w, h);
        let (x, y) = best_window(&map, w, h, 90);
        // Every window from the top down to the patch's top edge holds it all.
        assert_eq!(x, 0);
        assert!(y <= 5, "window at {y} not pulled up");
    }

    #[test]
    fn flat_picture_gives_the_centre() {
        let (w, h) = (200, 100);
        let rgb = vec![128u8; (3 * w * h) as usize];
        let map = interest_map(&rgb, w, h);
        assert_eq!(best_window(&map, w, h, 100), (50, 0));
    }

    #[test]
    fn skin_tone_counts() {
        let rgb = [224u8, 172, 140, 120, 120, 120];
        let map = interest_map(&rgb, 2, 1);
        assert!(map[0] > 1.0 && map[1] < 0.5, "{map:?}");
    }

    #[test]
    fn bad_sizes_do_not_panic() {
        assert_eq!(best_window(&[], 0, 0, 0), (0, 0));
        assert_eq!(best_window(&[1.0; 4], 2, 2, 3), (0, 0));
        assert_eq!(interest_map(&[1, 2], 1, 1), vec![0.0]);
    }
}
