//! A deliberately hostile Graph stand-in: a real HTTP/1.1 server on 127.0.0.1 (one
//! thread per connection) whose answers each test scripts, for behaviours no honest
//! server shows (junk photo bodies, absurd Retry-After, looping or foreign next links,
//! redirects). The thing under test is still the real binary talking real HTTP to it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn new(status: u16, ctype: &str, body: impl Into<Vec<u8>>) -> Resp {
        Resp {
            status,
            headers: vec![("Content-Type".into(), ctype.into())],
            body: body.into(),
        }
    }
    pub fn json(status: u16, v: serde_json::Value) -> Resp {
        Resp::new(status, "application/json", v.to_string())
    }
    pub fn header(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.into(), v.into()));
        self
    }
}

type Handler = dyn Fn(&Req) -> Resp + Send + Sync;

/// A running hostile server; requests are logged for the test to inspect.
pub struct Hostile {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub log: Arc<Mutex<Vec<Req>>>,
}

impl Hostile {
    pub fn start(handler: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let log: Arc<Mutex<Vec<Req>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let l = Arc::clone(&log);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let handler = Arc::clone(&handler);
                let log = Arc::clone(&l);
                std::thread::spawn(move || serve(stream, handler.as_ref(), &log));
            }
        });
        Hostile { url, log }
    }

    /// Requests whose method and path start as given (`"PUT /v1.0/users"`).
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.method == method && r.path().starts_with(path_prefix))
            .count()
    }

    pub fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<Req>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut writer = stream;
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let req = Req {
        method,
        target,
        headers,
        body,
    };
    let resp = handler(&req);
    log.lock().unwrap().push(req);
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        resp.status,
        resp.body.len()
    );
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    // The client may hang up early (e.g. on a body over its limit): that is fine.
    let _ = writer.write_all(head.as_bytes());
    let _ = writer.write_all(&resp.body);
    let _ = writer.flush();
}

/// The sign-in answer every scripted server gives unless told otherwise.
pub fn token() -> Resp {
    Resp::json(
        200,
        serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "hostile-token"}),
    )
}

/// `{"value": [...]}` for users `(id, upn)`.
pub fn users(list: &[(&str, &str)]) -> Resp {
    let value: Vec<serde_json::Value> = list
        .iter()
        .map(|(id, upn)| serde_json::json!({"id": id, "userPrincipalName": upn}))
        .collect();
    Resp::json(200, serde_json::json!({ "value": value }))
}
