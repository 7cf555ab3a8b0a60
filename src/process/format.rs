//! Tells a photo's format from its first bytes (never from the file name).

/// What a file's content says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceFormat {
    Jpeg,
    Png,
    Tiff,
    Webp,
    Bmp,
    Gif,
    /// HEIC/HEIF still image (`ftyp` brand heic, heix, mif1, ...).
    Heif,
    /// A recognised format this tool cannot read (AVIF, PDF, PSD, ...).
    Unsupported(&'static str),
    /// Zero bytes.
    Empty,
    /// Not any image format we know.
    Unknown,
    /// The file could not be read at all.
    Unreadable(String),
}

impl SourceFormat {
    pub fn name(&self) -> &str {
        match self {
            SourceFormat::Jpeg => "JPEG",
            SourceFormat::Png => "PNG",
            SourceFormat::Tiff => "TIFF",
            SourceFormat::Webp => "WebP",
            SourceFormat::Bmp => "BMP",
            SourceFormat::Gif => "GIF",
            SourceFormat::Heif => "HEIC",
            SourceFormat::Unsupported(name) => name,
            SourceFormat::Empty => "empty",
            SourceFormat::Unknown => "unknown",
            SourceFormat::Unreadable(_) => "unreadable",
        }
    }

    /// Whether this format can in principle be decoded by this build.
    pub fn is_image(&self) -> bool {
        matches!(
            self,
            SourceFormat::Jpeg
                | SourceFormat::Png
                | SourceFormat::Tiff
                | SourceFormat::Webp
                | SourceFormat::Bmp
                | SourceFormat::Gif
                | SourceFormat::Heif
        )
    }
}

/// Identifies the format from the start of a file (64 bytes is plenty).
pub fn sniff(head: &[u8]) -> SourceFormat {
    if head.is_empty() {
        return SourceFormat::Empty;
    }
    let starts = |sig: &[u8]| head.starts_with(sig);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        SourceFormat::Jpeg
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        SourceFormat::Png
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        SourceFormat::Tiff
    } else if starts(b"II+\0") || starts(b"MM\0+") {
        // BigTIFF
        SourceFormat::Tiff
    } else if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        SourceFormat::Webp
    } else if starts(b"BM") && head.len() >= 14 {
        SourceFormat::Bmp
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        SourceFormat::Gif
    } else if head.len() >= 12 && &head[4..8] == b"ftyp" {
        ftyp_format(head)
    } else if starts(b"%PDF") {
        SourceFormat::Unsupported("PDF")
    } else if starts(b"8BPS") {
        SourceFormat::Unsupported("Photoshop PSD")
    } else if starts(&[0xFF, 0x0A]) || starts(b"\0\0\0\x0cJXL ") {
        SourceFormat::Unsupported("JPEG XL")
    } else if starts(b"\0\0\0\x0cjP  ") || starts(&[0xFF, 0x4F, 0xFF, 0x51]) {
        SourceFormat::Unsupported("JPEG 2000")
    } else {
        SourceFormat::Unknown
    }
}

/// ISO base media files: the major brand and compatible brands say HEIF, AVIF or video.
fn ftyp_format(head: &[u8]) -> SourceFormat {
    let box_len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let end = box_len.clamp(12, head.len());
    let mut brands = vec![&head[8..12]];
    let mut i = 16;
    while i + 4 <= end {
        brands.push(&head[i..i + 4]);
        i += 4;
    }
    const HEIF: &[&[u8]] = &[
        b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2",
    ];
    // AVIF files list mif1 too, so look for avif first.
    if brands.iter().any(|b| *b == b"avif" || *b == b"avis") {
        SourceFormat::Unsupported("AVIF")
    } else if brands.iter().any(|b| HEIF.contains(b)) {
        SourceFormat::Heif
    } else {
        SourceFormat::Unsupported("video or other ISO media")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_common_formats() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE1]), SourceFormat::Jpeg);
        assert_eq!(sniff(b""), SourceFormat::Empty);
        assert_eq!(sniff(b"hello world"), SourceFormat::Unknown);
        assert_eq!(
            sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"),
            SourceFormat::Heif
        );
        assert_eq!(
            sniff(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf"),
            SourceFormat::Unsupported("AVIF")
        );
    }
}
