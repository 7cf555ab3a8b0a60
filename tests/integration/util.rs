//! Helpers shared by the integration tests: temporary folders, a command builder for the
//! real binary, the real-world test photos, and an emulator process.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of the binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_m365-photos"))
}

/// The crate root (for `samples/`).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/testdata` (or `$M365_TESTDATA`), or `None` with a message saying the test
/// is skipped.
pub fn testdata(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("M365_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/testdata"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED {test}: real-world test photos not found at {} (set M365_TESTDATA)",
            dir.display()
        );
        None
    }
}

/// A command for the real binary with a clean environment: no Azure credentials leak in
/// from the machine running the tests.
pub struct Cmd {
    cmd: Command,
    pub args: Vec<String>,
}

impl Cmd {
    pub fn new(args: &[&str]) -> Cmd {
        let mut cmd = Command::new(bin());
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AZURE_") {
                cmd.env_remove(&k);
            }
        }
        cmd.env("NO_COLOR", "1");
        cmd.args(args);
        Cmd {
            cmd,
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Self {
        self.args.push(a.as_ref().to_string_lossy().to_string());
        self.cmd.arg(a);
        self
    }

    pub fn args_str(mut self, args: &[&str]) -> Self {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    pub fn env_remove(mut self, k: &str) -> Self {
        self.cmd.env_remove(k);
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Runs to completion and returns what it printed.
    pub fn run(mut self) -> Run {
        let output = self
            .cmd
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin().display()));
        Run {
            args: self.args,
            output,
        }
    }

    pub fn spawn(mut self) -> Child {
        self.cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin().display()))
    }
}

pub struct Run {
    pub args: Vec<String>,
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).to_string()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).to_string()
    }
    /// Asserts the exit code, showing everything printed when it is not as expected.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "m365-photos {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.args,
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// A fresh temporary folder, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary folder")
}

/// Reads a CSV report into rows of column -> value.
pub fn read_csv_report(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("cannot read report {}: {e}", path.display()));
    let headers = reader.headers().expect("report header").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("report row");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// A running `m365-photos emulator` process, killed when dropped.
pub struct Emulator {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    stdout_rest: Option<std::thread::JoinHandle<()>>,
}

impl Emulator {
    /// Starts `m365-photos emulator --port 0 ARGS...` and waits for its
    /// `emulator listening on http://127.0.0.1:PORT` line.
    pub fn start(args: &[&str]) -> Emulator {
        let mut all = vec!["emulator", "--port", "0"];
        all.extend_from_slice(args);
        let mut child = Cmd::new(&all).spawn();
        let stdout = child.stdout.take().expect("emulator stdout");
        let mut reader = BufReader::new(stdout);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut url = None;
        let mut line = String::new();
        while Instant::now() < deadline {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {
                    if let Some(rest) = line.trim().strip_prefix("emulator listening on ") {
                        url = Some(rest.trim().to_string());
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        let Some(url) = url else {
            let _ = child.kill();
            let out = child.wait_with_output().expect("emulator output");
            panic!(
                "emulator did not start: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        // Keep draining stdout so the emulator never blocks on a full pipe.
        let stdout_rest = std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
            }
        });
        Emulator {
            child,
            url,
            stdout_rest: Some(stdout_rest),
        }
    }

    /// GETs an emulator admin path (like `/_emulator/stats`) and parses the JSON.
    pub fn admin_json(&self, path: &str) -> serde_json::Value {
        let body = http_get(&format!("{}{}", self.url, path));
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{path}: not JSON: {e}"))
    }

    pub fn admin_bytes(&self, path: &str) -> Vec<u8> {
        http_get(&format!("{}{}", self.url, path))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(h) = self.stdout_rest.take() {
            let _ = h.join();
        }
    }
}

/// A tiny blocking HTTP/1.1 GET for loopback admin endpoints (tests only).
pub fn http_get(url: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).expect("connect to emulator");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).expect("read");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("http head");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "GET {url}: {head}");
    let body = buf[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&body[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&body[eol + 2..eol + 2 + size]);
        body = &body[eol + 2 + size + 2..];
    }
    out
}

/// The emulator's client secret.
pub const SECRET: &str = "emulator-secret";

/// `n` distinct small photos named by employee id, a staff CSV for them plus `extra`
/// CSV rows, and the tenant's user list (without the `missing` ones).
pub fn photo_batch(
    dir: &Path,
    n: usize,
    missing: &[usize],
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let photos = dir.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let mut staff = String::from("employeeId,userPrincipalName\n");
    let mut tenant = String::from("id,userPrincipalName,employeeId\n");
    for i in 0..n {
        // The top half spells `i` in black and white stripes, so every photo (and every
        // processed photo) differs from every other one, whatever the JPEG noise.
        let img = image::RgbImage::from_fn(96, 120, |x, y| {
            if y < 60 {
                let bit = (i >> (x / 8)) & 1;
                let v = if bit == 1 { 255 } else { 0 };
                image::Rgb([v, v, v])
            } else {
                image::Rgb([(i * 37 % 256) as u8, (x * 2) as u8, (y * 2) as u8])
            }
        });
        img.save(photos.join(format!("{}.jpg", 5000 + i))).unwrap();
        staff.push_str(&format!("{},u{i}@contoso.test\n", 5000 + i));
        if !missing.contains(&i) {
            tenant.push_str(&format!(
                "00000000-0000-4000-9000-{i:012},u{i}@contoso.test,{}\n",
                5000 + i
            ));
        }
    }
    let staff_csv = dir.join("staff.csv");
    std::fs::write(&staff_csv, staff).unwrap();
    let tenant_csv = dir.join("tenant.csv");
    std::fs::write(&tenant_csv, tenant).unwrap();
    (photos, staff_csv, tenant_csv)
}

/// `process` of `photos` matched through `users` into `out`, with `extra` flags.
pub fn process_cmd(photos: &Path, users: &Path, out: &Path, extra: &[&str]) -> Cmd {
    Cmd::new(&["process"])
        .args_str(extra)
        .arg("--photos")
        .arg(photos)
        .arg("--users")
        .arg(users)
        .arg("--out")
        .arg(out)
}

pub fn upload_cmd(
    emu: &Emulator,
    photos: &Path,
    staff: &Path,
    report: &Path,
    extra: &[&str],
) -> Cmd {
    Cmd::new(&[
        "upload",
        "--match-column",
        "employeeId",
        "--tenant",
        "contoso",
        "--client-id",
        "app",
    ])
    .args_str(&["--graph-url", &emu.url, "--login-url", &emu.url])
    .arg("--photos")
    .arg(photos)
    .arg("--users")
    .arg(staff)
    .arg("--report")
    .arg(report)
    .args_str(extra)
    .env("AZURE_CLIENT_SECRET", SECRET)
}
