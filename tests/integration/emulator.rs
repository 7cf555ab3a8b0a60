//! The emulator itself, as a separate process, hit with plain HTTP: each switch that the
//! other tests and the benches rehearse real Graph with behaves as documented.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use base64::Engine;

use crate::util::{Cmd, Emulator, SECRET, tempdir};

/// One HTTP answer.
pub(crate) struct Http {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Http {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    /// Graph's `error.code`.
    fn code(&self) -> String {
        if self.body.is_empty() {
            return String::new();
        }
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// A plain HTTP/1.1 request (no client library between the test and the server).
pub(crate) fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Http {
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").expect("head");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Http {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&body[..eol]).trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&body[eol + 2..eol + 2 + size]);
        body = &body[eol + 2 + size + 2..];
    }
    out
}

fn sign_in_raw(emu: &Emulator) -> Http {
    let form = serde_urlencoded::to_string([
        ("client_id", "app"),
        ("scope", "https://graph.microsoft.com/.default"),
        ("grant_type", "client_credentials"),
        ("client_secret", SECRET),
    ])
    .unwrap();
    request(
        "POST",
        &format!("{}/contoso.com/oauth2/v2.0/token", emu.url),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
}

fn sign_in(emu: &Emulator) -> String {
    let r = sign_in_raw(emu);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["access_token"].as_str().unwrap().to_string()
}

/// The access token's claims (its payload, as a client decodes it).
fn claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn graph(emu: &Emulator, token: &str, method: &str, path: &str, body: &[u8]) -> Http {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str())];
    if !body.is_empty() {
        headers.push(("Content-Type", "image/jpeg"));
    }
    request(method, &format!("{}{path}", emu.url), &headers, body)
}

/// `/v1.0/users?...` with the query encoded.
fn users_path(query: &[(&str, &str)]) -> String {
    format!(
        "/v1.0/users?{}",
        serde_urlencoded::to_string(query).unwrap()
    )
}

/// The smallest bytes the emulator takes as a JPEG.
const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0, 0xFF, 0xD9,
];

fn put_photo(emu: &Emulator, token: &str, user: &str) -> Http {
    graph(
        emu,
        token,
        "PUT",
        &format!("/v1.0/users/{user}/photo/$value"),
        JPEG,
    )
}

fn tenant_csv(dir: &std::path::Path, rows: &str) -> String {
    let path = dir.join("tenant.csv");
    std::fs::write(&path, rows).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn more_photo_writes_than_max_concurrent_get_429_mailbox_concurrency() {
    let emu = Emulator::start(&[
        "--generate-users",
        "4",
        "--max-concurrent",
        "2",
        "--write-latency-ms",
        "1500",
    ]);
    let token = sign_in(&emu);
    let (url, t) = (emu.url.clone(), token.clone());
    let slow: Vec<_> = (1..=2)
        .map(|i| {
            let (url, t) = (url.clone(), t.clone());
            std::thread::spawn(move || {
                let auth = format!("Bearer {t}");
                request(
                    "PUT",
                    &format!("{url}/v1.0/users/user0000{i}@contoso.test/photo/$value"),
                    &[
                        ("Authorization", auth.as_str()),
                        ("Content-Type", "image/jpeg"),
                    ],
                    JPEG,
                )
                .status
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    // A read is not a write: it passes while both write slots are taken.
    let read = graph(
        &emu,
        &token,
        "GET",
        "/v1.0/users/user00003@contoso.test",
        b"",
    );
    assert_eq!(read.status, 200);
    let third = put_photo(&emu, &token, "user00003@contoso.test");
    assert_eq!(third.status, 429);
    assert_eq!(third.code(), "ApplicationThrottled");
    assert!(
        third.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MailboxConcurrency")
    );
    assert_eq!(third.header("Retry-After"), Some("2"));
    for t in slow {
        assert_eq!(t.join().unwrap(), 200);
    }
    let stats = emu.admin_json("/_emulator/stats");
    assert_eq!(stats["max_writes_in_flight"], 2, "{stats}");
    assert_eq!(stats["write_throttled"], 1, "{stats}");
    assert_eq!(stats["photo_writes"], 2, "{stats}");
    // Inside the window opened by that 429, anything is refused and counted.
    let inside = graph(
        &emu,
        &token,
        "GET",
        "/v1.0/users/user00001@contoso.test",
        b"",
    );
    assert_eq!(inside.status, 429);
    assert_eq!(emu.admin_json("/_emulator/stats")["violations"], 1);
}

#[test]
fn stalled_requests_wait_before_answering() {
    let emu = Emulator::start(&[
        "--generate-users",
        "1",
        "--stall-rate",
        "1",
        "--stall-ms",
        "600",
    ]);
    let token = sign_in(&emu);
    let started = Instant::now();
    let r = graph(
        &emu,
        &token,
        "GET",
        "/v1.0/users/user00001@contoso.test",
        b"",
    );
    assert_eq!(r.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_eq!(emu.admin_json("/_emulator/stats")["stalls"], 1);
}

#[test]
fn tokens_carry_tid_aud_appid_and_all_roles_by_default() {
    let emu = Emulator::start(&["--tenant-id", "11111111-2222-4333-8444-555555555555"]);
    let c = claims(&sign_in(&emu));
    assert_eq!(c["tid"], "11111111-2222-4333-8444-555555555555");
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    assert_eq!(c["appid"], "app");
    let roles: Vec<&str> = c["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for r in [
        "User.Read.All",
        "ProfilePhoto.ReadWrite.All",
        "PeopleSettings.ReadWrite.All",
    ] {
        assert!(roles.contains(&r), "{c}");
    }
    assert!(c["exp"].as_u64().unwrap() > c["iat"].as_u64().unwrap());
}

#[test]
fn no_admin_consent_means_no_roles_claim_and_403_everywhere() {
    let emu = Emulator::start(&["--generate-users", "1", "--roles", "none"]);
    let token = sign_in(&emu);
    assert!(claims(&token).get("roles").is_none());
    let users = graph(&emu, &token, "GET", &users_path(&[("$select", "id")]), b"");
    assert_eq!(
        (users.status, users.code().as_str()),
        (403, "Authorization_RequestDenied")
    );
    let photo = "/v1.0/users/user00001@contoso.test/photo/$value";
    let get = graph(&emu, &token, "GET", photo, b"");
    assert_eq!(
        (get.status, get.code().as_str()),
        (403, "ErrorAccessDenied")
    );
    let put = put_photo(&emu, &token, "user00001@contoso.test");
    assert_eq!(
        (put.status, put.code().as_str()),
        (403, "ErrorAccessDenied")
    );
    let settings = graph(
        &emu,
        &token,
        "GET",
        "/beta/admin/people/photoUpdateSettings",
        b"",
    );
    assert_eq!(settings.status, 403);
    let stats = emu.admin_json("/_emulator/stats");
    assert_eq!(
        (stats["forbidden"].as_u64(), stats["photo_writes"].as_u64()),
        (Some(4), Some(0))
    );
}

#[test]
fn each_endpoint_needs_its_own_permission() {
    let emu = Emulator::start(&[
        "--generate-users",
        "1",
        "--roles",
        "User.Read.All,ProfilePhoto.Read.All,PeopleSettings.Read.All",
    ]);
    let token = sign_in(&emu);
    let user = "/v1.0/users/user00001@contoso.test";
    assert_eq!(graph(&emu, &token, "GET", user, b"").status, 200);
    // Reading is allowed (the user has no photo yet), writing and removing are not.
    let get = graph(&emu, &token, "GET", &format!("{user}/photo/$value"), b"");
    assert_eq!((get.status, get.code().as_str()), (404, "ImageNotFound"));
    let put = put_photo(&emu, &token, "user00001@contoso.test");
    assert_eq!(
        (put.status, put.code().as_str()),
        (403, "ErrorAccessDenied")
    );
    let del = graph(&emu, &token, "DELETE", &format!("{user}/photo/$value"), b"");
    assert_eq!(del.status, 403);
    let settings = "/beta/admin/people/photoUpdateSettings";
    assert_eq!(graph(&emu, &token, "GET", settings, b"").status, 200);
    let patch = request(
        "PATCH",
        &format!("{}{settings}", emu.url),
        &[
            ("Authorization", format!("Bearer {token}").as_str()),
            ("Content-Type", "application/json"),
        ],
        br#"{"allowedRoles": []}"#,
    );
    assert_eq!(patch.status, 403);

    let writer = Emulator::start(&[
        "--generate-users",
        "1",
        "--roles",
        "ProfilePhoto.ReadWrite.All",
    ]);
    let token = sign_in(&writer);
    assert_eq!(
        put_photo(&writer, &token, "user00001@contoso.test").status,
        200
    );
    let users = graph(&writer, &token, "GET", &users_path(&[("$top", "5")]), b"");
    assert_eq!(users.status, 403);
}

#[test]
fn per_user_photo_errors_come_in_graph_shapes() {
    let dir = tempdir();
    let csv = tenant_csv(
        dir.path(),
        "userPrincipalName,photoError\n\
         gone@x.test,unknown-error\n\
         gone404@x.test,unknown-error-404\n\
         fresh@x.test,resource-not-found\n\
         busy@x.test,\n\
         lagging@x.test,image-not-found\n\
         entity@x.test,entity-not-found\n\
         onprem@x.test,\n\
         junk@x.test,\n",
    );
    let emu = Emulator::start(&[
        "--users",
        &csv,
        "--photo-error",
        "busy@x.test=item-not-found",
        "--photo-error",
        "onprem@x.test=on-premises-404",
        "--junk-photo",
        "junk@x.test",
    ]);
    let token = sign_in(&emu);
    let value = |u: &str| {
        graph(
            &emu,
            &token,
            "GET",
            &format!("/v1.0/users/{u}/photo/$value"),
            b"",
        )
    };

    let nested = put_photo(&emu, &token, "gone@x.test");
    assert_eq!(
        (nested.status, nested.code().as_str()),
        (500, "UnknownError")
    );
    let inner: serde_json::Value =
        serde_json::from_str(nested.json()["error"]["message"].as_str().unwrap()).unwrap();
    assert_eq!(
        inner["errorCode"],
        "ErrorUserResolutionFailedUserDoesNotExist"
    );
    let nested404 = put_photo(&emu, &token, "gone404@x.test");
    assert_eq!(
        (nested404.status, nested404.code().as_str()),
        (404, "UnknownError")
    );

    let fresh = value("fresh@x.test");
    assert_eq!(
        (fresh.status, fresh.code().as_str()),
        (404, "ResourceNotFound")
    );
    assert_eq!(put_photo(&emu, &token, "fresh@x.test").status, 200);

    // Intermittent: the 1st and 3rd PUT fail, the 2nd lands.
    let busy: Vec<_> = (0..3)
        .map(|_| put_photo(&emu, &token, "busy@x.test"))
        .map(|r| (r.status, r.code()))
        .collect();
    assert_eq!(busy[0], (404, "ErrorItemNotFound".to_string()));
    assert_eq!(busy[1].0, 200);
    assert_eq!(busy[2].0, 404);

    assert_eq!(put_photo(&emu, &token, "lagging@x.test").status, 200);
    let lagging = value("lagging@x.test");
    assert_eq!(
        (lagging.status, lagging.code().as_str()),
        (404, "ImageNotFound")
    );
    assert!(String::from_utf8_lossy(&lagging.body).contains("ImageNotFoundException"));
    let entity = value("entity@x.test");
    assert_eq!(
        (entity.status, entity.code().as_str()),
        (404, "ErrorEntityNotFound")
    );

    let onprem = put_photo(&emu, &token, "onprem@x.test");
    assert_eq!(
        (onprem.status, onprem.code().as_str()),
        (404, "MailboxNotHostedInExchangeOnline")
    );

    let junk = value("junk@x.test");
    assert_eq!(junk.status, 200);
    assert!(
        junk.header("Content-Type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(junk.body.starts_with(b"<!DOCTYPE html>"));

    let users = emu.admin_json("/_emulator/users");
    let busy = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["userPrincipalName"] == "busy@x.test")
        .unwrap();
    assert_eq!(
        (busy["put_attempts"].as_u64(), busy["writes"].as_u64()),
        (Some(3), Some(1))
    );
}

#[test]
fn a_photo_error_for_a_user_the_tenant_lacks_stops_the_emulator() {
    let run = Cmd::new(&["emulator", "--photo-error", "nobody@x.test=junk"]).run();
    assert_ne!(run.code(), 0);
    assert!(run.stderr().contains("nobody@x.test"), "{}", run.stderr());
    let run = Cmd::new(&["emulator", "--photo-error", "a@x.test=sideways"]).run();
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(run.stderr().contains("sideways"));
}

#[test]
fn duplicate_employee_ids_guests_and_selected_properties() {
    let dir = tempdir();
    let csv = tenant_csv(
        dir.path(),
        "id,userPrincipalName,mail,employeeId,accountEnabled\n\
         aaaaaaaa-0000-4000-8000-000000000001,ann@x.test,ann@x.test,1001,true\n\
         aaaaaaaa-0000-4000-8000-000000000002,ann.old@x.test,ann@x.test,1001,false\n\
         aaaaaaaa-0000-4000-8000-000000000003,ann_f.com#EXT#@x.test,ann@f.com,,\n\
         aaaaaaaa-0000-4000-8000-000000000004,bob@x.test,bob@x.test,1002,true\n",
    );
    let emu = Emulator::start(&["--users", &csv]);
    let token = sign_in(&emu);
    let found = graph(
        &emu,
        &token,
        "GET",
        &users_path(&[
            ("$filter", "employeeId in ('1001','1002')"),
            ("$select", "id,employeeId,accountEnabled,userType"),
        ]),
        b"",
    )
    .json();
    let values = found["value"].as_array().unwrap();
    assert_eq!(values.len(), 3, "{found}");
    let old = &values[1];
    assert_eq!(old["id"], "aaaaaaaa-0000-4000-8000-000000000002");
    assert_eq!(
        (old["accountEnabled"].as_bool(), old["userType"].as_str()),
        (Some(false), Some("Member"))
    );
    assert!(old.get("mail").is_none(), "only what was selected: {old}");

    let by_mail = graph(
        &emu,
        &token,
        "GET",
        &users_path(&[("$filter", "mail eq 'ANN@x.test'"), ("$select", "id")]),
        b"",
    )
    .json();
    assert_eq!(by_mail["value"].as_array().unwrap().len(), 2);

    let guest = graph(
        &emu,
        &token,
        "GET",
        "/v1.0/users/aaaaaaaa-0000-4000-8000-000000000003?$select=userPrincipalName,userType,employeeId",
        b"",
    )
    .json();
    assert_eq!(guest["userType"], "Guest");
    assert!(guest["employeeId"].is_null());
    // Without $select Graph leaves out employeeId, accountEnabled and userType.
    let plain = graph(&emu, &token, "GET", "/v1.0/users/bob@x.test", b"").json();
    assert_eq!(plain["mail"], "bob@x.test");
    assert!(plain.get("employeeId").is_none() && plain.get("accountEnabled").is_none());
    let unknown = graph(
        &emu,
        &token,
        "GET",
        "/v1.0/users/bob@x.test?$select=id,manager",
        b"",
    );
    assert_eq!(unknown.status, 400);
}

#[test]
fn one_non_guid_id_or_overlong_employee_id_fails_the_whole_look_up() {
    let emu = Emulator::start(&["--generate-users", "2"]);
    let token = sign_in(&emu);
    let ok = graph(
        &emu,
        &token,
        "GET",
        &users_path(&[(
            "$filter",
            "id in ('00000000-0000-4000-8000-000000000001','00000000-0000-4000-8000-000000000002')",
        )]),
        b"",
    );
    assert_eq!(ok.json()["value"].as_array().unwrap().len(), 2);
    let bad = graph(
        &emu,
        &token,
        "GET",
        &users_path(&[(
            "$filter",
            "id in ('00000000-0000-4000-8000-000000000001','jdoe')",
        )]),
        b"",
    );
    assert_eq!(
        (bad.status, bad.code().as_str()),
        (400, "Request_BadRequest")
    );
    assert!(String::from_utf8_lossy(&bad.body).contains("Invalid object identifier 'jdoe'"));
    let long = graph(
        &emu,
        &token,
        "GET",
        &users_path(&[("$filter", "employeeId in ('100001','12345678901234567')")]),
        b"",
    );
    assert_eq!(
        (long.status, long.code().as_str()),
        (400, "Request_BadRequest")
    );
}

#[test]
fn photo_settings_unset_source_and_wrapped_answers() {
    let settings = "/beta/admin/people/photoUpdateSettings";
    let emu = Emulator::start(&["--photo-source", "unset", "--settings-wrapped", "object"]);
    let token = sign_in(&emu);
    let body = graph(&emu, &token, "GET", settings, b"").json();
    assert!(body["value"].get("source").is_none(), "{body}");
    assert!(body["value"]["allowedRoles"].is_array(), "{body}");
    // Role ids are stored as sent (a stray leading space is echoed back).
    let patch = request(
        "PATCH",
        &format!("{}{settings}", emu.url),
        &[
            ("Authorization", format!("Bearer {token}").as_str()),
            ("Content-Type", "application/json"),
        ],
        br#"{"source": "cloud", "allowedRoles": [" 62e90394-69f5-4237-9190-012177145e10"]}"#,
    );
    assert_eq!(patch.status, 200);
    let body = graph(&emu, &token, "GET", settings, b"").json();
    assert_eq!(body["value"]["source"], "cloud");
    assert_eq!(
        body["value"]["allowedRoles"][0],
        " 62e90394-69f5-4237-9190-012177145e10"
    );

    let emu = Emulator::start(&[
        "--photo-source",
        "onPremises",
        "--settings-wrapped",
        "array",
    ]);
    let token = sign_in(&emu);
    let body = graph(&emu, &token, "GET", settings, b"").json();
    assert_eq!(body["value"][0]["source"], "onPremises", "{body}");
}

#[test]
fn photo_delete_answers_200_or_204() {
    for (args, want) in [(&[][..], 200), (&["--delete-status", "204"][..], 204)] {
        let mut all = vec!["--generate-users", "1"];
        all.extend_from_slice(args);
        let emu = Emulator::start(&all);
        let token = sign_in(&emu);
        assert_eq!(
            put_photo(&emu, &token, "user00001@contoso.test").status,
            200
        );
        let path = "/v1.0/users/user00001@contoso.test/photo/$value";
        assert_eq!(graph(&emu, &token, "DELETE", path, b"").status, want);
        let again = graph(&emu, &token, "DELETE", path, b"");
        assert_eq!(
            (again.status, again.code().as_str()),
            (404, "ImageNotFound")
        );
    }
}

#[test]
fn the_directory_pages_through_next_links_up_to_999() {
    let emu = Emulator::start(&["--generate-users", "2500"]);
    let token = sign_in(&emu);
    let mut url = format!(
        "{}{}",
        emu.url,
        users_path(&[("$select", "id,employeeId"), ("$top", "999")])
    );
    let mut sizes = Vec::new();
    let mut ids = std::collections::HashSet::new();
    loop {
        let page = request(
            "GET",
            &url,
            &[("Authorization", format!("Bearer {token}").as_str())],
            b"",
        );
        assert_eq!(page.status, 200);
        let body = page.json();
        let values = body["value"].as_array().unwrap();
        sizes.push(values.len());
        for v in values {
            assert_eq!(
                v.as_object().unwrap().len(),
                2,
                "only id and employeeId: {v}"
            );
            ids.insert(v["id"].as_str().unwrap().to_string());
        }
        match body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&emu.url) && next.contains("select=id%2CemployeeId"));
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(sizes, vec![999, 999, 502]);
    assert_eq!(ids.len(), 2500);
    assert_eq!(emu.admin_json("/_emulator/stats")["next_links"], 2);
    let too_big = graph(&emu, &token, "GET", &users_path(&[("$top", "1000")]), b"");
    assert_eq!(too_big.status, 400);
}

#[test]
fn hostile_retry_after_values_are_sent_literally() {
    for value in ["inf", "1e20", "date+30"] {
        let emu = Emulator::start(&[
            "--generate-users",
            "1",
            "--rate",
            "1",
            "--burst",
            "1",
            "--retry-after",
            value,
        ]);
        let token = sign_in(&emu);
        let user = "/v1.0/users/user00001@contoso.test";
        let _ = graph(&emu, &token, "GET", user, b"");
        let throttled = graph(&emu, &token, "GET", user, b"");
        assert_eq!(throttled.status, 429);
        let header = throttled.header("Retry-After").unwrap_or("");
        let as_wanted = match value {
            // An IMF-fixdate: `Wed, 02 Dec 2026 05:30:00 GMT`.
            "date+30" => header.ends_with(" GMT") && header.len() == 29,
            literal => header == literal,
        };
        assert!(as_wanted, "--retry-after {value}: sent {header:?}");
    }
}

#[test]
fn expires_in_is_sent_as_given() {
    let emu = Emulator::start(&["--expires-in", "1e30"]);
    let r = sign_in_raw(&emu);
    assert!(String::from_utf8_lossy(&r.body).contains("\"expires_in\":1e30"));
    let emu = Emulator::start(&["--expires-in", "soon"]);
    assert_eq!(sign_in_raw(&emu).json()["expires_in"], "soon");
    // The token itself still works for --token-lifetime.
    let token = sign_in(&emu);
    assert_eq!(
        graph(&emu, &token, "GET", "/v1.0/users?$top=1", b"").status,
        200
    );
}

#[test]
fn looping_and_foreign_next_links() {
    let emu = Emulator::start(&["--generate-users", "3", "--next-link", "loop"]);
    let token = sign_in(&emu);
    let auth = format!("Bearer {token}");
    let first = graph(&emu, &token, "GET", &users_path(&[("$select", "id")]), b"").json();
    let link = first["@odata.nextLink"].as_str().unwrap().to_string();
    let again = request("GET", &link, &[("Authorization", auth.as_str())], b"").json();
    assert_eq!(
        again["@odata.nextLink"],
        link.as_str(),
        "the link repeats itself"
    );
    assert_eq!(again["value"], first["value"]);

    let emu = Emulator::start(&["--generate-users", "3", "--next-link", "foreign"]);
    let token = sign_in(&emu);
    let auth = format!("Bearer {token}");
    let first = graph(&emu, &token, "GET", &users_path(&[("$select", "id")]), b"").json();
    let link = first["@odata.nextLink"].as_str().unwrap();
    assert!(
        link.starts_with("http://127.0.0.1:") && !link.starts_with(&emu.url),
        "{link}"
    );
    assert_eq!(emu.admin_json("/_emulator/stats")["foreign_requests"], 0);
    let there = request("GET", link, &[("Authorization", auth.as_str())], b"");
    assert_eq!(there.status, 200);
    let stats = emu.admin_json("/_emulator/stats");
    assert_eq!(
        (
            stats["foreign_requests"].as_u64(),
            stats["foreign_bearer"].as_u64()
        ),
        (Some(1), Some(1))
    );
}

#[test]
fn the_token_endpoint_can_redirect() {
    let emu = Emulator::start(&["--token-redirect", "foreign"]);
    let r = sign_in_raw(&emu);
    assert_eq!(r.status, 307);
    let location = r.header("Location").unwrap().to_string();
    assert!(
        location.ends_with("/contoso.com/oauth2/v2.0/token") && !location.starts_with(&emu.url)
    );
    // What a client that follows it would hand over is counted there.
    let form = format!("client_id=app&client_secret={SECRET}&grant_type=client_credentials");
    let there = request(
        "POST",
        &location,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(there.status, 401);
    let stats = emu.admin_json("/_emulator/stats");
    assert_eq!(
        (
            stats["token_redirects"].as_u64(),
            stats["foreign_secret"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(stats["tokens_issued"], 0);

    let emu = Emulator::start(&["--token-redirect", "http://203.0.113.9/steal"]);
    assert_eq!(
        sign_in_raw(&emu).header("Location"),
        Some("http://203.0.113.9/steal")
    );
}
