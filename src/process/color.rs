//! Brings decoded pixels to 8-bit sRGB: alpha flattened onto white, 16-bit reduced,
//! grey and CMYK expanded, embedded colour profiles (Adobe RGB, Display P3) converted.

use image::{DynamicImage, RgbImage};
use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

use super::SourceColor;

/// Converts any decoded image to 8-bit sRGB.
pub fn to_srgb8(image: DynamicImage, color: &SourceColor) -> RgbImage {
    let mut rgb = flatten(image);
    let profile = match color {
        SourceColor::Srgb => None,
        SourceColor::DisplayP3 => Some(ColorProfile::new_display_p3()),
        SourceColor::Icc(bytes) => ColorProfile::new_from_slice(bytes)
            .ok()
            .filter(|p| p.color_space == DataColorSpace::Rgb && !is_srgb(p)),
    };
    if let Some(profile) = profile {
        convert_rgb(&mut rgb, &profile);
    }
    rgb
}

/// An sRGB-tagged photo needs no conversion; skipping it saves a pass over the pixels.
fn is_srgb(profile: &ColorProfile) -> bool {
    let srgb = ColorProfile::new_srgb();
    let close = |a: f64, b: f64| (a - b).abs() < 0.002;
    let same =
        |x: &moxcms::Xyzd, y: &moxcms::Xyzd| close(x.x, y.x) && close(x.y, y.y) && close(x.z, y.z);
    same(&profile.red_colorant, &srgb.red_colorant)
        && same(&profile.green_colorant, &srgb.green_colorant)
        && same(&profile.blue_colorant, &srgb.blue_colorant)
}

fn convert_rgb(rgb: &mut RgbImage, profile: &ColorProfile) {
    let srgb = ColorProfile::new_srgb();
    // A profile moxcms cannot build a transform for is treated as sRGB: a slightly off
    // colour beats a lost photo.
    if let Ok(transform) =
        profile.create_transform_8bit(Layout::Rgb, &srgb, Layout::Rgb, TransformOptions::default())
    {
        let src = rgb.as_raw().clone();
        let _ = transform.transform(&src, rgb.as_mut());
    }
}

/// Alpha onto white; any bit depth and channel layout to 8-bit RGB.
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return match image {
            DynamicImage::ImageRgb8(rgb) => rgb,
            other => other.to_rgb8(),
        };
    }
    let rgba = image.to_rgba16();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u32::from(src[3]);
        for c in 0..3 {
            let v = (u32::from(src[c]) * a + 65535 * (65535 - a)) / 65535;
            dst[c] = ((v + 128) / 257) as u8;
        }
    }
    out
}

/// CMYK as libjpeg-turbo returns it to RGB. Photoshop (Adobe marker) stores CMYK
/// inverted. The conversion is the plain one; print profiles are not applied.
pub fn cmyk_to_rgb(cmyk: &[u8], adobe_inverted: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(cmyk.len() / 4 * 3);
    for px in cmyk.chunks_exact(4) {
        let [c, m, y, k] = if adobe_inverted {
            [px[0], px[1], px[2], px[3]]
        } else {
            [255 - px[0], 255 - px[1], 255 - px[2], 255 - px[3]]
        };
        let k = u16::from(k);
        out.push((u16::from(c) * k / 255) as u8);
        out.push((u16::from(m) * k / 255) as u8);
        out.push((u16::from(y) * k / 255) as u8);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_goes_onto_white() {
        let mut img = image::RgbaImage::new(2, 1);
        img.put_pixel(0, 0, image::Rgba([0, 0, 0, 0]));
        img.put_pixel(1, 0, image::Rgba([255, 0, 0, 255]));
        let rgb = to_srgb8(DynamicImage::ImageRgba8(img), &SourceColor::Srgb);
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(rgb.get_pixel(1, 0).0, [255, 0, 0]);
    }

    #[test]
    fn sixteen_bit_and_grey() {
        let img = image::ImageBuffer::<image::Luma<u16>, _>::from_pixel(1, 1, image::Luma([65535]));
        let rgb = to_srgb8(DynamicImage::ImageLuma16(img), &SourceColor::Srgb);
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
    }

    #[test]
    fn display_p3_red_becomes_clipped_srgb_red() {
        let img = RgbImage::from_pixel(1, 1, image::Rgb([255, 0, 0]));
        let rgb = to_srgb8(DynamicImage::ImageRgb8(img), &SourceColor::DisplayP3);
        let p = rgb.get_pixel(0, 0).0;
        assert!(p[0] > 240 && p[1] < 40 && p[2] < 40, "{p:?}");
    }

    #[test]
    fn adobe_cmyk_white_and_black() {
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 255], true), [255, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 0], true), [0, 0, 0]);
    }
}
