//! Unattended Azure sign-in through the real binary against the real emulator process:
//! managed identity (App Service / Automation endpoint and IMDS, system- and
//! user-assigned), workload identity federation (the token file re-read for every token),
//! the `--auth` override, and the errors an admin meets.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::emulator::request;
use crate::util::{Cmd, Emulator, SECRET, photo_batch, read_csv_report, tempdir};

const HEADER: &str = "emulator-identity-header";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const SUBJECT: &str = "repo:contoso/photos:ref:refs/heads/main";

/// A staff batch of `n` users, the emulator serving them with `emu_args`, and the
/// upload command for them with no credential at all (each test adds its own).
fn setup(dir: &Path, n: usize, emu_args: &[&str]) -> (Emulator, Cmd, PathBuf) {
    let (_, _, tenant) = photo_batch(dir, n, &[]);
    let mut args = vec!["--users", tenant.to_str().unwrap()];
    args.extend_from_slice(emu_args);
    let emu = Emulator::start(&args);
    let (cmd, report) = command(&emu, dir);
    (emu, cmd, report)
}

/// The upload of `setup`'s batch in `dir` to `emu`, without any credential.
fn command(emu: &Emulator, dir: &Path) -> (Cmd, PathBuf) {
    let report = dir.join("report.csv");
    let cmd = Cmd::new(&["upload", "--match-column", "employeeId", "--no-backup"])
        .args_str(&["--graph-url", &emu.url, "--login-url", &emu.url])
        .arg("--photos")
        .arg(dir.join("photos"))
        .arg("--users")
        .arg(dir.join("staff.csv"))
        .arg("--report")
        .arg(&report)
        .arg("--state")
        .arg(dir.join("state.db"));
    (cmd, report)
}

fn uploaded(report: &Path) -> usize {
    read_csv_report(report)
        .iter()
        .filter(|r| r["status"] == "uploaded")
        .count()
}

/// A federated token as GitHub Actions or Kubernetes hand out (unsigned: the emulator,
/// like the tests, cannot know the issuer's keys).
fn federated_jwt(sub: &str, n: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "ci"});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": sub, "aud": "api://AzureADTokenExchange",
        "iat": now, "nbf": now, "exp": now + 300, "jti": format!("token-{n}"),
    });
    format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// Replaces the file at once (as the kubelet's symlink swap does), never half-written.
fn write_token(file: &Path, jwt: &str) {
    let tmp = file.with_extension("new");
    std::fs::write(&tmp, jwt).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

#[test]
fn managed_identity_app_service_endpoint() {
    let dir = tempdir();
    let (emu, cmd, report) = setup(dir.path(), 3, &[]);
    let run = cmd
        .arg("-v")
        .env("IDENTITY_ENDPOINT", format!("{}/msi/token", emu.url))
        .env("IDENTITY_HEADER", HEADER)
        .run()
        .expect_code(0);
    let err = run.stderr();
    assert!(
        err.contains("signed in with managed identity (App Service / Functions / Automation endpoint), system-assigned"),
        "{err}"
    );
    assert!(
        !err.contains(HEADER),
        "the identity header was logged: {err}"
    );
    assert_eq!(uploaded(&report), 3);
    let stats = emu.admin_json("/_emulator/stats");
    assert_eq!(stats["identity_tokens"], 1, "{stats}");
    assert_eq!(stats["identity_client_ids"], serde_json::json!([""]));
    assert_eq!(stats["photo_writes"], 3);
}

#[test]
fn managed_identity_imds_user_assigned() {
    let dir = tempdir();
    let (emu, cmd, report) = setup(dir.path(), 2, &["--user-assigned", "uami-1"]);
    cmd.arg("--client-id")
        .arg("uami-1")
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &emu.url)
        .run()
        .expect_code(0);
    assert_eq!(uploaded(&report), 2);
    let stats = emu.admin_json("/_emulator/stats");
    assert_eq!(stats["identity_client_ids"], serde_json::json!(["uami-1"]));
    // An identity the host does not have is named, with what to check.
    let (cmd, _) = command(&emu, dir.path());
    let run = cmd
        .args_str(&["--auth", "managed-identity"])
        .env("AZURE_CLIENT_ID", "uami-2")
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &emu.url)
        .run()
        .expect_code(1);
    let err = run.stderr();
    assert!(err.contains("Identity not found"), "{err}");
    assert!(
        err.contains("uami-2") && err.contains("AZURE_CLIENT_ID"),
        "{err}"
    );
}

#[test]
fn managed_identity_without_permissions_says_how_to_grant_them() {
    let dir = tempdir();
    let (emu, cmd, _) = setup(dir.path(), 1, &["--roles", "User.Read.All"]);
    let run = cmd
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &emu.url)
        .run()
        .expect_code(2);
    let err = run.stderr();
    assert!(err.contains("ProfilePhoto.ReadWrite.All"), "{err}");
    assert!(
        err.contains("New-MgServicePrincipalAppRoleAssignment"),
        "{err}"
    );
    assert_eq!(emu.admin_json("/_emulator/stats")["photo_writes"], 0);
}

#[test]
fn managed_identity_endpoints_refuse_requests_without_their_header() {
    let emu = Emulator::start(&["--identity-header", "h-123"]);
    let q = "api-version=2019-08-01&resource=https%3A%2F%2Fgraph.microsoft.com";
    let app = format!("{}/msi/token?{q}", emu.url);
    assert_eq!(request("GET", &app, &[], b"").status, 401);
    assert_eq!(
        request("GET", &app, &[("X-IDENTITY-HEADER", "wrong")], b"").status,
        401
    );
    let ok = request("GET", &app, &[("X-IDENTITY-HEADER", "h-123")], b"");
    assert_eq!(ok.status, 200);
    let token = ok.json();
    assert!(token["expires_on"].is_string(), "{token}");
    // The token it hands out is good for Graph.
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let users = request(
        "GET",
        &format!("{}/v1.0/users", emu.url),
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(users.status, 200);
    let imds = format!(
        "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fgraph.microsoft.com",
        emu.url
    );
    let refused = request("GET", &imds, &[], b"");
    assert_eq!(refused.status, 400);
    assert!(
        refused.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("metadata header")
    );
    let ok = request("GET", &imds, &[("Metadata", "true")], b"");
    assert_eq!(ok.status, 200);
    assert!(ok.json()["expires_in"].is_string());
    let no_resource = format!(
        "{}/metadata/identity/oauth2/token?api-version=2018-02-01",
        emu.url
    );
    assert_eq!(
        request("GET", &no_resource, &[("Metadata", "true")], b"").status,
        400
    );
}

#[test]
fn workload_identity_rereads_the_token_file_for_every_token() {
    let dir = tempdir();
    let file = dir.path().join("federated-token");
    write_token(&file, &federated_jwt(SUBJECT, 0));
    // 1 s tokens renewed at 0.8 s, and 6 writes of 300 ms one at a time: several sign-ins.
    let (emu, cmd, report) = setup(
        dir.path(),
        6,
        &[
            "--federated-issuer",
            ISSUER,
            "--federated-subject",
            SUBJECT,
            "--token-lifetime",
            "1",
            "--write-latency-ms",
            "300",
        ],
    );
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (done, file) = (done.clone(), file.clone());
        std::thread::spawn(move || {
            let mut n = 1;
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                write_token(&file, &federated_jwt(SUBJECT, n));
                n += 1;
            }
        })
    };
    let run = cmd
        .args_str(&[
            "--tenant",
            "contoso",
            "--client-id",
            "app",
            "--concurrency",
            "1",
        ])
        .env("AZURE_FEDERATED_TOKEN_FILE", &file)
        .run();
    done.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let run = run.expect_code(0);
    assert!(
        run.stderr()
            .contains("signed in with workload identity federation"),
        "{}",
        run.stderr()
    );
    assert_eq!(uploaded(&report), 6);
    let stats = emu.admin_json("/_emulator/stats");
    let tokens = stats["federated_tokens"].as_u64().unwrap();
    assert!(tokens >= 2, "one sign-in only: {stats}");
    // Every sign-in sent what the file held then, not what it held at the start.
    assert_eq!(
        stats["federated_assertions"].as_u64(),
        Some(tokens),
        "{stats}"
    );
}

#[test]
fn workload_identity_wrong_subject_or_issuer_is_explained() {
    let dir = tempdir();
    let file = dir.path().join("federated-token");
    write_token(
        &file,
        &federated_jwt("repo:someone/else:ref:refs/heads/main", 0),
    );
    let (_emu, cmd, _) = setup(
        dir.path(),
        1,
        &["--federated-issuer", ISSUER, "--federated-subject", SUBJECT],
    );
    let run = cmd
        .args_str(&["--tenant", "contoso", "--client-id", "app"])
        .env("AZURE_FEDERATED_TOKEN_FILE", &file)
        .run()
        .expect_code(1);
    let err = run.stderr();
    assert!(err.contains("AADSTS700213"), "{err}");
    assert!(err.contains("subject"), "{err}");
    assert!(!err.contains(&federated_jwt("x", 0)[..20]), "{err}");
    let (_emu, cmd, _) = setup(
        dir.path(),
        1,
        &["--federated-issuer", "https://sts.example"],
    );
    write_token(&file, &federated_jwt(SUBJECT, 1));
    let run = cmd
        .args_str(&["--tenant", "contoso", "--client-id", "app"])
        .env("AZURE_FEDERATED_TOKEN_FILE", &file)
        .run()
        .expect_code(1);
    assert!(run.stderr().contains("AADSTS70021"), "{}", run.stderr());
    assert!(run.stderr().contains("issuer"), "{}", run.stderr());
}

#[test]
fn auth_flag_overrides_the_order() {
    let dir = tempdir();
    let file = dir.path().join("federated-token");
    write_token(&file, &federated_jwt(SUBJECT, 0));
    let (emu, _, _) = setup(dir.path(), 1, &["--user-assigned", "app"]);
    let with = |auth: &[&str]| {
        let (cmd, _) = command(&emu, dir.path());
        cmd.args_str(&["--dry-run", "--tenant", "contoso", "--client-id", "app"])
            .env("AZURE_CLIENT_SECRET", SECRET)
            .env("AZURE_FEDERATED_TOKEN_FILE", &file)
            .env("IDENTITY_ENDPOINT", format!("{}/msi/token", emu.url))
            .env("IDENTITY_HEADER", HEADER)
            .args_str(auth)
            .run()
            .expect_code(0)
            .stderr()
    };
    assert!(with(&[]).contains("signed in with client secret"));
    assert!(with(&["--auth", "workload-identity"]).contains("signed in with workload identity"));
    let mi = with(&["--auth", "managed-identity"]);
    assert!(mi.contains("signed in with managed identity"), "{mi}");
    let stats = emu.admin_json("/_emulator/stats");
    assert_eq!(stats["federated_tokens"], 1, "{stats}");
    // With a managed identity, the client id names the user-assigned identity.
    assert_eq!(
        stats["identity_client_ids"],
        serde_json::json!(["app"]),
        "{stats}"
    );
}

#[test]
fn chosen_method_not_configured_is_a_usage_error() {
    let dir = tempdir();
    let (_emu, cmd, _) = setup(dir.path(), 1, &[]);
    let run = cmd
        .args_str(&["--tenant", "contoso", "--client-id", "app"])
        .args_str(&["--auth", "workload-identity"])
        .env("AZURE_CLIENT_SECRET", SECRET)
        .run()
        .expect_code(2);
    let err = run.stderr();
    assert!(err.contains("--auth"), "{err}");
    assert!(
        err.contains("AZURE_FEDERATED_TOKEN_FILE is not set"),
        "{err}"
    );
    let (_emu, cmd, _) = setup(dir.path(), 1, &[]);
    let run = cmd
        .args_str(&["--auth", "secret", "--tenant", "t", "--client-id", "a"])
        .run()
        .expect_code(2);
    assert!(
        run.stderr().contains("no client secret"),
        "{}",
        run.stderr()
    );
    // Not on an Azure VM: said at once, not after minutes of retries.
    let (cmd, _) = command(&_emu, dir.path());
    let started = std::time::Instant::now();
    let run = cmd
        .args_str(&["--auth", "managed-identity"])
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:1")
        .run()
        .expect_code(1);
    assert!(
        run.stderr()
            .contains("cannot reach the managed identity endpoint http://127.0.0.1:1"),
        "{}",
        run.stderr()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
