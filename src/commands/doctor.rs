//! `doctor`: everything worth knowing before a real run, checked against the tenant
//! itself: where it signs in, which tenant and app the token names, which permissions it
//! carries and so which commands can run, how it signed in, the clock against Entra's,
//! the raw photoUpdateSettings, and optionally one canary user (look-up, photo metadata,
//! and with `--canary-write` one real upload read back).
//!
//! Unlike the other Graph commands it has no preflight: a missing permission is a finding
//! to show, not a reason to stop. Exit 0 when every check passed, 1 when one did not.

use serde::Serialize;
use serde_json::Value;

use super::{RunError, session};
use crate::config::{DoctorConfig, ImageOptions, exit};
use crate::graph::auth::AssertionForm;
use crate::graph::{Claims, Cloud, Credential, GraphClient, GraphError, Kind, Lookup, PhotoApi};
use crate::graph::{UserKey, claims};
use crate::output::Output;

/// A clock further off than this breaks certificate sign-in (AADSTS700024) and makes
/// token lifetimes unreliable.
const MAX_SKEW_SECS: i64 = 300;

/// What each command needs, as its preflight checks it.
const COMMANDS: &[(&str, &[claims::Need])] = &[
    (
        "upload",
        &[claims::LOOK_UP, claims::WRITE_PHOTOS, claims::READ_PHOTOS],
    ),
    ("backup", &[claims::LOOK_UP, claims::READ_PHOTOS]),
    (
        "remove",
        &[claims::LOOK_UP, claims::READ_PHOTOS, claims::WRITE_PHOTOS],
    ),
    ("restore", &[claims::WRITE_PHOTOS]),
    ("lock", &[claims::WRITE_SETTINGS]),
    ("lock-status", &[claims::READ_SETTINGS]),
];

#[derive(Debug, Default, Serialize)]
struct Findings {
    cloud: &'static str,
    graph_url: String,
    login_url: String,
    tenant: String,
    signed_in: bool,
    sign_in_error: Option<String>,
    credential: String,
    tid: Option<String>,
    appid: Option<String>,
    aud: Option<String>,
    /// `false`: the token has no `roles` claim (admin consent never granted).
    consent: bool,
    roles: Vec<String>,
    commands: Vec<CommandCheck>,
    clock_skew_seconds: Option<i64>,
    photo_update_settings: Option<Value>,
    settings_error: Option<String>,
    canary: Option<Canary>,
    problems: Vec<String>,
}

#[derive(Debug, Serialize)]
struct CommandCheck {
    command: &'static str,
    allowed: bool,
    /// The least-privilege permission of each need the token lacks.
    missing: Vec<&'static str>,
}

#[derive(Debug, Default, Serialize)]
struct Canary {
    user: String,
    found: bool,
    id: Option<String>,
    upn: Option<String>,
    account_enabled: Option<bool>,
    user_type: Option<String>,
    lookup_error: Option<String>,
    /// `GET /users/{id}/photo`, as Graph answered it.
    photo: Option<Value>,
    photo_error: Option<String>,
    write: Option<CanaryWrite>,
}

#[derive(Debug, Default, Serialize)]
struct CanaryWrite {
    file: String,
    bytes: Option<usize>,
    side: Option<u32>,
    uploaded: bool,
    error: Option<String>,
    read_back: Option<Value>,
    read_back_ok: bool,
}

pub(crate) fn run(c: &DoctorConfig, out: &Output) -> Result<i32, RunError> {
    let rt = session::runtime()?;
    let client = session::client(c.graph.clone())?;
    let found = rt.block_on(examine(c, &client));
    if c.json {
        let text = serde_json::to_string_pretty(&found).map_err(RunError::failed)?;
        out.result(&text);
    } else {
        for line in text_lines(&found) {
            out.result(&line);
        }
    }
    Ok(if found.problems.is_empty() {
        exit::OK
    } else {
        exit::SOME_FAILED
    })
}

fn cloud_name(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Global => "global",
        Cloud::UsGov => "usgov",
        Cloud::UsGovDod => "usgov-dod",
        Cloud::China => "china",
    }
}

fn credential_text(credential: &Credential, form: Option<AssertionForm>) -> String {
    match (credential, form) {
        (Credential::Secret(_), _) => "client secret".into(),
        (Credential::Certificate { .. }, Some(AssertionForm::Ps256)) => {
            format!("certificate ({})", AssertionForm::Ps256.describe())
        }
        (Credential::Certificate { .. }, Some(AssertionForm::Rs256)) => format!(
            "certificate ({}, after Entra refused PS256 + x5t#S256 with AADSTS700027)",
            AssertionForm::Rs256.describe()
        ),
        (Credential::Certificate { .. }, None) => "certificate (not signed in)".into(),
        (other @ (Credential::WorkloadIdentity(_) | Credential::ManagedIdentity(_)), _) => {
            other.describe()
        }
    }
}

/// Runs every check in order; a failed sign-in ends them (nothing else can be asked).
async fn examine(c: &DoctorConfig, client: &GraphClient) -> Findings {
    let mut f = Findings {
        cloud: cloud_name(c.cloud),
        graph_url: c.graph.graph_url.clone(),
        login_url: c.graph.login_url.clone(),
        tenant: c.graph.tenant.clone(),
        ..Findings::default()
    };
    let signed_in = client.check_sign_in().await;
    f.clock_skew_seconds = client.clock_skew();
    f.credential = credential_text(&c.graph.credential, client.assertion_form());
    if let Err(e) = signed_in {
        f.sign_in_error = Some(e.detail());
        f.problems
            .push(format!("signing in failed: {}", e.detail()));
        check_skew(&mut f);
        return f;
    }
    f.signed_in = true;
    check_skew(&mut f);
    let granted = match client.token_claims().await {
        Ok(granted) => granted,
        Err(e) => {
            f.problems
                .push(format!("the token's claims cannot be read: {e}"));
            Claims::default()
        }
    };
    check_roles(&mut f, &granted, &c.graph.login_url);
    if granted.grants_any(claims::READ_SETTINGS.any_of) {
        match client.get_settings().await {
            Ok((v, _)) => f.photo_update_settings = Some(v),
            Err(e) => {
                f.settings_error = Some(e.detail());
                f.problems.push(format!(
                    "reading photoUpdateSettings failed: {}",
                    e.detail()
                ));
            }
        }
    } else {
        f.settings_error = Some(format!(
            "not read: the app lacks {}",
            claims::READ_SETTINGS.any_of[0]
        ));
    }
    if let Some(user) = &c.canary {
        let canary = check_canary(client, user, c.canary_write.as_deref()).await;
        f.problems.extend(canary_problems(&canary));
        f.canary = Some(canary);
    }
    f
}

fn check_skew(f: &mut Findings) {
    if let Some(skew) = f.clock_skew_seconds
        && skew.abs() > MAX_SKEW_SECS
    {
        f.problems.push(format!(
            "this machine's clock is {} s {} the token endpoint's: set the time (NTP); certificate sign-in fails beyond 5 minutes",
            skew.abs(),
            if skew > 0 { "ahead of" } else { "behind" }
        ));
    }
}

/// The permissions in the token and what they allow; no consent, or a token that cannot
/// upload, is a problem (`upload` is the job).
fn check_roles(f: &mut Findings, granted: &Claims, login_url: &str) {
    f.tid = granted.tid.clone();
    f.appid = granted.appid.clone();
    f.aud = granted.aud.clone();
    f.roles = granted.roles.clone();
    f.consent = granted.has_roles_claim && !granted.roles.is_empty();
    f.commands = COMMANDS
        .iter()
        .map(|&(command, needs)| {
            let missing: Vec<&'static str> = needs
                .iter()
                .filter(|n| !granted.grants_any(n.any_of))
                .map(|n| n.any_of[0])
                .collect();
            CommandCheck {
                command,
                allowed: missing.is_empty(),
                missing,
            }
        })
        .collect();
    let consent_url = format!(
        "{}/{}/adminconsent?client_id={}",
        login_url.trim_end_matches('/'),
        granted.tid.as_deref().unwrap_or(&f.tenant),
        granted.appid.as_deref().unwrap_or("<app id>")
    );
    if !f.consent {
        f.problems.push(format!(
            "admin consent not granted: the token carries no application permissions; grant it: {consent_url}"
        ));
    } else if let Some(upload) = f
        .commands
        .iter()
        .find(|c| c.command == "upload" && !c.allowed)
    {
        f.problems.push(format!(
            "upload cannot run: the app lacks {}; add with admin consent: {consent_url}",
            upload.missing.join(", ")
        ));
    }
}

/// How Graph should look the canary up: an object id, a UPN, else an employeeId.
fn canary_key(user: &str) -> UserKey {
    if uuid::Uuid::parse_str(user).is_ok() {
        UserKey::Id
    } else if user.contains('@') {
        UserKey::Upn
    } else {
        UserKey::EmployeeId
    }
}

async fn check_canary(client: &GraphClient, user: &str, write: Option<&std::path::Path>) -> Canary {
    let mut c = Canary {
        user: user.to_string(),
        ..Canary::default()
    };
    let key = canary_key(user);
    let resolved = client.resolve_users(key, &[user.to_string()]).await;
    let found = match resolved.get(user) {
        Lookup::One(u) => u.clone(),
        Lookup::NotFound => {
            c.lookup_error = Some(format!(
                "no user with {} {user:?} in the tenant",
                key.property()
            ));
            return c;
        }
        Lookup::Several(many) => {
            let names: Vec<String> = many.iter().map(|u| u.describe()).collect();
            c.lookup_error = Some(format!(
                "{} users have {} {user:?}: {}",
                many.len(),
                key.property(),
                names.join(", ")
            ));
            return c;
        }
        Lookup::Failed(e) => {
            c.lookup_error = Some(format!("look-up failed: {}", e.detail()));
            return c;
        }
    };
    c.found = true;
    c.id = Some(found.id.clone());
    c.upn = found.upn.clone();
    c.account_enabled = found.account_enabled;
    c.user_type = found.user_type.clone();
    match client.photo_metadata(&found.id).await {
        Ok(v) => c.photo = Some(v),
        Err(e) => c.photo_error = Some(photo_error_text(&e)),
    }
    if let Some(file) = write {
        c.write = Some(canary_write(client, &found.id, file).await);
    }
    c
}

/// "No photo yet" is an answer, not a failure.
fn photo_error_text(e: &GraphError) -> String {
    if e.kind == Kind::NoPhoto {
        format!("no photo yet ({})", e.code.as_deref().unwrap_or("404"))
    } else {
        e.detail()
    }
}

/// Makes `file` as `upload` does (default image options), uploads it to the canary and
/// reads the metadata back: 200 and the side that was sent.
async fn canary_write(client: &GraphClient, id: &str, file: &std::path::Path) -> CanaryWrite {
    let mut w = CanaryWrite {
        file: file.display().to_string(),
        ..CanaryWrite::default()
    };
    let image = ImageOptions::default();
    let photo = match crate::pipeline::make::one_file(file, &image) {
        Ok(p) => p,
        Err(why) => {
            w.error = Some(why);
            return w;
        }
    };
    w.bytes = Some(photo.jpeg.len());
    w.side = Some(photo.side);
    if let Err(e) = client.put_photo(id, photo.jpeg).await {
        w.error = Some(format!("upload failed: {}", e.detail()));
        return w;
    }
    w.uploaded = true;
    match client.photo_metadata(id).await {
        Ok(v) => {
            let dim = |k: &str| v.get(k).and_then(Value::as_u64);
            let side = u64::from(photo.side);
            w.read_back_ok = dim("width") == Some(side) && dim("height") == Some(side);
            if !w.read_back_ok {
                w.error = Some(format!(
                    "read back {}x{}, sent {side}x{side}",
                    dim("width").map_or("?".into(), |d| d.to_string()),
                    dim("height").map_or("?".into(), |d| d.to_string())
                ));
            }
            w.read_back = Some(v);
        }
        Err(e) => w.error = Some(format!("read-back failed: {}", e.detail())),
    }
    w
}

fn canary_problems(c: &Canary) -> Vec<String> {
    let mut p = Vec::new();
    if let Some(e) = &c.lookup_error {
        p.push(format!("canary {}: {e}", c.user));
    }
    if let Some(e) = c
        .photo_error
        .as_ref()
        .filter(|e| !e.starts_with("no photo yet"))
    {
        p.push(format!(
            "canary {}: reading the photo metadata failed: {e}",
            c.user
        ));
    }
    if let Some(w) = &c.write
        && !(w.uploaded && w.read_back_ok)
    {
        let why = w.error.as_deref().unwrap_or("not verified");
        p.push(format!("canary {}: test upload: {why}", c.user));
    }
    p
}

fn or_unknown(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("?")
}

/// The findings for people, one fact a line.
fn text_lines(f: &Findings) -> Vec<String> {
    let mut l = vec![
        format!(
            "cloud: {} (graph {}, sign-in {})",
            f.cloud, f.graph_url, f.login_url
        ),
        format!("tenant: {} (tid {})", f.tenant, or_unknown(&f.tid)),
        format!("app: {}", or_unknown(&f.appid)),
        format!("sign-in: {}", if f.signed_in { "ok" } else { "FAILED" }),
        format!("credential: {}", f.credential),
    ];
    l.push(match f.clock_skew_seconds {
        Some(s) => format!("clock: {s:+} s against the token endpoint's Date"),
        None => "clock: not measured (no Date from the token endpoint)".into(),
    });
    if f.signed_in {
        l.push(if f.consent {
            format!("permissions: {}", f.roles.join(", "))
        } else {
            "permissions: none (no admin consent)".into()
        });
        for c in &f.commands {
            l.push(if c.allowed {
                format!("  {:<12} allowed", c.command)
            } else {
                format!("  {:<12} needs {}", c.command, c.missing.join(", "))
            });
        }
        l.push(match (&f.photo_update_settings, &f.settings_error) {
            (Some(v), _) => format!("photoUpdateSettings: {v}"),
            (None, Some(e)) => format!("photoUpdateSettings: {e}"),
            (None, None) => "photoUpdateSettings: not read".into(),
        });
    }
    if let Some(c) = &f.canary {
        l.extend(canary_lines(c));
    }
    if f.problems.is_empty() {
        l.push("doctor: everything checked is fine".into());
    } else {
        for p in &f.problems {
            l.push(format!("problem: {p}"));
        }
    }
    l
}

fn canary_lines(c: &Canary) -> Vec<String> {
    let mut l = Vec::new();
    if !c.found {
        l.push(format!(
            "canary {}: NOT FOUND ({})",
            c.user,
            or_unknown(&c.lookup_error)
        ));
        return l;
    }
    l.push(format!(
        "canary {}: id {}, upn {}, accountEnabled {}, userType {}",
        c.user,
        or_unknown(&c.id),
        or_unknown(&c.upn),
        c.account_enabled.map_or("?".into(), |b| b.to_string()),
        or_unknown(&c.user_type)
    ));
    l.push(match (&c.photo, &c.photo_error) {
        (Some(v), _) => format!("  photo: {v}"),
        (None, e) => format!("  photo: {}", or_unknown(e)),
    });
    if let Some(w) = &c.write {
        l.push(match (w.uploaded, w.read_back_ok) {
            (true, true) => format!(
                "  test upload: {} ({} bytes, {} px) uploaded and read back at that size",
                w.file,
                w.bytes.unwrap_or(0),
                w.side.unwrap_or(0)
            ),
            _ => format!("  test upload: {}: {}", w.file, or_unknown(&w.error)),
        });
    }
    l
}
