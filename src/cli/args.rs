//! Every clap struct of the command line, and nothing else: what each flag is called, its
//! default and its help. `convert` turns them into the validated configs.

use std::path::PathBuf;

use clap::builder::{PathBufValueParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Every path flag: as given, with `/` written as `\` on Windows (`--out out/demo` then
/// prints `out\demo\report.csv`, not `out/demo\report.csv`).
fn path_arg() -> impl TypedValueParser<Value = PathBuf> {
    PathBufValueParser::new().map(crate::util::fs::native_path)
}

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
    Lock(LockArgs),
    /// Let every user change their own photo again.
    Unlock(UnlockArgs),
    /// Show who may change photos in the tenant.
    LockStatus(LockStatusArgs),
    /// Save users' current photos to a folder with a manifest.
    Backup(BackupArgs),
    /// Remove users' photos (each one backed up first).
    Remove(RemoveArgs),
    /// Put the photos of a backup folder back.
    Restore(RestoreArgs),
    /// What the state database says of the last runs: done, failed, pending.
    Status(StatusArgs),
    /// Check the sign-in, permissions, clock and photo settings before a real run;
    /// optionally one canary user (and one real upload to them).
    Doctor(DoctorArgs),
    /// Print the man page or a shell completion script (for packagers).
    #[command(hide = true)]
    Generate(GenerateArgs),
}

/// `generate`: what to print.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[arg(value_enum)]
    pub kind: GenerateKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerateKind {
    /// The man page (roff), for `man 1 m365-photos`.
    Man,
    CompleteBash,
    CompleteZsh,
    CompleteFish,
    CompletePowershell,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CloudArg {
    Global,
    Usgov,
    UsgovDod,
    China,
}

/// `--auth`: which sign-in to use when the environment offers several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    Secret,
    Certificate,
    ManagedIdentity,
    WorkloadIdentity,
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
    #[arg(long, value_name = "PATH", value_parser = path_arg())]
    pub certificate: Option<PathBuf>,
    /// File holding the client secret (else AZURE_CLIENT_SECRET).
    #[arg(long, value_name = "FILE", value_parser = path_arg())]
    pub client_secret_file: Option<PathBuf>,
    /// How to sign in. Default: the first one configured, in the Azure SDKs' order: a
    /// certificate or client secret; workload identity (AZURE_FEDERATED_TOKEN_FILE with
    /// AZURE_TENANT_ID and AZURE_CLIENT_ID); managed identity (IDENTITY_ENDPOINT and
    /// IDENTITY_HEADER, as App Service, Functions and Automation set them). On an Azure
    /// VM pass `--auth managed-identity` (IMDS; --client-id picks a user-assigned one).
    #[arg(long, value_enum, value_name = "METHOD")]
    pub auth: Option<AuthArg>,
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

#[derive(Debug, Args)]
pub struct UploadArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub image: ImageArgs,
    #[command(flatten)]
    pub graph: GraphArgs,
    #[command(flatten)]
    pub safety: UploadSafetyArgs,
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
    #[arg(long, value_name = "FILE", value_parser = path_arg())]
    pub state: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder with the sample photos, users.csv and tenant-users.csv.
    #[arg(long, value_name = "DIR", default_value = "samples", value_parser = path_arg())]
    pub samples: PathBuf,
    /// Where the report, page and uploaded photos go.
    #[arg(long, value_name = "DIR", default_value = "m365-photos-demo", value_parser = path_arg())]
    pub out: PathBuf,
    /// Rehearse a large run instead: N generated photos and users, uploaded to the
    /// emulator limited like a tenant (50 requests/s, slow writes, 1% faults), with a
    /// report, a paged contact sheet and the figures (time, photos/s, peak memory, sizes).
    #[arg(long, value_name = "N")]
    pub users: Option<usize>,
    /// With --users: server time per photo write (real Graph: about 1,000 ms).
    #[arg(long, value_name = "MS", default_value_t = 300, requires = "users")]
    pub write_latency_ms: u64,
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
    #[arg(long, value_name = "FILE.csv", value_parser = path_arg())]
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
    /// Every photo write answers 403 Authorization_RequestDenied, whatever the roles
    /// (GET /_emulator/allow-photo-writes lifts it).
    #[arg(long)]
    pub deny_photo_writes: bool,
    /// Every photo write answers 401 InvalidAuthenticationToken, even with a fresh token.
    #[arg(long)]
    pub reject_write_tokens: bool,
    /// GET photo/$value for this user answers 200 with an HTML page (repeatable).
    #[arg(long, value_name = "USER")]
    pub junk_photo: Vec<String>,
    /// Server time per photo write, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub write_latency_ms: u64,
    /// Also save every received photo here as <upn>.jpg.
    #[arg(long, value_name = "DIR", value_parser = path_arg())]
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
    /// The X-IDENTITY-HEADER value the managed identity endpoint (/msi/token, App Service
    /// style) wants [default: emulator-identity-header, or M365_EMULATOR_IDENTITY_HEADER].
    #[arg(long, value_name = "VALUE")]
    pub identity_header: Option<String>,
    /// Client id of a user-assigned managed identity attached to the emulated host
    /// (repeatable); others get "Identity not found".
    #[arg(long, value_name = "CLIENT_ID")]
    pub user_assigned: Vec<String>,
    /// Federated assertions must have this issuer (else AADSTS70021) [default: any].
    #[arg(long, value_name = "URL")]
    pub federated_issuer: Option<String>,
    /// Federated assertions must have this subject (else AADSTS700213) [default: any].
    #[arg(long, value_name = "SUBJECT")]
    pub federated_subject: Option<String>,
}

/// Where the photos and users are and how they are paired.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Folder of photos (searched recursively; hidden files are skipped).
    #[arg(long, value_name = "DIR", value_parser = path_arg())]
    pub photos: PathBuf,
    /// Staff CSV (UTF-8; comma, semicolon or tab separated). `upload` without it matches
    /// photo names against the tenant's directory itself (see --match-property).
    #[arg(long, value_name = "FILE.csv", value_parser = path_arg())]
    pub users: Option<PathBuf>,
    /// Without --users: the directory property a photo's name equals.
    #[arg(long, value_enum, value_name = "PROPERTY", conflicts_with = "users")]
    pub match_property: Option<MatchPropertyArg>,
    /// CSV column whose value equals a photo's file name without extension.
    #[arg(long, value_name = "COL", default_value = "userPrincipalName")]
    pub match_column: String,
    /// CSV column naming the Microsoft 365 user (UPN, object id, mail or employeeId).
    #[arg(long, value_name = "COL", default_value = "userPrincipalName")]
    pub user_column: String,
    /// Write a report: .csv or .json, by extension.
    #[arg(long, value_name = "FILE", value_parser = path_arg())]
    pub report: Option<PathBuf>,
    /// Write a self-contained HTML contact sheet.
    #[arg(long, value_name = "FILE.html", value_parser = path_arg())]
    pub html: Option<PathBuf>,
    /// Worker threads for processing (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MatchPropertyArg {
    #[value(name = "userPrincipalName", alias = "upn")]
    UserPrincipalName,
    #[value(name = "mail")]
    Mail,
    #[value(name = "employeeId", alias = "employee-id")]
    EmployeeId,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CropArg {
    Face,
    Portrait,
    #[value(alias = "center")]
    Centre,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FramingArg {
    Tight,
    Standard,
    Loose,
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
    /// How close the face crop zooms: face about 50% (tight), 42% (standard) or 35%
    /// (loose) of the square's width; never below --size source pixels, never past the
    /// photo. A CSV `framing` column overrides it for one user, as a `crop` column does
    /// --crop.
    #[arg(long, value_enum, default_value = "standard")]
    pub framing: FramingArg,
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
    #[arg(long, value_name = "DIR", value_parser = path_arg())]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Users to back up (CSV).
    #[arg(
        long,
        value_name = "FILE.csv",
        required_unless_present = "all",
        conflicts_with = "all",
        value_parser = path_arg()
    )]
    pub users: Option<PathBuf>,
    /// CSV column naming the user (UPN, object id, mail or employeeId).
    #[arg(long, value_name = "COL", default_value = "userPrincipalName")]
    pub user_column: String,
    /// Every user in the tenant.
    #[arg(long)]
    pub all: bool,
    /// Folder for the photos and manifest.csv (created; an existing manifest is appended to).
    #[arg(long, value_name = "DIR", value_parser = path_arg())]
    pub out: PathBuf,
    /// Write a report: .csv or .json, by extension.
    #[arg(long, value_name = "FILE", value_parser = path_arg())]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub graph: GraphArgs,
}

/// `--state` of the tenant commands that change photos.
#[derive(Debug, Args)]
pub struct TenantStateArgs {
    /// Record this run in the state database that `upload` uses (PHOTOS.m365-photos.db
    /// beside the photos folder), so that the next upload does not skip these users.
    #[arg(long, value_name = "FILE", value_parser = path_arg())]
    pub state: Option<PathBuf>,
}

/// `upload`'s safety options (issue 5): backup before replacing, lock afterwards.
#[derive(Debug, Args)]
pub struct UploadSafetyArgs {
    /// Save each user's current photo here before replacing it
    /// [default: photo-backup-<time> beside the report, else in the current folder].
    #[arg(long, value_name = "DIR", conflicts_with = "no_backup", value_parser = path_arg())]
    pub backup_dir: Option<PathBuf>,
    /// Replace photos without saving the current ones first.
    #[arg(long)]
    pub no_backup: bool,
    /// After a clean upload, lock photo changes to --lock-roles (see `lock`).
    #[arg(long)]
    pub lock: bool,
    /// Roles that may still change photos after --lock [default: global-admin,user-admin].
    #[arg(long, value_name = "LIST", requires = "lock")]
    pub lock_roles: Option<String>,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Roles that may still change photos: global-admin, user-admin, people-admin,
    /// exchange-admin, or role template ids, comma-separated [default: global-admin,user-admin].
    #[arg(long, value_name = "LIST")]
    pub roles: Option<String>,
    /// Change the settings even when the tenant's photo source is onPremises.
    #[arg(long)]
    pub force: bool,
    /// Also write an Exchange Online PowerShell script (Outlook on the web policy route).
    #[arg(long, value_name = "FILE.ps1", value_parser = path_arg())]
    pub owa_script: Option<PathBuf>,
    /// With --owa-script: a new policy for these users only (default: the default policy, everyone).
    #[arg(long, value_name = "FILE.csv", requires = "owa_script", value_parser = path_arg())]
    pub users: Option<PathBuf>,
    /// CSV column naming the users for --users.
    #[arg(long, value_name = "COL", default_value = "userPrincipalName")]
    pub user_column: String,
    /// Also set the photo source to `cloud` on a tenant where it was never set. That
    /// stops photos synced from on-premises Active Directory (hybrid tenants).
    #[arg(long, value_name = "cloud", value_parser = ["cloud"])]
    pub source: Option<String>,
    #[command(flatten)]
    pub graph: GraphArgs,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Change the settings even when the tenant's photo source is onPremises.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub graph: GraphArgs,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// A user to check: look them up and read their photo's metadata (UPN, object id or
    /// employeeId).
    #[arg(long, value_name = "USER")]
    pub canary: Option<String>,
    /// With --canary: make this photo as upload would and put it on the canary user, then
    /// read it back (changes that user's photo).
    #[arg(long, value_name = "FILE", requires = "canary", value_parser = path_arg())]
    pub canary_write: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub graph: GraphArgs,
}

#[derive(Debug, Args)]
pub struct LockStatusArgs {
    /// Print the settings as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub graph: GraphArgs,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Users whose photos go (CSV).
    #[arg(long, value_name = "FILE.csv", value_parser = path_arg())]
    pub users: PathBuf,
    /// CSV column naming the user (UPN, object id, mail or employeeId).
    #[arg(long, value_name = "COL", default_value = "userPrincipalName")]
    pub user_column: String,
    /// Where the photos are saved before removal [default: ./photo-backup-<time>].
    #[arg(long, value_name = "DIR", value_parser = path_arg())]
    pub backup_dir: Option<PathBuf>,
    /// List what would be removed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write a report: .csv or .json, by extension.
    #[arg(long, value_name = "FILE", value_parser = path_arg())]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub state: TenantStateArgs,
    #[command(flatten)]
    pub graph: GraphArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A folder made by `backup`, `remove` or `upload` (holds manifest.csv).
    #[arg(long, value_name = "DIR", value_parser = path_arg())]
    pub from: PathBuf,
    /// Check the backup and list what would be restored; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write a report: .csv or .json, by extension.
    #[arg(long, value_name = "FILE", value_parser = path_arg())]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub state: TenantStateArgs,
    #[command(flatten)]
    pub graph: GraphArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The state database [default: beside --photos, PHOTOS.m365-photos.db].
    #[arg(long, value_name = "FILE", required_unless_present = "photos", value_parser = path_arg())]
    pub state: Option<PathBuf>,
    /// The photos folder the runs were made from (finds its state database).
    #[arg(long, value_name = "DIR", value_parser = path_arg())]
    pub photos: Option<PathBuf>,
    /// How many runs to list.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub runs: usize,
    /// The run to detail and export [default: the latest].
    #[arg(long, value_name = "ID")]
    pub run: Option<i64>,
    /// Write the run's rows to a report: .csv or .json, by extension.
    #[arg(long, value_name = "FILE", value_parser = path_arg())]
    pub report: Option<PathBuf>,
    /// Failed users listed with their reason (the report has them all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub show_failed: usize,
}
