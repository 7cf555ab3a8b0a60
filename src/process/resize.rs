//! Scales pixels with SIMD convolution (fast_image_resize): the final crop-and-resize in
//! one pass, and the small copies the face detector and the saliency map look at.

use std::cell::RefCell;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

thread_local! {
    static RESIZER: RefCell<Resizer> = RefCell::new(Resizer::new());
}

/// Crops the square at (`x`, `y`, `side`) out of `img` and scales it to `out` pixels a side.
pub fn crop_resize(img: &RgbImage, x: u32, y: u32, side: u32, out: u32) -> RgbImage {
    resize_rgb(
        img,
        (x, y, side, side),
        out,
        out,
        ResizeAlg::Convolution(FilterType::Lanczos3),
    )
}

/// A smaller copy for people to look at (thumbnails), with a smooth filter.
pub fn rgb_small_smooth(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    let (iw, ih) = img.dimensions();
    resize_rgb(
        img,
        (0, 0, iw, ih),
        w,
        h,
        ResizeAlg::Convolution(FilterType::CatmullRom),
    )
}

fn resize_rgb(
    img: &RgbImage,
    (x, y, cw, ch): (u32, u32, u32, u32),
    w: u32,
    h: u32,
    alg: ResizeAlg,
) -> RgbImage {
    let (iw, ih) = img.dimensions();
    if (x, y, cw, ch) == (0, 0, iw, ih) && (w, h) == (iw, ih) {
        return img.clone();
    }
    let fallback = || {
        image::imageops::resize(
            &image::imageops::crop_imm(img, x, y, cw, ch).to_image(),
            w,
            h,
            image::imageops::FilterType::Triangle,
        )
    };
    let Ok(src) = ImageRef::new(iw, ih, img.as_raw(), PixelType::U8x3) else {
        return fallback();
    };
    let mut dst = Image::new(w, h, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(alg).crop(
        f64::from(x),
        f64::from(y),
        f64::from(cw),
        f64::from(ch),
    );
    let done = RESIZER.with(|r| r.borrow_mut().resize(&src, &mut dst, &options));
    match done {
        Ok(()) => RgbImage::from_raw(w, h, dst.into_vec()).unwrap_or_else(fallback),
        Err(_) => fallback(),
    }
}
