//! The validated settings a run works from, independent of the command line.
//!
//! `cli` turns clap arguments into these; tests and library users build them directly,
//! starting from `Default`.

use std::path::PathBuf;

/// Where the square is placed on the (oriented) source photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CropMode {
    /// Detect faces; the largest one ends up whole, centred, in the upper middle.
    #[default]
    Face,
    /// Biased to the top third, no detection.
    Portrait,
    /// Plain centre square.
    Centre,
}

impl CropMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CropMode::Face => "face",
            CropMode::Portrait => "portrait",
            CropMode::Centre => "centre",
        }
    }
}

/// How a photo becomes a Microsoft 365 photo.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ImageOptions {
    /// Side of the square output in pixels (never upscaled past the source).
    pub size: u32,
    /// Byte budget of the output JPEG.
    pub max_bytes: usize,
    /// Highest JPEG quality to try.
    pub quality: u8,
    /// Lowest JPEG quality accepted before the photo is reported as failed.
    pub min_quality: u8,
    pub crop: CropMode,
    /// Decompression-bomb guard: sources with more pixels are refused before decoding.
    pub max_pixels: u64,
    /// Sources larger than this many bytes are refused from their metadata, unread.
    pub max_file_size: u64,
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions {
            size: 648,
            max_bytes: 102_400,
            quality: 90,
            min_quality: 40,
            crop: CropMode::Face,
            max_pixels: 200_000_000,
            max_file_size: 100 * 1024 * 1024,
        }
    }
}

/// How photos are paired with CSV rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchOptions {
    /// Column whose value equals a photo's file name without extension.
    pub match_column: String,
    /// Column naming the Microsoft 365 user (UPN, object id, mail or employee id).
    pub user_column: String,
}

impl Default for MatchOptions {
    fn default() -> Self {
        MatchOptions {
            match_column: "userPrincipalName".into(),
            user_column: "userPrincipalName".into(),
        }
    }
}

/// Inputs and outputs shared by every command that reads photos.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub photos: PathBuf,
    pub users: PathBuf,
    pub matching: MatchOptions,
    pub image: ImageOptions,
    /// `.csv` or `.json` report, by extension.
    pub report: Option<PathBuf>,
    /// Self-contained HTML contact sheet.
    pub html: Option<PathBuf>,
    /// Folder for processed JPEGs (`process`), skipped by discovery.
    pub out: Option<PathBuf>,
    /// Worker threads for processing; `None` = one per core.
    pub jobs: Option<usize>,
}
