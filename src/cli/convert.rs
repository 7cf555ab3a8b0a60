//! Arguments -> validated configs: every check of a flag's value, and every default
//! taken from the environment (`AZURE_*`, `M365_*`), happens here and nowhere else. No
//! side effects: nothing is created, signed in or written; a secret file is only read.

use std::path::PathBuf;
use std::time::Duration;

use super::args::*;
use crate::config::{
    BackupConfig, BackupPlan, Command, ConfigError, CropMode, DemoConfig, DirectoryKey,
    DoctorConfig, Framing, ImageOptions, LockConfig, LockStatusConfig, MatchOptions, Options,
    OwaScript, RemoveConfig, RestoreConfig, StatusConfig, UploadConfig, UploadOptions, UserSource,
};
use crate::emulator::{EmulatorConfig, EmulatorUser, PhotoFault, RetryAfterHeader};
use crate::graph::identity::{FederatedToken, IMDS_HOST, IdentityEndpoint, ManagedIdentity};
use crate::graph::{Cloud, Credential, GraphOptions, Secret};
use crate::tenant::roles;

/// Where defaults from the environment come from: the process's own, or a test's map.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, blank values counted as unset.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn invalid(flag: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        flag,
        reason: reason.into(),
    }
}

/// The whole command line -> the validated command.
pub(crate) fn command(args: &super::args::Command, env: Env) -> Result<Command, ConfigError> {
    use super::args::Command as A;
    Ok(match args {
        A::Plan(a) => Command::Plan(with_csv(input_options(&a.input, &a.image, None)?)?),
        A::Process(a) => Command::Process(with_csv(input_options(
            &a.input,
            &a.image,
            Some(a.out.clone()),
        )?)?),
        A::Upload(a) => Command::Upload(Box::new(upload_config(a, env)?)),
        A::Demo(a) => Command::Demo(demo_config(a)?),
        A::Emulator(a) => Command::Emulator(Box::new(emulator_config(a, env)?)),
        A::Lock(a) => Command::Lock(Box::new(lock_config(a, env)?)),
        A::Unlock(a) => Command::Lock(Box::new(LockConfig {
            roles: None,
            force: a.force,
            source_cloud: false,
            owa_script: None,
            graph: graph_options(&a.graph, env)?,
        })),
        A::LockStatus(a) => Command::LockStatus(Box::new(LockStatusConfig {
            json: a.json,
            graph: graph_options(&a.graph, env)?,
        })),
        A::Backup(a) => Command::Backup(Box::new(backup_config(a, env)?)),
        A::Remove(a) => Command::Remove(Box::new(RemoveConfig {
            users: a.users.clone(),
            user_column: a.user_column.clone(),
            backup_dir: a.backup_dir.clone(),
            dry_run: a.dry_run,
            report: report_path(a.report.as_ref())?,
            state: a.state.state.clone(),
            graph: graph_options(&a.graph, env)?,
        })),
        A::Restore(a) => Command::Restore(Box::new(RestoreConfig {
            from: a.from.clone(),
            dry_run: a.dry_run,
            report: report_path(a.report.as_ref())?,
            state: a.state.state.clone(),
            graph: graph_options(&a.graph, env)?,
        })),
        A::Status(a) => Command::Status(status_config(a)?),
        A::Doctor(a) => Command::Doctor(Box::new(doctor_config(a, env)?)),
        // Printed by the CLI itself before any config is made.
        A::Generate(_) => {
            return Err(invalid("generate", "has no command config"));
        }
    })
}

/// `plan` and `process` do not sign in, so they need the CSV.
fn with_csv(opts: Options) -> Result<Options, ConfigError> {
    match opts.directory {
        Some(_) => Err(invalid(
            "--users",
            "plan and process need the staff CSV (only upload can match photo names against the directory)",
        )),
        None => Ok(opts),
    }
}

/// `doctor`: the Graph options, a canary user and the photo for its test upload.
fn doctor_config(a: &super::args::DoctorArgs, env: Env) -> Result<DoctorConfig, ConfigError> {
    let canary = match a.canary.as_deref().map(str::trim) {
        Some("") => return Err(invalid("--canary", "names no user")),
        other => other.map(str::to_string),
    };
    if let Some(file) = &a.canary_write
        && !file.is_file()
    {
        return Err(invalid(
            "--canary-write",
            format!("{}: not a readable file", file.display()),
        ));
    }
    Ok(DoctorConfig {
        cloud: cloud_of(a.graph.cloud),
        canary,
        canary_write: a.canary_write.clone(),
        json: a.json,
        graph: graph_options(&a.graph, env)?,
    })
}

fn cloud_of(arg: CloudArg) -> Cloud {
    match arg {
        CloudArg::Global => Cloud::Global,
        CloudArg::Usgov => Cloud::UsGov,
        CloudArg::UsgovDod => Cloud::UsGovDod,
        CloudArg::China => Cloud::China,
    }
}

/// A `--report` name must say its format (.csv or .json).
fn report_path(path: Option<&PathBuf>) -> Result<Option<PathBuf>, ConfigError> {
    match path {
        Some(p) if crate::report::exporter_for(p).is_none() => Err(invalid(
            "--report",
            format!(
                "{}: use a .csv or .json file name (for a web page use --html)",
                p.display()
            ),
        )),
        other => Ok(other.cloned()),
    }
}

/// Sign-in and Graph settings. The secret comes from `--client-secret-file` or the
/// environment, never from the command line.
pub(crate) fn graph_options(args: &GraphArgs, env: Env) -> Result<GraphOptions, ConfigError> {
    let tenant = args.tenant.clone().or_else(|| env("AZURE_TENANT_ID"));
    let client_id = args.client_id.clone().or_else(|| env("AZURE_CLIENT_ID"));
    let credential = credential(args, env, client_id.as_deref());
    // A managed identity needs neither: the host knows both. The tenant then only
    // names the uploads in the state database.
    let managed = matches!(credential, Ok(Credential::ManagedIdentity(_)));
    let tenant = match tenant {
        Some(t) => t,
        None if managed => "managed-identity".into(),
        None => {
            return Err(invalid(
                "--tenant",
                "no tenant: pass --tenant or set AZURE_TENANT_ID",
            ));
        }
    };
    let client_id = match client_id {
        Some(c) => c,
        None if managed => String::new(),
        None => {
            return Err(invalid(
                "--client-id",
                "no app: pass --client-id or set AZURE_CLIENT_ID",
            ));
        }
    };
    let credential = credential?;
    let cloud = cloud_of(args.cloud);
    let (graph, login) = cloud.hosts();
    if args.concurrency == 0 || args.concurrency > 256 {
        return Err(invalid("--concurrency", "must be 1-256"));
    }
    if let Some(r) = args.rate
        && !(r > 0.0 && r <= 10_000.0)
    {
        return Err(invalid(
            "--rate",
            format!("{r} must be above 0 and at most 10000"),
        ));
    }
    if args.max_attempts == 0 {
        return Err(invalid("--max-attempts", "must be at least 1"));
    }
    Ok(GraphOptions {
        tenant,
        client_id,
        credential,
        graph_url: service_url("--graph-url", args.graph_url.as_deref().unwrap_or(graph))?,
        login_url: service_url(
            "--login-url",
            &args
                .login_url
                .clone()
                .or_else(|| env("AZURE_AUTHORITY_HOST"))
                .unwrap_or_else(|| login.into()),
        )?,
        // The token is for the cloud's Graph, wherever --graph-url sends requests.
        resource: graph.into(),
        concurrency: args.concurrency,
        rate: args.rate,
        max_attempts: args.max_attempts,
        timeout: Duration::from_secs(args.timeout.max(1)),
    })
}

/// The sign-in `--auth` names, else the first configured in the Azure SDKs' order
/// (environment: certificate or secret; workload identity; managed identity). IMDS has no
/// variable to notice and is never probed, so a VM asks for it with `--auth`.
fn credential(
    args: &GraphArgs,
    env: Env,
    client_id: Option<&str>,
) -> Result<Credential, ConfigError> {
    let not_set = |what: &str| invalid("--auth", what.to_string());
    match args.auth {
        Some(AuthArg::Certificate) => certificate(args, env).ok_or_else(|| {
            not_set("certificate chosen, but no certificate: pass --certificate or set AZURE_CLIENT_CERTIFICATE_PATH")
        }),
        Some(AuthArg::Secret) => secret(args, env)?.ok_or_else(|| {
            not_set("secret chosen, but no client secret: pass --client-secret-file or set AZURE_CLIENT_SECRET")
        }),
        Some(AuthArg::WorkloadIdentity) => workload(env).ok_or_else(|| {
            not_set("workload-identity chosen, but AZURE_FEDERATED_TOKEN_FILE is not set (Kubernetes' workload identity webhook sets it; in CI, write the OIDC token to a file and point it there)")
        }),
        Some(AuthArg::ManagedIdentity) => Ok(managed(env, client_id)),
        None => {
            if let Some(c) = certificate(args, env) {
                return Ok(c);
            }
            if let Some(c) = secret(args, env)? {
                return Ok(c);
            }
            if let Some(c) = workload(env) {
                return Ok(c);
            }
            if env("IDENTITY_ENDPOINT").is_some() && env("IDENTITY_HEADER").is_some()
                || env("AZURE_POD_IDENTITY_AUTHORITY_HOST").is_some()
            {
                return Ok(managed(env, client_id));
            }
            Err(invalid(
                "--certificate",
                "no credential: pass --certificate (or AZURE_CLIENT_CERTIFICATE_PATH), --client-secret-file, or set AZURE_CLIENT_SECRET; or AZURE_FEDERATED_TOKEN_FILE (workload identity); or --auth managed-identity",
            ))
        }
    }
}

fn certificate(args: &GraphArgs, env: Env) -> Option<Credential> {
    let path = args
        .certificate
        .clone()
        .or_else(|| env("AZURE_CLIENT_CERTIFICATE_PATH").map(PathBuf::from))?;
    Some(Credential::Certificate {
        path,
        password: env("AZURE_CLIENT_CERTIFICATE_PASSWORD").map(Secret::new),
    })
}

fn workload(env: Env) -> Option<Credential> {
    let file = env("AZURE_FEDERATED_TOKEN_FILE")?;
    Some(Credential::WorkloadIdentity(FederatedToken {
        file: PathBuf::from(file),
    }))
}

/// App Service / Functions / Automation when their two variables are set, else IMDS
/// (at `AZURE_POD_IDENTITY_AUTHORITY_HOST` when set, as the Azure SDKs allow).
fn managed(env: Env, client_id: Option<&str>) -> Credential {
    let endpoint = match (env("IDENTITY_ENDPOINT"), env("IDENTITY_HEADER")) {
        (Some(endpoint), Some(header)) => IdentityEndpoint::AppService {
            endpoint,
            header: Secret::new(header),
        },
        _ => IdentityEndpoint::Imds {
            host: env("AZURE_POD_IDENTITY_AUTHORITY_HOST").unwrap_or_else(|| IMDS_HOST.into()),
        },
    };
    Credential::ManagedIdentity(ManagedIdentity {
        endpoint,
        client_id: client_id.map(str::to_string),
    })
}

/// `--client-secret-file`, else `AZURE_CLIENT_SECRET`; `None` when neither is there.
fn secret(args: &GraphArgs, env: Env) -> Result<Option<Credential>, ConfigError> {
    if let Some(file) = &args.client_secret_file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| invalid("--client-secret-file", format!("{}: {e}", file.display())))?;
        let secret = text.trim().to_string();
        if secret.is_empty() {
            return Err(invalid(
                "--client-secret-file",
                format!("{} is empty", file.display()),
            ));
        }
        return Ok(Some(Credential::Secret(Secret::new(secret))));
    }
    Ok(env("AZURE_CLIENT_SECRET").map(|s| Credential::Secret(Secret::new(s))))
}

/// Graph and sign-in hosts take https only; plain http only for a local emulator.
fn service_url(flag: &'static str, url: &str) -> Result<String, ConfigError> {
    if url.starts_with("https://")
        || url.starts_with("http://127.0.0.1")
        || url.starts_with("http://localhost")
    {
        Ok(url.trim_end_matches('/').to_string())
    } else {
        Err(invalid(
            flag,
            format!("{url}: use https:// (plain http only for a local emulator)"),
        ))
    }
}

pub(crate) fn image_options(args: &ImageArgs) -> Result<ImageOptions, ConfigError> {
    if !(16..=4096).contains(&args.size) {
        return Err(invalid(
            "--size",
            format!("{} is outside 16-4096 (Microsoft 365 uses 648)", args.size),
        ));
    }
    if !(1..=100).contains(&args.quality) {
        return Err(invalid(
            "--quality",
            format!("{} is outside 1-100", args.quality),
        ));
    }
    if args.max_bytes < 2048 {
        return Err(invalid(
            "--max-bytes",
            format!(
                "{} bytes is too small for any photo (try 102400)",
                args.max_bytes
            ),
        ));
    }
    if args.max_bytes > 4 * 1024 * 1024 {
        return Err(invalid(
            "--max-bytes",
            format!("{} bytes is over Graph's 4 MB photo limit", args.max_bytes),
        ));
    }
    if args.max_file_size == 0 {
        return Err(invalid(
            "--max-file-size",
            "must be at least 1 byte (the default is 104857600, 100 MiB)",
        ));
    }
    let defaults = ImageOptions::default();
    Ok(ImageOptions {
        size: args.size,
        max_bytes: args.max_bytes,
        quality: args.quality,
        min_quality: defaults.min_quality.min(args.quality),
        crop: match args.crop {
            CropArg::Face => CropMode::Face,
            CropArg::Portrait => CropMode::Portrait,
            CropArg::Centre => CropMode::Centre,
        },
        framing: match args.framing {
            FramingArg::Tight => Framing::Tight,
            FramingArg::Standard => Framing::Standard,
            FramingArg::Loose => Framing::Loose,
        },
        max_pixels: args.max_pixels,
        max_file_size: args.max_file_size,
    })
}

/// The photo commands' options; the files themselves are checked when the stages open
/// them.
pub(crate) fn input_options(
    input: &InputArgs,
    image: &ImageArgs,
    out: Option<PathBuf>,
) -> Result<Options, ConfigError> {
    if input.jobs == Some(0) {
        return Err(invalid("--jobs", "must be at least 1"));
    }
    let directory = match (&input.users, input.match_property) {
        (Some(_), _) => None,
        (None, None | Some(MatchPropertyArg::UserPrincipalName)) => {
            Some(DirectoryKey::UserPrincipalName)
        }
        (None, Some(MatchPropertyArg::Mail)) => Some(DirectoryKey::Mail),
        (None, Some(MatchPropertyArg::EmployeeId)) => Some(DirectoryKey::EmployeeId),
    };
    Ok(Options {
        photos: input.photos.clone(),
        users: input.users.clone().unwrap_or_default(),
        directory,
        matching: MatchOptions {
            match_column: input.match_column.clone(),
            user_column: input.user_column.clone(),
        },
        image: image_options(image)?,
        report: report_path(input.report.as_ref())?,
        html: input.html.clone(),
        out,
        jobs: input.jobs,
    })
}

fn lock_roles(flag: &'static str, list: Option<&str>) -> Result<Vec<roles::RoleId>, ConfigError> {
    match list {
        Some(list) => roles::parse_roles(list).map_err(|e| invalid(flag, e.to_string())),
        None => Ok(roles::default_roles()),
    }
}

pub(crate) fn upload_config(args: &UploadArgs, env: Env) -> Result<UploadConfig, ConfigError> {
    let opts = input_options(&args.input, &args.image, None)?;
    let graph = graph_options(&args.graph, env)?;
    let safety = &args.safety;
    let lock = if safety.lock {
        Some(lock_roles("--lock-roles", safety.lock_roles.as_deref())?)
    } else {
        None
    };
    let backup = match (&safety.backup_dir, safety.no_backup || args.dry_run) {
        (_, true) => BackupPlan::Off,
        (Some(dir), false) => BackupPlan::Dir(dir.clone()),
        (None, false) => BackupPlan::Auto,
    };
    let state = args
        .state
        .state
        .clone()
        .unwrap_or_else(|| crate::state::default_path(&opts.photos));
    Ok(UploadConfig {
        opts,
        graph,
        upload: UploadOptions {
            dry_run: args.dry_run,
            backup,
            lock,
            state: Some(state),
            force: args.force,
            grace: Duration::from_secs(args.stop_timeout),
            limit: args.limit,
        },
    })
}

fn demo_config(args: &DemoArgs) -> Result<DemoConfig, ConfigError> {
    let rehearse = match args.users {
        Some(0) => return Err(invalid("--users", "a rehearsal needs at least 1 user")),
        Some(n) if n > 1_000_000 => {
            return Err(invalid("--users", format!("{n}: at most 1000000")));
        }
        Some(users) => Some(crate::config::Rehearsal {
            users,
            write_latency: Duration::from_millis(args.write_latency_ms),
        }),
        None => None,
    };
    Ok(DemoConfig {
        samples: args.samples.clone(),
        out: args.out.clone(),
        rehearse,
    })
}

fn backup_config(args: &BackupArgs, env: Env) -> Result<BackupConfig, ConfigError> {
    let users = match (&args.users, args.all) {
        (Some(path), false) => UserSource::Csv {
            path: path.clone(),
            column: args.user_column.clone(),
        },
        (None, true) => UserSource::All,
        _ => {
            return Err(invalid(
                "--users",
                "name the users with --users FILE.csv, or pass --all (not both)",
            ));
        }
    };
    Ok(BackupConfig {
        users,
        out: args.out.clone(),
        report: report_path(args.report.as_ref())?,
        graph: graph_options(&args.graph, env)?,
    })
}

fn lock_config(args: &LockArgs, env: Env) -> Result<LockConfig, ConfigError> {
    Ok(LockConfig {
        roles: Some(lock_roles("--roles", args.roles.as_deref())?),
        force: args.force,
        source_cloud: args.source.is_some(),
        owa_script: args.owa_script.as_ref().map(|path| OwaScript {
            path: path.clone(),
            users: args
                .users
                .as_ref()
                .map(|csv| (csv.clone(), args.user_column.clone())),
        }),
        graph: graph_options(&args.graph, env)?,
    })
}

fn status_config(args: &StatusArgs) -> Result<StatusConfig, ConfigError> {
    let state = match (&args.state, &args.photos) {
        (Some(p), _) => p.clone(),
        (None, Some(photos)) => crate::state::default_path(photos),
        (None, None) => {
            return Err(invalid(
                "--state",
                "name the state database, or the photos folder with --photos",
            ));
        }
    };
    Ok(StatusConfig {
        state,
        runs: args.runs.max(1),
        run: args.run,
        report: report_path(args.report.as_ref())?,
        show_failed: args.show_failed,
    })
}

pub(crate) fn emulator_config(
    args: &EmulatorArgs,
    env: Env,
) -> Result<EmulatorConfig, ConfigError> {
    for (flag, p) in [
        ("--fail-rate", args.fail_rate),
        ("--stall-rate", args.stall_rate),
    ] {
        if !(0.0..=1.0).contains(&p) {
            return Err(invalid(flag, format!("{p} is not between 0 and 1")));
        }
    }
    if ![200, 204].contains(&args.delete_status) {
        let reason = format!("{}: use 200 or 204", args.delete_status);
        return Err(invalid("--delete-status", reason));
    }
    let mut users = match &args.users {
        Some(path) => EmulatorUser::from_csv(path).map_err(|e| ConfigError::UsersCsv {
            path: path.clone(),
            reason: format!("{e:#}"),
        })?,
        None => Vec::new(),
    };
    users.extend(EmulatorUser::generate(args.generate_users));
    let (retry_after, retry_after_header) = match args.retry_after.trim().parse::<u64>() {
        Ok(secs) => (secs, None),
        Err(_) => (2, Some(RetryAfterHeader::parse(&args.retry_after))),
    };
    let mut photo_faults: Vec<_> = args
        .photo_error
        .iter()
        .map(|f| (f.0.clone(), f.1))
        .collect();
    photo_faults.extend(
        args.junk_photo
            .iter()
            .map(|u| (u.clone(), PhotoFault::Junk)),
    );
    let defaults = EmulatorConfig::default();
    Ok(EmulatorConfig {
        port: args.port,
        users,
        rate: args.rate,
        burst: args.burst,
        max_concurrent: args.max_concurrent,
        retry_after,
        retry_after_header,
        fail_rate: args.fail_rate,
        stall_rate: args.stall_rate,
        stall: Duration::from_millis(args.stall_ms),
        token_lifetime: Duration::from_secs(args.token_lifetime.max(1)),
        expires_in: args.expires_in.clone(),
        write_latency: Duration::from_millis(args.write_latency_ms),
        store: args.store.clone(),
        client_secret: env("M365_EMULATOR_SECRET")
            .unwrap_or_else(|| crate::emulator::DEFAULT_SECRET.into()),
        tenant_id: args.tenant_id.clone(),
        roles: args.roles.clone().map_or(defaults.roles, |r| r.0),
        photo_source: args.photo_source,
        settings_wrapped: args.settings_wrapped,
        delete_no_content: args.delete_status == 204,
        photo_faults,
        deny_photo_writes: args.deny_photo_writes,
        reject_write_tokens: args.reject_write_tokens,
        next_link: args.next_link,
        token_redirect: args.token_redirect.clone(),
        keep_photos: true,
        seed: args.seed,
        identity_header: args
            .identity_header
            .clone()
            .or_else(|| env("M365_EMULATOR_IDENTITY_HEADER"))
            .unwrap_or(defaults.identity_header),
        user_assigned: args.user_assigned.clone(),
        federated_issuer: args.federated_issuer.clone(),
        federated_subject: args.federated_subject.clone(),
    })
}

#[cfg(test)]
mod tests {
    //! One test per flag that convert checks, as ripgrep's `defs.rs` does: the command
    //! line is parsed by clap, converted, and the config (or the error) looked at.
    use super::*;
    use clap::Parser;
    use std::collections::HashMap;

    fn parse(line: &str) -> super::super::args::Command {
        let words = std::iter::once("m365-photos").chain(line.split_whitespace());
        super::super::args::Cli::try_parse_from(words)
            .unwrap_or_else(|e| panic!("{line}: {e}"))
            .command
    }

    fn with_env(line: &str, vars: &[(&str, &str)]) -> Result<Command, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |k: &str| map.get(k).cloned();
        command(&parse(line), &env)
    }

    const SIGN_IN: &[(&str, &str)] = &[
        ("AZURE_TENANT_ID", "contoso"),
        ("AZURE_CLIENT_ID", "app"),
        ("AZURE_CLIENT_SECRET", "s3cret"),
    ];

    fn upload(extra: &str) -> Result<UploadConfig, ConfigError> {
        match with_env(&format!("upload --photos p --users u.csv {extra}"), SIGN_IN)? {
            Command::Upload(c) => Ok(*c),
            other => panic!("{other:?}"),
        }
    }

    fn flag_of(e: ConfigError) -> &'static str {
        match e {
            ConfigError::Invalid { flag, .. } => flag,
            other => panic!("not a flag error: {other}"),
        }
    }

    #[test]
    fn defaults_match_the_library_defaults() {
        let c = upload("").unwrap();
        assert_eq!(c.opts.image, ImageOptions::default());
        assert_eq!(c.opts.matching, MatchOptions::default());
        assert_eq!(c.upload.backup, BackupPlan::Auto);
        assert_eq!(
            c.upload.state,
            Some(crate::state::default_path("p".as_ref()))
        );
        assert_eq!(c.graph.concurrency, 256);
        assert_eq!(c.graph.rate, None);
        assert_eq!(c.graph.graph_url, "https://graph.microsoft.com");
        assert!(matches!(c.graph.credential, Credential::Secret(_)));
    }

    #[test]
    fn size_quality_bytes_and_file_size() {
        assert_eq!(
            upload("--size 15").map(|_| ()).map_err(flag_of),
            Err("--size")
        );
        assert_eq!(upload("--size 96").unwrap().opts.image.size, 96);
        assert_eq!(
            upload("--quality 0").map(|_| ()).map_err(flag_of),
            Err("--quality")
        );
        // The lowest quality tried never lies above the highest.
        assert_eq!(upload("--quality 30").unwrap().opts.image.min_quality, 30);
        assert_eq!(
            upload("--max-bytes 100").map(|_| ()).map_err(flag_of),
            Err("--max-bytes")
        );
        assert_eq!(
            upload("--max-bytes 5000000").map(|_| ()).map_err(flag_of),
            Err("--max-bytes")
        );
        assert_eq!(
            upload("--max-file-size 0").map(|_| ()).map_err(flag_of),
            Err("--max-file-size")
        );
        assert_eq!(
            upload("--crop center").unwrap().opts.image.crop,
            CropMode::Centre
        );
    }

    #[test]
    fn report_jobs_and_columns() {
        assert_eq!(
            upload("--report r.txt").map(|_| ()).map_err(flag_of),
            Err("--report")
        );
        assert!(upload("--report r.JSON").is_ok());
        assert_eq!(
            upload("--jobs 0").map(|_| ()).map_err(flag_of),
            Err("--jobs")
        );
        let c = upload("--match-column employeeId --user-column mail").unwrap();
        assert_eq!(c.opts.matching.match_column, "employeeId");
        assert_eq!(c.opts.matching.user_column, "mail");
    }

    #[test]
    fn graph_limits_and_urls() {
        assert_eq!(
            upload("--concurrency 0").map(|_| ()).map_err(flag_of),
            Err("--concurrency")
        );
        assert_eq!(
            upload("--concurrency 257").map(|_| ()).map_err(flag_of),
            Err("--concurrency")
        );
        assert_eq!(
            upload("--rate 0").map(|_| ()).map_err(flag_of),
            Err("--rate")
        );
        assert_eq!(upload("--rate 12.5").unwrap().graph.rate, Some(12.5));
        assert_eq!(
            upload("--max-attempts 0").map(|_| ()).map_err(flag_of),
            Err("--max-attempts")
        );
        assert_eq!(
            upload("--timeout 0").unwrap().graph.timeout,
            Duration::from_secs(1)
        );
        assert_eq!(
            upload("--graph-url http://example.com")
                .map(|_| ())
                .map_err(flag_of),
            Err("--graph-url")
        );
        let c = upload("--graph-url http://127.0.0.1:9/ --login-url http://localhost:9").unwrap();
        assert_eq!(c.graph.graph_url, "http://127.0.0.1:9");
        // The token stays for the real Graph whatever --graph-url says.
        assert_eq!(c.graph.resource, "https://graph.microsoft.com");
        let cn = upload("--cloud china").unwrap();
        assert!(
            cn.graph.graph_url.contains("chinacloudapi.cn"),
            "{}",
            cn.graph.graph_url
        );
    }

    #[test]
    fn sign_in_from_flags_and_environment() {
        let none = with_env("lock-status", &[]).unwrap_err();
        assert_eq!(flag_of(none), "--tenant");
        let no_app = with_env("lock-status --tenant t", &[]).unwrap_err();
        assert_eq!(flag_of(no_app), "--client-id");
        let no_secret = with_env("lock-status --tenant t --client-id a", &[]).unwrap_err();
        assert_eq!(flag_of(no_secret), "--certificate");
        let cert = with_env(
            "lock-status --tenant t --client-id a",
            &[
                ("AZURE_CLIENT_CERTIFICATE_PATH", "c.pem"),
                ("AZURE_CLIENT_SECRET", "x"),
            ],
        )
        .unwrap();
        let Command::LockStatus(c) = cert else {
            panic!()
        };
        assert!(matches!(c.graph.credential, Credential::Certificate { .. }));
        // A blank variable is no value at all (process_env filters them).
        assert_eq!(process_env("M365_PHOTOS_SURELY_UNSET_VARIABLE"), None);
    }

    fn credential_of(line: &str, vars: &[(&str, &str)]) -> Result<Credential, ConfigError> {
        match with_env(line, vars)? {
            Command::LockStatus(c) => Ok(c.graph.credential),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn auth_follows_the_azure_sdk_order_and_the_flag() {
        let fed = ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token");
        let app = [
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token"),
            ("IDENTITY_HEADER", "h"),
        ];
        let ids = [("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "a")];
        let all: Vec<(&str, &str)> = ids
            .iter()
            .chain(app.iter())
            .chain([fed, ("AZURE_CLIENT_SECRET", "s")].iter())
            .copied()
            .collect();
        // Environment first, then workload identity, then managed identity.
        assert!(matches!(
            credential_of("lock-status", &all).unwrap(),
            Credential::Secret(_)
        ));
        let no_secret: Vec<_> = all
            .iter()
            .filter(|(k, _)| *k != "AZURE_CLIENT_SECRET")
            .copied()
            .collect();
        assert!(matches!(
            credential_of("lock-status", &no_secret).unwrap(),
            Credential::WorkloadIdentity(FederatedToken { ref file }) if file == &PathBuf::from("/var/run/token")
        ));
        let only_app: Vec<_> = ids.iter().chain(app.iter()).copied().collect();
        let Credential::ManagedIdentity(mi) = credential_of("lock-status", &only_app).unwrap()
        else {
            panic!()
        };
        assert_eq!(mi.client_id.as_deref(), Some("a"));
        assert!(
            matches!(mi.endpoint, IdentityEndpoint::AppService { ref endpoint, .. } if endpoint.ends_with("/msi/token"))
        );
        // --auth overrides the order.
        let Credential::ManagedIdentity(mi) =
            credential_of("lock-status --auth managed-identity", &all).unwrap()
        else {
            panic!()
        };
        assert!(matches!(mi.endpoint, IdentityEndpoint::AppService { .. }));
        assert!(matches!(
            credential_of("lock-status --auth workload-identity", &all).unwrap(),
            Credential::WorkloadIdentity(_)
        ));
        // IMDS needs neither tenant nor app, and its host can be moved (tests, pod identity).
        let Command::LockStatus(c) = with_env("lock-status --auth managed-identity", &[]).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.graph.client_id, "");
        assert_eq!(c.graph.tenant, "managed-identity");
        let Credential::ManagedIdentity(mi) = c.graph.credential else {
            panic!()
        };
        assert_eq!(
            mi.endpoint,
            IdentityEndpoint::Imds {
                host: IMDS_HOST.into()
            }
        );
        let moved = credential_of(
            "lock-status",
            &[("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9")],
        )
        .unwrap();
        assert!(
            matches!(moved, Credential::ManagedIdentity(ManagedIdentity { endpoint: IdentityEndpoint::Imds { ref host }, client_id: None }) if host == "http://127.0.0.1:9")
        );
        // A chosen method that is not configured is the --auth flag's error.
        for (method, needs) in [
            ("secret", "AZURE_CLIENT_SECRET"),
            ("certificate", "AZURE_CLIENT_CERTIFICATE_PATH"),
            ("workload-identity", "AZURE_FEDERATED_TOKEN_FILE"),
        ] {
            let e = credential_of(&format!("lock-status --auth {method}"), &ids).unwrap_err();
            assert!(e.to_string().contains(needs), "{e}");
            assert_eq!(flag_of(e), "--auth");
        }
        // Workload identity needs the tenant and the app.
        assert_eq!(
            flag_of(with_env("lock-status", &[fed]).unwrap_err()),
            "--tenant"
        );
        // The identity header is a secret.
        let dbg = format!("{:?}", credential_of("lock-status", &only_app).unwrap());
        assert!(!dbg.contains("\"h\""), "{dbg}");
        // The authority host of workload identity set-ups (AKS sets it) moves sign-in.
        let Command::LockStatus(c) = with_env(
            "lock-status",
            &[
                ids[0],
                ids[1],
                fed,
                ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/"),
            ],
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(c.graph.login_url, "https://login.microsoftonline.us");
    }

    #[test]
    fn doctor_flags() {
        let base = "doctor --tenant t --client-id a --cloud usgov";
        let secret = [("AZURE_CLIENT_SECRET", "x")];
        let Command::Doctor(c) = with_env(base, &secret).unwrap() else {
            panic!()
        };
        assert_eq!(c.cloud, Cloud::UsGov);
        assert_eq!(c.graph.graph_url, "https://graph.microsoft.us");
        assert!(c.canary.is_none() && c.canary_write.is_none() && !c.json);
        let line = format!("{base} --canary u@x.test --json");
        let Command::Doctor(c) = with_env(&line, &secret).unwrap() else {
            panic!()
        };
        assert_eq!(c.canary.as_deref(), Some("u@x.test"));
        assert!(c.json);
        let blank = with_env(&format!("{base} --canary= "), &secret);
        assert_eq!(flag_of(blank.unwrap_err()), "--canary");
        let dir = tempfile::tempdir().unwrap();
        let missing = format!(
            "{base} --canary u --canary-write {}",
            dir.path().join("no.jpg").display()
        );
        assert_eq!(
            flag_of(with_env(&missing, &secret).unwrap_err()),
            "--canary-write"
        );
        let photo = dir.path().join("p.jpg");
        std::fs::write(&photo, b"x").unwrap();
        let line = format!("{base} --canary u --canary-write {}", photo.display());
        let Command::Doctor(c) = with_env(&line, &secret).unwrap() else {
            panic!()
        };
        assert_eq!(c.canary_write.as_deref(), Some(photo.as_path()));
        assert_eq!(
            flag_of(with_env("doctor --client-id a", &secret).unwrap_err()),
            "--tenant"
        );
    }

    #[test]
    fn client_secret_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "  \n").unwrap();
        let line = format!(
            "lock-status --tenant t --client-id a --client-secret-file {}",
            empty.display()
        );
        assert_eq!(
            flag_of(with_env(&line, &[]).unwrap_err()),
            "--client-secret-file"
        );
        let missing = format!(
            "lock-status --tenant t --client-id a --client-secret-file {}",
            dir.path().join("no").display()
        );
        assert_eq!(
            flag_of(with_env(&missing, &[]).unwrap_err()),
            "--client-secret-file"
        );
        let good = dir.path().join("secret");
        std::fs::write(&good, "abc\n").unwrap();
        let line = format!(
            "lock-status --tenant t --client-id a --client-secret-file {}",
            good.display()
        );
        let Command::LockStatus(c) = with_env(&line, &[]).unwrap() else {
            panic!()
        };
        let Credential::Secret(s) = &c.graph.credential else {
            panic!()
        };
        assert_eq!(s.expose(), "abc");
    }

    #[test]
    fn upload_safety_flags() {
        assert_eq!(
            upload("--no-backup").unwrap().upload.backup,
            BackupPlan::Off
        );
        assert_eq!(upload("--dry-run").unwrap().upload.backup, BackupPlan::Off);
        assert_eq!(
            upload("--backup-dir b").unwrap().upload.backup,
            BackupPlan::Dir("b".into())
        );
        assert_eq!(upload("--lock").unwrap().upload.lock.unwrap().len(), 2);
        assert_eq!(
            upload("--lock --lock-roles nonsense")
                .map(|_| ())
                .map_err(flag_of),
            Err("--lock-roles")
        );
        let c = upload("--limit 10 --force --stop-timeout 5 --state s.db").unwrap();
        assert_eq!(c.upload.limit, Some(10));
        assert!(c.upload.force);
        assert_eq!(c.upload.grace, Duration::from_secs(5));
        assert_eq!(c.upload.state, Some("s.db".into()));
    }

    #[test]
    fn tenant_commands() {
        let Command::Lock(c) =
            with_env("lock --roles people-admin --source cloud", SIGN_IN).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.roles.unwrap().len(), 1);
        assert!(c.source_cloud);
        assert_eq!(
            flag_of(with_env("lock --roles bogus", SIGN_IN).unwrap_err()),
            "--roles"
        );
        let Command::Lock(c) = with_env("unlock", SIGN_IN).unwrap() else {
            panic!()
        };
        assert!(c.roles.is_none());
        let Command::Backup(c) = with_env("backup --all --out b", SIGN_IN).unwrap() else {
            panic!()
        };
        assert_eq!(c.users, UserSource::All);
        let Command::Remove(c) =
            with_env("remove --users u.csv --dry-run --report r.json", SIGN_IN).unwrap()
        else {
            panic!()
        };
        assert!(c.dry_run && c.backup_dir.is_none());
        assert_eq!(
            flag_of(with_env("restore --from b --report r.txt", SIGN_IN).unwrap_err()),
            "--report"
        );
    }

    #[test]
    fn demo_rehearsal() {
        let Command::Demo(c) = with_env("demo", &[]).unwrap() else {
            panic!()
        };
        assert!(c.rehearse.is_none());
        let Command::Demo(c) = with_env("demo --users 50 --write-latency-ms 1000", &[]).unwrap()
        else {
            panic!()
        };
        let r = c.rehearse.unwrap();
        assert_eq!((r.users, r.write_latency), (50, Duration::from_secs(1)));
        assert_eq!(
            flag_of(with_env("demo --users 0", &[]).unwrap_err()),
            "--users"
        );
    }

    #[test]
    fn without_a_csv_upload_matches_the_directory() {
        let c = match with_env("upload --photos p --match-property employee-id", SIGN_IN).unwrap() {
            Command::Upload(c) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(c.opts.directory, Some(DirectoryKey::EmployeeId));
        let Command::Upload(c) = with_env("upload --photos p", SIGN_IN).unwrap() else {
            panic!()
        };
        assert_eq!(c.opts.directory, Some(DirectoryKey::UserPrincipalName));
        assert_eq!(upload("").unwrap().opts.directory, None);
        assert_eq!(
            flag_of(with_env("plan --photos p", &[]).unwrap_err()),
            "--users"
        );
    }

    #[test]
    fn status_finds_its_database() {
        let Command::Status(c) = with_env("status --photos staff --runs 0", &[]).unwrap() else {
            panic!()
        };
        assert_eq!(c.state, crate::state::default_path("staff".as_ref()));
        assert_eq!(c.runs, 1);
    }

    #[test]
    fn emulator_flags() {
        let emu = |line: &str| with_env(&format!("emulator {line}"), &[]);
        assert_eq!(flag_of(emu("--fail-rate 1.5").unwrap_err()), "--fail-rate");
        assert_eq!(flag_of(emu("--stall-rate 2").unwrap_err()), "--stall-rate");
        assert_eq!(
            flag_of(emu("--delete-status 201").unwrap_err()),
            "--delete-status"
        );
        let Command::Emulator(c) = emu("--retry-after date+3 --generate-users 3").unwrap() else {
            panic!()
        };
        assert!(c.retry_after_header.is_some());
        assert_eq!(c.users.len(), 3);
        let Command::Emulator(c) = with_env("emulator", &[("M365_EMULATOR_SECRET", "x")]).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.client_secret, "x");
    }
}
