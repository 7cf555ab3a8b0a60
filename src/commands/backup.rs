//! `backup`: saves users' current photos to a folder with a manifest; also the helpers
//! the other tenant commands share (runtime, sign-in, reading the users CSV).

use crate::graph::claims::{self, Need};
use crate::graph::{GraphUser, Lookup};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use crate::cli::GraphArgs;
use crate::error::ConfigError;
use crate::graph::{GraphClient, GraphOptions, PhotoApi, UserKey};
use crate::matching::UserIndex;
use crate::options::MatchOptions;
use crate::output::Output;
use crate::report::{Report, Row, Status};
use crate::state::StateDb;
use crate::tenant::backup::BackupDir;
use crate::tenant::run::{self, Target};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Users to back up (CSV).
    #[arg(
        long,
        value_name = "FILE.csv",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub users: Option<PathBuf>,
    /// CSV column naming the user (UPN, object id, mail or employeeId).
    #[arg(long, value_name = "COL", default_value = "userPrincipalName")]
    pub user_column: String,
    /// Every user in the tenant.
    #[arg(long)]
    pub all: bool,
    /// Folder for the photos and manifest.csv (created; an existing manifest is appended to).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Write a report: .csv or .json, by extension.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub graph: GraphArgs,
}

/// A two-thread runtime, as `upload` uses.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Builds the one Graph client, signs in and checks the token grants `needs`, so bad
/// credentials or a missing permission stop before any work.
pub fn connect(
    rt: &tokio::runtime::Runtime,
    graph: GraphOptions,
    needs: &[Need],
) -> anyhow::Result<GraphClient> {
    let client = GraphClient::new(graph).map_err(|e| anyhow::anyhow!(e))?;
    rt.block_on(client.check_sign_in())
        .map_err(|e| anyhow::anyhow!("signing in failed: {}", e.detail()))?;
    rt.block_on(client.preflight(needs))?;
    Ok(client)
}

/// The users of a CSV column, in file order without repeats, plus (line, reason) for
/// rows that cannot be used.
pub type UserList = (Vec<(String, u64)>, Vec<(u64, String)>);

pub fn read_user_column(csv: &Path, column: &str) -> Result<UserList, ConfigError> {
    let index = UserIndex::load(
        csv,
        &MatchOptions {
            match_column: column.to_string(),
            user_column: column.to_string(),
        },
    )?;
    let mut seen = std::collections::HashSet::new();
    let users = index
        .users
        .iter()
        .filter(|u| seen.insert(u.user.to_lowercase()))
        .map(|u| (u.user.clone(), u.line))
        .collect();
    let issues = index
        .issues
        .iter()
        .filter(|i| !i.reason.contains("duplicate"))
        .map(|i| (i.line, i.reason.clone()))
        .collect();
    Ok((users, issues))
}

/// Users from `--users` (looked up once) or the whole tenant; rows for unusable CSV lines.
pub async fn targets<G: PhotoApi>(
    graph: &G,
    users: Option<&Path>,
    column: &str,
) -> anyhow::Result<(Vec<Target>, Vec<Row>)> {
    let Some(csv) = users else {
        let all = graph
            .list_users()
            .await
            .map_err(|f| anyhow::anyhow!("listing the tenant's users failed: {}", f.detail()))?;
        let targets = all
            .into_iter()
            .map(|u| Target {
                user: u
                    .upn
                    .clone()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| u.id.clone()),
                csv_line: None,
                resolved: Some(u),
            })
            .collect();
        return Ok((targets, Vec::new()));
    };
    let (users, issues) = read_user_column(csv, column)?;
    let rows = issues
        .into_iter()
        .map(|(line, reason)| Row {
            status: Some(Status::BadRow),
            detail: format!("{}: {reason}", csv.display()),
            csv_line: Some(line),
            ..Row::default()
        })
        .collect();
    let mut rows: Vec<Row> = rows;
    let refs: Vec<String> = users.iter().map(|(u, _)| u.clone()).collect();
    let key = UserKey::from_column(column);
    let found = graph.resolve_users(key, &refs).await;
    let mut targets = Vec::new();
    for (user, line) in users {
        let resolved = match found.get(&user) {
            Lookup::One(u) => Some(u.clone()),
            Lookup::NotFound => None,
            Lookup::Several(many) => {
                let names: Vec<String> = many.iter().map(GraphUser::describe).collect();
                rows.push(Row {
                    status: Some(Status::Ambiguous),
                    detail: format!(
                        "{} users in the tenant have {} {user:?}: {}; none was touched",
                        many.len(),
                        key.property(),
                        names.join(", ")
                    ),
                    user: Some(user),
                    csv_line: Some(line),
                    ..Row::default()
                });
                continue;
            }
            Lookup::Failed(e) => {
                rows.push(Row {
                    status: Some(Status::Failed),
                    detail: format!("looking the user up failed: {}", e.detail()),
                    http_status: e.status,
                    graph_code: e.code.clone(),
                    user: Some(user),
                    csv_line: Some(line),
                    ..Row::default()
                });
                continue;
            }
        };
        targets.push(Target {
            resolved,
            user,
            csv_line: Some(line),
        });
    }
    Ok((targets, rows))
}

/// Writes the report file (when asked), prints the summary, returns the exit code.
pub fn finish(report: &Report, path: Option<&Path>, out: &Output) -> anyhow::Result<i32> {
    if let Some(path) = path {
        super::prepare::write_report(path, report)?;
    }
    for line in report.summary_lines() {
        out.result(&line);
    }
    if let Some(path) = path {
        out.result(&format!("report: {}", path.display()));
    }
    Ok(report.exit_code())
}

/// `--state` of the tenant commands that change photos.
#[derive(Debug, Args)]
pub struct TenantStateArgs {
    /// Record this run in the state database that `upload` uses (PHOTOS.m365-photos.db
    /// beside the photos folder), so that the next upload does not skip these users.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

impl TenantStateArgs {
    /// Opens the database before any work (a run holding it stops this one).
    pub fn open(&self, dry_run: bool) -> Result<Option<StateDb>, crate::state::StateError> {
        match &self.state {
            Some(path) if !dry_run => StateDb::open(path).map(Some),
            _ => Ok(None),
        }
    }

    /// Records the finished run; users whose photo changed are no longer skipped.
    pub fn record(
        db: Option<StateDb>,
        command: &str,
        scope: &str,
        report: &Report,
        dry_run: bool,
        out: &Output,
    ) {
        let changed = [Status::Removed, Status::Restored];
        match db {
            Some(db) => {
                let path = db.path().to_path_buf();
                if let Err(e) = db.record_run(command, scope, &report.rows, &changed) {
                    out.error(&format!("state database {}: {e}", path.display()));
                }
            }
            None if !dry_run && report.rows.iter().any(|r| changed.contains(&r.status())) => {
                out.note("note: no --state given, so a later `upload` with an unchanged photo may skip these users; use `upload --force` for them, or pass --state next time");
            }
            None => {}
        }
    }
}

/// Refuses a report name with no known format before any work is done.
pub fn check_report(path: Option<&Path>) -> Result<(), ConfigError> {
    match path {
        Some(p) if crate::report::exporter_for(p).is_none() => Err(ConfigError::Invalid {
            flag: "--report",
            reason: format!("{}: use a .csv or .json file name", p.display()),
        }),
        _ => Ok(()),
    }
}

/// `backup`.
pub fn run(args: &BackupArgs, out: &Output) -> anyhow::Result<i32> {
    check_report(args.report.as_deref())?;
    let graph = args.graph.to_options()?;
    let dir = Arc::new(BackupDir::create(&args.out)?);
    let rt = runtime()?;
    let tenant = Arc::new(connect(
        &rt,
        graph,
        &[claims::LOOK_UP, claims::READ_PHOTOS],
    )?);
    let mut report = Report::new("backup");
    let rows = rt.block_on(async {
        let (targets, mut rows) =
            targets(tenant.as_ref(), args.users.as_deref(), &args.user_column).await?;
        rows.extend(run::backup_all(tenant, Arc::clone(&dir), targets).await);
        anyhow::Ok(rows)
    })?;
    report.rows = rows;
    out.result(&format!(
        "backup folder: {} (manifest: {})",
        dir.path().display(),
        dir.path().join(crate::tenant::backup::MANIFEST).display()
    ));
    finish(&report, args.report.as_deref(), out)
}

/// `upload`'s safety options (issue 5): backup before replacing, lock afterwards.
#[derive(Debug, Args)]
pub struct UploadSafetyArgs {
    /// Save each user's current photo here before replacing it
    /// [default: photo-backup-<time> beside the report, else in the current folder].
    #[arg(long, value_name = "DIR", conflicts_with = "no_backup")]
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

/// The backup folder and lock roles `upload` hooks in.
pub type UploadHooks = (
    Option<Arc<BackupDir>>,
    Option<Vec<crate::tenant::roles::RoleId>>,
);

impl UploadSafetyArgs {
    /// Validates the options and creates the backup folder (not for a dry run). With a
    /// state database the folder is the one it remembers (see
    /// [`crate::tenant::backup::remembered_dir`]), so resumed runs share one folder.
    pub fn hooks(
        &self,
        report: Option<&Path>,
        dry_run: bool,
        state: Option<&Path>,
    ) -> Result<UploadHooks, ConfigError> {
        use crate::tenant::roles;
        let lock = if self.lock {
            Some(match &self.lock_roles {
                Some(list) => roles::parse_roles(list).map_err(|e| ConfigError::Invalid {
                    flag: "--lock-roles",
                    reason: e.to_string(),
                })?,
                None => roles::default_roles(),
            })
        } else {
            None
        };
        if self.no_backup || dry_run {
            return Ok((None, lock));
        }
        let remembered = state.and_then(crate::tenant::backup::remembered_dir);
        let dir = match (&self.backup_dir, remembered) {
            (Some(d), _) => d.clone(),
            (None, Some(d)) => d,
            (None, None) => {
                let beside = report
                    .and_then(Path::parent)
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                beside.join(crate::tenant::backup::timestamped_name())
            }
        };
        let backup = BackupDir::create(&dir).map_err(|e| ConfigError::Output {
            path: dir.clone(),
            reason: format!("cannot make the backup folder (--backup-dir): {e}"),
        })?;
        if let Some(state) = state {
            crate::tenant::backup::remember_dir(state, &dir).map_err(|e| ConfigError::Output {
                path: crate::tenant::backup::remembered_file(state),
                reason: format!("cannot record the backup folder beside the state database: {e}"),
            })?;
        }
        Ok((Some(Arc::new(backup.once_per_user())), lock))
    }
}
