//! The validated, clap-free settings of every command (one config per command family,
//! and the [`Command`] enum), and the errors that stop a command before any work starts.
//!
//! `cli` turns arguments into these without side effects; tests and library users build
//! them directly, starting from `Default`. Per-item problems are never [`ConfigError`]s:
//! they become report rows. The Graph and role settings are the plain data types of
//! `graph` and `tenant::roles`.

use std::path::PathBuf;
use std::time::Duration;

use crate::graph::GraphOptions;
use crate::tenant::roles::RoleId;

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

/// How closely a found face is framed: the face's width as a share of the square's.
/// The square never gets smaller than `--size` source pixels (no upscaling) nor leaves
/// the photo, so a face may end up smaller than this asks; it never ends up larger than
/// in the short-side square.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Framing {
    /// Face about half the width: a passport-like head shot.
    Tight,
    /// Head and shoulders, face about 42% of the width.
    #[default]
    Standard,
    /// More shoulders, face about a third of the width.
    Loose,
}

impl Framing {
    pub fn as_str(self) -> &'static str {
        match self {
            Framing::Tight => "tight",
            Framing::Standard => "standard",
            Framing::Loose => "loose",
        }
    }

    /// The face box's width as a share of the square's side. The issue asks for 35-50%;
    /// YuNet's box runs from the eyebrows to the chin, so at 42% the hair and the top of
    /// the shoulders are in.
    pub fn face_share(self) -> f32 {
        match self {
            Framing::Tight => 0.50,
            Framing::Standard => 0.42,
            Framing::Loose => 0.35,
        }
    }

    pub fn parse(s: &str) -> Option<Framing> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tight" => Some(Framing::Tight),
            "standard" => Some(Framing::Standard),
            "loose" => Some(Framing::Loose),
            _ => None,
        }
    }
}

impl CropMode {
    /// A crop mode as written in a CSV cell or on the command line.
    pub fn parse(s: &str) -> Option<CropMode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "face" => Some(CropMode::Face),
            "portrait" => Some(CropMode::Portrait),
            "centre" | "center" => Some(CropMode::Centre),
            _ => None,
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
    /// How close a face crop zooms in.
    pub framing: Framing,
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
            framing: Framing::Standard,
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

/// The directory property photo names are matched against when there is no CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryKey {
    UserPrincipalName,
    Mail,
    EmployeeId,
}

/// Inputs and outputs shared by every command that reads photos.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub photos: PathBuf,
    /// The staff CSV; unused when `directory` is set.
    pub users: PathBuf,
    /// `upload` without a CSV: photo names are matched against this property of the
    /// tenant's users.
    pub directory: Option<DirectoryKey>,
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

/// A problem with what the user asked for; the command exits with status 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("photos folder {path}: {reason}")]
    PhotosFolder { path: PathBuf, reason: String },
    #[error("users CSV {path}: {reason}")]
    UsersCsv { path: PathBuf, reason: String },
    #[error(
        "users CSV {path} has no column named {column:?} (for {flag}); its columns are: {found}"
    )]
    MissingColumn {
        path: PathBuf,
        column: String,
        flag: &'static str,
        found: String,
    },
    #[error("{flag}: {reason}")]
    Invalid { flag: &'static str, reason: String },
    #[error("{path}: {reason}")]
    Output { path: PathBuf, reason: String },
}

impl ConfigError {
    /// Every configuration problem is the user's to fix before anything can run.
    pub fn exit_code(&self) -> i32 {
        exit::USAGE
    }
}

/// Exit codes, oxipng-style: the worst outcome decides.
pub mod exit {
    pub const OK: i32 = 0;
    pub const SOME_FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    /// Stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
    pub const INTERRUPTED: i32 = 130;
}

/// Where `upload` keeps each user's current photo before replacing it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BackupPlan {
    /// `--no-backup` (or a dry run): nothing is saved.
    Off,
    /// The folder the state database remembers, else a new `photo-backup-<time>` beside
    /// the report (else in the current folder).
    #[default]
    Auto,
    /// `--backup-dir`.
    Dir(PathBuf),
}

/// What `upload` does beyond the photo options.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Sign in and resolve users, but write nothing.
    pub dry_run: bool,
    /// Made only when the run reaches its first upload, so a run that stops earlier
    /// leaves no empty backup folder behind.
    pub backup: BackupPlan,
    /// Lock photo changes to these roles after a clean upload (`--lock`).
    pub lock: Option<Vec<RoleId>>,
    /// The state database; `None` records nothing and skips nothing.
    pub state: Option<PathBuf>,
    /// Upload even users whose photo, settings and last upload are unchanged.
    pub force: bool,
    /// After Ctrl-C, how long uploads already in flight may take to finish.
    pub grace: Duration,
    /// Staged roll-outs: do only the first N users that need an upload.
    pub limit: Option<usize>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            dry_run: false,
            backup: BackupPlan::Off,
            lock: None,
            state: None,
            force: false,
            grace: Duration::from_secs(30),
            limit: None,
        }
    }
}

/// `upload`: the photo options, Graph, and what the upload stage does.
#[derive(Debug, Clone, Default)]
pub struct UploadConfig {
    pub opts: Options,
    pub graph: GraphOptions,
    pub upload: UploadOptions,
}

/// `demo`.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub samples: PathBuf,
    pub out: PathBuf,
    /// `--users N`: a rehearsal of N generated users instead of the samples.
    pub rehearse: Option<Rehearsal>,
}

/// `demo --users N`.
#[derive(Debug, Clone, Copy)]
pub struct Rehearsal {
    pub users: usize,
    pub write_latency: Duration,
}

/// Which users a tenant command works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSource {
    /// Every user in the tenant.
    All,
    /// The users of a CSV column.
    Csv { path: PathBuf, column: String },
}

/// `backup`.
#[derive(Debug, Clone)]
pub struct BackupConfig {
    pub users: UserSource,
    pub out: PathBuf,
    pub report: Option<PathBuf>,
    pub graph: GraphOptions,
}

/// `remove`.
#[derive(Debug, Clone)]
pub struct RemoveConfig {
    pub users: PathBuf,
    pub user_column: String,
    /// Where photos are saved before removal; `None`: a new `photo-backup-<time>` here.
    pub backup_dir: Option<PathBuf>,
    pub dry_run: bool,
    pub report: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub graph: GraphOptions,
}

/// `restore`.
#[derive(Debug, Clone)]
pub struct RestoreConfig {
    pub from: PathBuf,
    pub dry_run: bool,
    pub report: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub graph: GraphOptions,
}

/// `lock --owa-script`: the script, and for a policy of its own, whose users.
#[derive(Debug, Clone)]
pub struct OwaScript {
    pub path: PathBuf,
    /// The users' CSV and its column; `None`: the default policy (everyone).
    pub users: Option<(PathBuf, String)>,
}

/// `lock` and `unlock`.
#[derive(Debug, Clone)]
pub struct LockConfig {
    /// The roles that may still change photos; `None` unlocks.
    pub roles: Option<Vec<RoleId>>,
    /// Change the settings even when the photo source is onPremises.
    pub force: bool,
    /// `--source cloud`: also set an unset photo source to cloud.
    pub source_cloud: bool,
    pub owa_script: Option<OwaScript>,
    pub graph: GraphOptions,
}

/// `lock-status`.
#[derive(Debug, Clone)]
pub struct LockStatusConfig {
    pub json: bool,
    pub graph: GraphOptions,
}

/// `doctor`.
#[derive(Debug, Clone)]
pub struct DoctorConfig {
    /// The `--cloud` named (the Graph and login URLs are in `graph`).
    pub cloud: crate::graph::Cloud,
    pub canary: Option<String>,
    /// A photo to upload to the canary, processed with the default image options.
    pub canary_write: Option<PathBuf>,
    pub json: bool,
    pub graph: GraphOptions,
}

/// `status`.
#[derive(Debug, Clone)]
pub struct StatusConfig {
    pub state: PathBuf,
    pub runs: usize,
    pub run: Option<i64>,
    pub report: Option<PathBuf>,
    pub show_failed: usize,
}

/// Every command, with its validated settings.
#[derive(Debug)]
pub enum Command {
    Plan(Options),
    Process(Options),
    Upload(Box<UploadConfig>),
    Demo(DemoConfig),
    Emulator(Box<crate::emulator::EmulatorConfig>),
    Lock(Box<LockConfig>),
    LockStatus(Box<LockStatusConfig>),
    Backup(Box<BackupConfig>),
    Remove(Box<RemoveConfig>),
    Restore(Box<RestoreConfig>),
    Status(StatusConfig),
    Doctor(Box<DoctorConfig>),
}
