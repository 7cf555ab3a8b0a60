//! Command-line arguments (clap) and their conversion into validated [`Options`]:
//! clap stays in this module, everything after it works from `Options`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands;
use crate::error::{ConfigError, exit};
use crate::options::{CropMode, ImageOptions, MatchOptions, Options};
use crate::output::Output;

#[derive(Debug, Parser)]
#[command(
    name = "m365-photos",
    version,
    about = "Match HR photos to Microsoft 365 users, orient, face-crop and resize them, and upload them through Microsoft Graph.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print only the final summary (no progress bars, no notes).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Structured logs on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Match photos to users and check them, without writing anything but the report.
    Plan(PlanArgs),
    /// Make the Microsoft 365 photos into a folder (no network).
    Process(ProcessArgs),
    /// Process the photos and upload them to Microsoft 365 through Graph.
    Upload(UploadArgs),
    /// Run the samples through `upload` against the built-in emulator (no tenant needed).
    Demo(DemoArgs),
    /// Serve a local Microsoft Graph emulator (127.0.0.1 only) for rehearsals and tests.
    Emulator(EmulatorArgs),
    /// Stop users changing their own photo: only the given admin roles may (Graph beta).
    Lock(commands::lock::LockArgs),
    /// Let every user change their own photo again.
    Unlock(commands::lock::UnlockArgs),
    /// Show who may change photos in the tenant.
    LockStatus(commands::lock::LockStatusArgs),
    /// Save users' current photos to a folder with a manifest.
    Backup(commands::backup::BackupArgs),
    /// Remove users' photos (each one backed up first).
    Remove(commands::remove::RemoveArgs),
    /// Put the photos of a backup folder back.
    Restore(commands::restore::RestoreArgs),
    /// What the state database says of the last runs: done, failed, pending.
    Status(commands::status::StatusArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CloudArg {
    Global,
    Usgov,
    UsgovDod,
    China,
}

/// Sign-in and Graph behaviour, shared by every command that talks to Graph. The client
/// secret is never taken from the command line: AZURE_CLIENT_SECRET or
/// --client-secret-file.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Directory (tenant) id or domain [env: AZURE_TENANT_ID].
    #[arg(long, value_name = "ID")]
    pub tenant: Option<String>,
    /// Application (client) id of the app registration [env: AZURE_CLIENT_ID].
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// Certificate for sign-in: PEM with certificate and key, or PFX (password in
    /// AZURE_CLIENT_CERTIFICATE_PASSWORD) [env: AZURE_CLIENT_CERTIFICATE_PATH].
    #[arg(long, value_name = "PATH")]
    pub certificate: Option<PathBuf>,
    /// File holding the client secret (else AZURE_CLIENT_SECRET).
    #[arg(long, value_name = "FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// Microsoft cloud: picks the Graph and sign-in hosts.
    #[arg(long, value_enum, default_value = "global")]
    pub cloud: CloudArg,
    /// Graph root without version (overrides --cloud), e.g. https://graph.microsoft.com.
    #[arg(long, value_name = "URL")]
    pub graph_url: Option<String>,
    /// Sign-in authority host (overrides --cloud), e.g. https://login.microsoftonline.com.
    #[arg(long, value_name = "URL")]
    pub login_url: Option<String>,
    /// Most Graph requests in flight at once: a ceiling for the window, which follows
    /// rate x latency and shrinks when Graph refuses more.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub concurrency: usize,
    /// At most R Graph requests per second; without it the limit is found by probing.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Tries per request on transient failures (503/504, timeouts, resets).
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub max_attempts: u32,
    /// Seconds before one request is abandoned and retried.
    #[arg(long, value_name = "S", default_value_t = 120)]
    pub timeout: u64,
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl GraphArgs {
    pub fn to_options(&self) -> Result<crate::graph::GraphOptions, ConfigError> {
        use crate::graph::{Cloud, Credential, GraphOptions, Secret};
        let tenant = self
            .tenant
            .clone()
            .or_else(|| env_nonempty("AZURE_TENANT_ID"))
            .ok_or(ConfigError::Invalid {
                flag: "--tenant",
                reason: "no tenant: pass --tenant or set AZURE_TENANT_ID".into(),
            })?;
        let client_id = self
            .client_id
            .clone()
            .or_else(|| env_nonempty("AZURE_CLIENT_ID"))
            .ok_or(ConfigError::Invalid {
                flag: "--client-id",
                reason: "no app: pass --client-id or set AZURE_CLIENT_ID".into(),
            })?;
        let certificate = self
            .certificate
            .clone()
            .or_else(|| env_nonempty("AZURE_CLIENT_CERTIFICATE_PATH").map(PathBuf::from));
        let credential = if let Some(path) = certificate {
            Credential::Certificate {
                path,
                password: env_nonempty("AZURE_CLIENT_CERTIFICATE_PASSWORD").map(Secret::new),
            }
        } else if let Some(file) = &self.client_secret_file {
            let text = std::fs::read_to_string(file).map_err(|e| ConfigError::Invalid {
                flag: "--client-secret-file",
                reason: format!("{}: {e}", file.display()),
            })?;
            let secret = text.trim().to_string();
            if secret.is_empty() {
                return Err(ConfigError::Invalid {
                    flag: "--client-secret-file",
                    reason: format!("{} is empty", file.display()),
                });
            }
            Credential::Secret(Secret::new(secret))
        } else if let Some(secret) = env_nonempty("AZURE_CLIENT_SECRET") {
            Credential::Secret(Secret::new(secret))
        } else {
            return Err(ConfigError::Invalid {
                flag: "--certificate",
                reason: "no credential: pass --certificate (or AZURE_CLIENT_CERTIFICATE_PATH), --client-secret-file, or set AZURE_CLIENT_SECRET".into(),
            });
        };
        let cloud = match self.cloud {
            CloudArg::Global => Cloud::Global,
            CloudArg::Usgov => Cloud::UsGov,
            CloudArg::UsgovDod => Cloud::UsGovDod,
            CloudArg::China => Cloud::China,
        };
        let (graph, login) = cloud.hosts();
        let check_url = |flag: &'static str, url: String| {
            if url.starts_with("https://")
                || url.starts_with("http://127.0.0.1")
                || url.starts_with("http://localhost")
            {
                Ok(url.trim_end_matches('/').to_string())
            } else {
                Err(ConfigError::Invalid {
                    flag,
                    reason: format!("{url}: use https:// (plain http only for a local emulator)"),
                })
            }
        };
        if self.concurrency == 0 || self.concurrency > 256 {
            return Err(ConfigError::Invalid {
                flag: "--concurrency",
                reason: "must be 1-256".into(),
            });
        }
        if let Some(r) = self.rate
            && !(r > 0.0 && r <= 10_000.0)
        {
            return Err(ConfigError::Invalid {
                flag: "--rate",
                reason: format!("{r} must be above 0 and at most 10000"),
            });
        }
        if self.max_attempts == 0 {
            return Err(ConfigError::Invalid {
                flag: "--max-attempts",
                reason: "must be at least 1".into(),
            });
        }
        Ok(GraphOptions {
            tenant,
            client_id,
            credential,
            graph_url: check_url(
                "--graph-url",
                self.graph_url.clone().unwrap_or_else(|| graph.into()),
            )?,
            login_url: check_url(
                "--login-url",
                self.login_url.clone().unwrap_or_else(|| login.into()),
            )?,
            // The token is for the cloud's Graph, wherever --graph-url sends requests.
            resource: graph.into(),
            concurrency: self.concurrency,
            rate: self.rate,
            max_attempts: self.max_attempts,
            timeout: std::time::Duration::from_secs(self.timeout.max(1)),
        })
    }
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub image: ImageArgs,
    #[command(flatten)]
    pub graph: GraphArgs,
    #[command(flatten)]
    pub safety: commands::backup::UploadSafetyArgs,
    /// Sign in and resolve every user, but upload nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub state: StateArgs,
    /// Upload every matched user, even those whose photo, settings and last upload are
    /// unchanged.
    #[arg(long)]
    pub force: bool,
    /// After Ctrl-C, how long uploads already on their way may take to finish.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub stop_timeout: u64,
    /// Staged roll-out: upload only the first N users that need it (in file order), e.g.
    /// 10, then 100, then all; the state database makes each later run skip those done.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(usize))]
    pub limit: Option<usize>,
}

/// Where a Graph-writing command keeps its record of what it did.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// The state database (SQLite) [default: beside the photos folder, named after it:
    /// PHOTOS.m365-photos.db].
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

impl StateArgs {
    /// The state file for a run over `photos`.
    pub fn path_for(&self, photos: &std::path::Path) -> PathBuf {
        self.state
            .clone()
            .unwrap_or_else(|| crate::state::default_path(photos))
    }
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder with the sample photos, users.csv and tenant-users.csv.
    #[arg(long, value_name = "DIR", default_value = "samples")]
    pub samples: PathBuf,
    /// Where the report, page and uploaded photos go.
    #[arg(long, value_name = "DIR", default_value = "m365-photos-demo")]
    pub out: PathBuf,
}

/// The Graph emulator's behaviour.
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Port on 127.0.0.1 (0 picks a free one; the first line printed says which).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Tenant users: CSV with userPrincipalName and optionally id, mail, employeeId,
    /// mailbox (exchange|none|onprem), accountEnabled, userType, photoError (a --photo-error
    /// KIND). Rows may share a mail or employeeId.
    #[arg(long, value_name = "FILE.csv")]
    pub users: Option<PathBuf>,
    /// Also make N users user00001@contoso.test... (employeeId 100001...).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub generate_users: usize,
    /// Graph requests per second before answering 429 (token bucket).
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Token bucket size (default: one second of --rate).
    #[arg(long, value_name = "B")]
    pub burst: Option<f64>,
    /// More photo writes than this in flight at once get 429 (MailboxConcurrency).
    #[arg(long, value_name = "N")]
    pub max_concurrent: Option<usize>,
    /// Retry-After on 429s: whole seconds (also how long it then refuses), `date+N` (an
    /// HTTP date N s ahead), or any other text sent as given (refusing for 2 s).
    #[arg(
        long,
        value_name = "VALUE",
        default_value = "2",
        allow_hyphen_values = true
    )]
    pub retry_after: String,
    /// Share of Graph requests answered 503/504 (0-1).
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Share of Graph requests that wait --stall-ms before being served (0-1).
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub stall_rate: f64,
    /// How long a stalled request waits, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub stall_ms: u64,
    /// Access token lifetime in seconds.
    #[arg(long, value_name = "S", default_value_t = 3599)]
    pub token_lifetime: u64,
    /// Send this as the token's `expires_in` (raw when a JSON number, e.g. 1e30), while
    /// the token still lasts --token-lifetime.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub expires_in: Option<String>,
    /// Application permissions in the token's `roles` claim: a comma list, `all`, or
    /// `none` (no claim: admin consent not granted). Default: all.
    #[arg(long, value_name = "LIST")]
    pub roles: Option<crate::emulator::Roles>,
    /// The tenant id (`tid`) in tokens.
    #[arg(long, value_name = "GUID", default_value = crate::emulator::DEFAULT_TENANT_ID)]
    pub tenant_id: String,
    /// A user's photo requests fail as real Graph's do (repeatable). KIND: unknown-error,
    /// unknown-error-404, resource-not-found, item-not-found, image-not-found,
    /// entity-not-found, on-premises, on-premises-404, no-mailbox, authentication-error, junk.
    #[arg(long, value_name = "USER=KIND")]
    pub photo_error: Vec<crate::emulator::UserFault>,
    /// GET photo/$value for this user answers 200 with an HTML page (repeatable).
    #[arg(long, value_name = "USER")]
    pub junk_photo: Vec<String>,
    /// Server time per photo write, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub write_latency_ms: u64,
    /// Also save every received photo here as <upn>.jpg.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Initial photoUpdateSettings source: unset (no source field), cloud or onPremises.
    #[arg(long, value_name = "SOURCE", default_value = "cloud")]
    pub photo_source: crate::emulator::PhotoSource,
    /// Wrap the photoUpdateSettings GET: none, object ({"value": {...}}) or array.
    #[arg(long, value_name = "HOW", default_value = "none")]
    pub settings_wrapped: crate::emulator::SettingsWrap,
    /// Status of a successful photo DELETE: 200 or 204.
    #[arg(long, value_name = "CODE", default_value_t = 200)]
    pub delete_status: u16,
    /// User listings' @odata.nextLink: normal, loop (a link to itself) or foreign
    /// (another port).
    #[arg(long, value_name = "MODE", default_value = "normal")]
    pub next_link: crate::emulator::NextLinkMode,
    /// The token endpoint answers 307 to this URL (`foreign`: another port that counts
    /// what it is sent).
    #[arg(long, value_name = "URL")]
    pub token_redirect: Option<String>,
    /// Seed for the fault dice.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl EmulatorArgs {
    pub fn to_config(&self) -> anyhow::Result<crate::emulator::EmulatorConfig> {
        use crate::emulator::{EmulatorConfig, EmulatorUser, PhotoFault, RetryAfterHeader};
        let invalid = |flag: &'static str, reason: String| ConfigError::Invalid { flag, reason };
        for (flag, p) in [
            ("--fail-rate", self.fail_rate),
            ("--stall-rate", self.stall_rate),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(invalid(flag, format!("{p} is not between 0 and 1")).into());
            }
        }
        if ![200, 204].contains(&self.delete_status) {
            let reason = format!("{}: use 200 or 204", self.delete_status);
            return Err(invalid("--delete-status", reason).into());
        }
        let mut users = match &self.users {
            Some(path) => EmulatorUser::from_csv(path)?,
            None => Vec::new(),
        };
        users.extend(EmulatorUser::generate(self.generate_users));
        let (retry_after, retry_after_header) = match self.retry_after.trim().parse::<u64>() {
            Ok(secs) => (secs, None),
            Err(_) => (2, Some(RetryAfterHeader::parse(&self.retry_after))),
        };
        let mut photo_faults: Vec<_> = self
            .photo_error
            .iter()
            .map(|f| (f.0.clone(), f.1))
            .collect();
        photo_faults.extend(
            self.junk_photo
                .iter()
                .map(|u| (u.clone(), PhotoFault::Junk)),
        );
        let defaults = EmulatorConfig::default();
        Ok(EmulatorConfig {
            port: self.port,
            users,
            rate: self.rate,
            burst: self.burst,
            max_concurrent: self.max_concurrent,
            retry_after,
            retry_after_header,
            fail_rate: self.fail_rate,
            stall_rate: self.stall_rate,
            stall: std::time::Duration::from_millis(self.stall_ms),
            token_lifetime: std::time::Duration::from_secs(self.token_lifetime.max(1)),
            expires_in: self.expires_in.clone(),
            write_latency: std::time::Duration::from_millis(self.write_latency_ms),
            store: self.store.clone(),
            client_secret: std::env::var("M365_EMULATOR_SECRET")
                .unwrap_or_else(|_| crate::emulator::DEFAULT_SECRET.into()),
            tenant_id: self.tenant_id.clone(),
            roles: self.roles.clone().map_or(defaults.roles, |r| r.0),
            photo_source: self.photo_source,
            settings_wrapped: self.settings_wrapped,
            delete_no_content: self.delete_status == 204,
            photo_faults,
            next_link: self.next_link,
            token_redirect: self.token_redirect.clone(),
            seed: self.seed,
        })
    }
}

/// Where the photos and users are and how they are paired.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Folder of photos (searched recursively; hidden files are skipped).
    #[arg(long, value_name = "DIR")]
    pub photos: PathBuf,
    /// Staff CSV (UTF-8; comma, semicolon or tab separated).
    #[arg(long, value_name = "FILE.csv")]
    pub users: PathBuf,
    /// CSV column whose value equals a photo's file name without extension.
    #[arg(long, value_name = "COL", default_value = "userPrincipalName")]
    pub match_column: String,
    /// CSV column naming the Microsoft 365 user (UPN, object id, mail or employeeId).
    #[arg(long, value_name = "COL", default_value = "userPrincipalName")]
    pub user_column: String,
    /// Write a report: .csv or .json, by extension.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write a self-contained HTML contact sheet.
    #[arg(long, value_name = "FILE.html")]
    pub html: Option<PathBuf>,
    /// Worker threads for processing (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CropArg {
    Face,
    Portrait,
    #[value(alias = "center")]
    Centre,
}

/// How photos are made.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Side of the square photo in pixels.
    #[arg(long, default_value_t = 648, value_name = "PX")]
    pub size: u32,
    /// Largest photo in bytes (102400 fits every Microsoft 365 and hybrid consumer).
    #[arg(long, default_value_t = 102_400, value_name = "BYTES")]
    pub max_bytes: usize,
    /// Highest JPEG quality to try (the highest that fits --max-bytes is used).
    #[arg(long, default_value_t = 90, value_name = "1-100")]
    pub quality: u8,
    /// Where the square goes: around the face, the top third, or the centre.
    #[arg(long, value_enum, default_value = "face")]
    pub crop: CropArg,
    /// Refuse sources with more pixels than this, before decoding.
    #[arg(long, default_value_t = 200_000_000, value_name = "N")]
    pub max_pixels: u64,
    /// Refuse source files larger than this many bytes, unread [default: 100 MiB].
    #[arg(long, default_value_t = 100 * 1024 * 1024, value_name = "BYTES", hide_default_value = true)]
    pub max_file_size: u64,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub image: ImageArgs,
}

#[derive(Debug, Args)]
pub struct ProcessArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub image: ImageArgs,
    /// Folder for the processed photos (`<user>.jpg`); created if missing.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

impl ImageArgs {
    pub fn to_options(&self) -> Result<ImageOptions, ConfigError> {
        if !(16..=4096).contains(&self.size) {
            return Err(ConfigError::Invalid {
                flag: "--size",
                reason: format!("{} is outside 16-4096 (Microsoft 365 uses 648)", self.size),
            });
        }
        if !(1..=100).contains(&self.quality) {
            return Err(ConfigError::Invalid {
                flag: "--quality",
                reason: format!("{} is outside 1-100", self.quality),
            });
        }
        if self.max_bytes < 2048 {
            return Err(ConfigError::Invalid {
                flag: "--max-bytes",
                reason: format!(
                    "{} bytes is too small for any photo (try 102400)",
                    self.max_bytes
                ),
            });
        }
        if self.max_bytes > 4 * 1024 * 1024 {
            return Err(ConfigError::Invalid {
                flag: "--max-bytes",
                reason: format!("{} bytes is over Graph's 4 MB photo limit", self.max_bytes),
            });
        }
        if self.max_file_size == 0 {
            return Err(ConfigError::Invalid {
                flag: "--max-file-size",
                reason: "must be at least 1 byte (the default is 104857600, 100 MiB)".into(),
            });
        }
        let defaults = ImageOptions::default();
        Ok(ImageOptions {
            size: self.size,
            max_bytes: self.max_bytes,
            quality: self.quality,
            min_quality: defaults.min_quality.min(self.quality),
            crop: match self.crop {
                CropArg::Face => CropMode::Face,
                CropArg::Portrait => CropMode::Portrait,
                CropArg::Centre => CropMode::Centre,
            },
            max_pixels: self.max_pixels,
            max_file_size: self.max_file_size,
        })
    }
}

impl InputArgs {
    /// Builds the run's options; the file checks themselves happen when the stages open them.
    pub fn to_options(
        &self,
        image: &ImageArgs,
        out: Option<PathBuf>,
    ) -> Result<Options, ConfigError> {
        if let Some(report) = &self.report
            && crate::report::exporter_for(report).is_none()
        {
            return Err(ConfigError::Invalid {
                flag: "--report",
                reason: format!(
                    "{}: use a .csv or .json file name (for a web page use --html)",
                    report.display()
                ),
            });
        }
        if self.jobs == Some(0) {
            return Err(ConfigError::Invalid {
                flag: "--jobs",
                reason: "must be at least 1".into(),
            });
        }
        Ok(Options {
            photos: self.photos.clone(),
            users: self.users.clone(),
            matching: MatchOptions {
                match_column: self.match_column.clone(),
                user_column: self.user_column.clone(),
            },
            image: image.to_options()?,
            report: self.report.clone(),
            html: self.html.clone(),
            out,
            jobs: self.jobs,
        })
    }
}

/// Parses the command line, runs the command, and returns the exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    init_logging(cli.verbose);
    let out = Output::detect(cli.quiet);
    let result = match &cli.command {
        Command::Plan(args) => args
            .input
            .to_options(&args.image, None)
            .map_err(anyhow::Error::from)
            .and_then(|opts| commands::plan::run(&opts, &out)),
        Command::Process(args) => args
            .input
            .to_options(&args.image, Some(args.out.clone()))
            .map_err(anyhow::Error::from)
            .and_then(|opts| commands::process::run(&opts, &out)),
        Command::Upload(args) => args
            .input
            .to_options(&args.image, None)
            .and_then(|opts| Ok((opts, args.graph.to_options()?)))
            .map_err(anyhow::Error::from)
            .and_then(|(opts, graph)| {
                let state = args.state.path_for(&opts.photos);
                let (backup, lock) =
                    args.safety
                        .hooks(opts.report.as_deref(), args.dry_run, Some(&state))?;
                let upload = crate::upload::UploadOptions {
                    dry_run: args.dry_run,
                    backup,
                    lock,
                    state: Some(state),
                    force: args.force,
                    grace: std::time::Duration::from_secs(args.stop_timeout),
                    limit: args.limit,
                };
                commands::upload::run(&opts, &upload, graph, &out)
            }),
        Command::Demo(args) => commands::demo::run(&args.samples, &args.out, &out),
        Command::Emulator(args) => args
            .to_config()
            .and_then(crate::emulator::run_foreground)
            .map(|()| exit::OK),
        Command::Lock(args) => commands::lock::run_lock(args, &out),
        Command::Unlock(args) => commands::lock::run_unlock(args, &out),
        Command::LockStatus(args) => commands::lock::run_status(args, &out),
        Command::Backup(args) => commands::backup::run(args, &out),
        Command::Remove(args) => commands::remove::run(args, &out),
        Command::Restore(args) => commands::restore::run(args, &out),
        Command::Status(args) => commands::status::run(args, &out),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            out.error(&format!("{e:#}"));
            if e.downcast_ref::<ConfigError>().is_some()
                || e.downcast_ref::<crate::state::StateError>().is_some()
                || matches!(
                    e.downcast_ref::<crate::graph::PreflightError>(),
                    Some(crate::graph::PreflightError::Permissions(_))
                )
            {
                exit::USAGE
            } else {
                exit::SOME_FAILED
            }
        }
    }
}

fn init_logging(verbose: u8) {
    if verbose == 0 {
        return;
    }
    let level = if verbose == 1 { "info" } else { "debug" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("m365_photos={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
