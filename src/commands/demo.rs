//! `demo`: the samples uploaded to the built-in emulator, with throttling, faults and a
//! short token lifetime switched on, so anyone can see a run without a tenant.

use std::time::Duration;

use anyhow::Context;

use super::RunError;
use super::finish::{Done, Exports, finish};
use crate::config::{DemoConfig, MatchOptions, Options, UploadConfig, UploadOptions};
use crate::emulator::{self, EmulatorConfig, EmulatorUser};
use crate::graph::{Credential, GraphOptions, Secret};
use crate::output::Output;

/// Graph options that sign in to an in-process emulator at `url`.
pub(super) fn emulator_graph(url: &str, tenant: &str, app: &str) -> GraphOptions {
    GraphOptions {
        tenant: tenant.into(),
        client_id: app.into(),
        credential: Credential::Secret(Secret::new(emulator::DEFAULT_SECRET)),
        graph_url: url.into(),
        login_url: url.into(),
        ..GraphOptions::default()
    }
}

/// A fresh emulator knows no photos: its state database starts afresh too.
pub(super) fn fresh_state(state: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", state.display()));
    }
}

pub(crate) fn run(c: &DemoConfig, out: &Output) -> Result<i32, RunError> {
    let (samples, out_dir) = (c.samples.as_path(), c.out.as_path());
    let tenant_users = samples.join("tenant-users.csv");
    let users = EmulatorUser::from_csv(&tenant_users).with_context(|| {
        format!(
            "reading {} (run the demo from the project folder, or pass --samples)",
            tenant_users.display()
        )
    })?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let uploaded = out_dir.join("uploaded");
    if uploaded.exists() {
        std::fs::remove_dir_all(&uploaded)
            .with_context(|| format!("clearing {}", uploaded.display()))?;
    }
    let emu = emulator::spawn(EmulatorConfig {
        users,
        rate: Some(8.0),
        burst: Some(3.0),
        retry_after: 1,
        fail_rate: 0.2,
        token_lifetime: Duration::from_secs(3),
        write_latency: Duration::from_millis(150),
        store: Some(uploaded.clone()),
        ..EmulatorConfig::default()
    })
    .map_err(RunError::failed)?;
    out.result(&format!(
        "demo: Graph emulator on {} (8 requests/s, 20% faults, 3 s tokens)",
        emu.url()
    ));
    let opts = Options {
        photos: samples.join("photos"),
        users: samples.join("users.csv"),
        matching: MatchOptions {
            match_column: "employeeId".into(),
            user_column: "userPrincipalName".into(),
        },
        report: Some(out_dir.join("report.csv")),
        html: Some(out_dir.join("report.html")),
        ..Options::default()
    };
    let graph = emulator_graph(&emu.url(), "contoso-demo", "m365-photos-demo");
    let state = out_dir.join("state.db");
    fresh_state(&state);
    let upload = UploadOptions {
        state: Some(state.clone()),
        ..UploadOptions::default()
    };
    let first = UploadConfig {
        opts: opts.clone(),
        graph: graph.clone(),
        upload: upload.clone(),
    };
    let first_run = super::upload::run_report(&first, out)?;
    finish(Done::new(first_run.report), &Exports::of(&opts)?, out)?;
    let stats = emu.stats();
    // The same command again: the state database says nothing changed, so nothing is sent.
    out.result(
        "demo: the same upload again (what next month's re-run does with unchanged photos):",
    );
    let again = Options {
        report: None,
        html: None,
        ..opts.clone()
    };
    let again = UploadConfig {
        opts: again,
        graph,
        upload,
    };
    let second = super::upload::run_report(&again, out)?.report;
    out.result(&format!(
        "  {} users skipped as unchanged, {} uploaded; state: {} (`m365-photos status --state {}`)",
        second.count(crate::report::Status::SkippedUnchanged),
        second.count(crate::report::Status::Uploaded),
        state.display(),
        state.display()
    ));
    emu.shutdown();
    out.result(&format!(
        "emulator: {} requests, {} throttled (429), {} faults (503/504), {} tokens issued, {} requests inside a Retry-After window",
        stats.requests, stats.throttled, stats.faults, stats.tokens_issued, stats.violations
    ));
    out.result(&format!("uploaded photos: {}", uploaded.display()));
    out.result("the samples include a renamed text file, a photo without a user, a too-small photo and a user the tenant does not have: those rows are expected.");
    Ok(if stats.violations == 0 { 0 } else { 1 })
}
