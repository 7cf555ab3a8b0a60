//! `demo --users N`: a large run rehearsed on the built-in emulator, limited like a
//! tenant (rate, slow photo writes, faults, stalls), with the figures a tenant-wide
//! refresh is planned by: wall time, photos per second, peak memory, output sizes.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use rayon::prelude::*;

use super::RunError;
use super::finish::{Done, Exports, finish};
use crate::config::{MatchOptions, Options, Rehearsal, UploadConfig, UploadOptions};
use crate::emulator;
use crate::output::Output;

pub(crate) fn run(out_dir: &Path, r: Rehearsal, out: &Output) -> Result<i32, RunError> {
    let dir = out_dir.join(format!("rehearsal-{}", r.users));
    let photos = dir.join("photos");
    let users_csv = dir.join("users.csv");
    let made = Instant::now();
    synthetic_batch(&photos, &users_csv, r.users)?;
    out.note(&format!(
        "rehearsal: {} photos and users ready in {} ({:.0} s)",
        r.users,
        dir.display(),
        made.elapsed().as_secs_f64()
    ));
    // Its own process: the tenant's user tables are Graph's memory, not the uploader's,
    // so the peak printed below is what a real run of this size needs.
    let emu = ChildEmulator::start(r.users, r.write_latency)?;
    out.result(&format!(
        "rehearsal: Graph emulator on {} as its own process (50 requests/s, {} ms per photo write, 1% 503/504, 0.1% 5 s stalls)",
        emu.url,
        r.write_latency.as_millis()
    ));
    let state = dir.join("state.db");
    super::demo::fresh_state(&state);
    let opts = Options {
        photos,
        users: users_csv,
        matching: MatchOptions {
            match_column: "employeeId".into(),
            user_column: "userPrincipalName".into(),
        },
        report: Some(dir.join("report.csv")),
        html: Some(dir.join("report.html")),
        ..Options::default()
    };
    let config = UploadConfig {
        graph: super::demo::emulator_graph(&emu.url, "contoso-rehearsal", "m365-photos-rehearsal"),
        upload: UploadOptions {
            state: Some(state.clone()),
            ..UploadOptions::default()
        },
        opts: opts.clone(),
    };
    let started = Instant::now();
    let uploaded = super::upload::run_report(&config, out)?;
    let wall = started.elapsed();
    let code = finish(Done::new(uploaded.report), &Exports::of(&opts)?, out)?;
    let stats = emu.stats()?;
    let emulator_peak = emu.peak_memory();
    let mb = |bytes: u64| bytes as f64 / 1_048_576.0;
    let (sheet_bytes, sheet_files, sheet_largest) = sheet_sizes(&dir);
    out.result(&format!(
        "figures: {} users in {:.0} s; {:.1} photo writes/s sustained (the emulator allows 50 requests/s); {} throttled (429) of {} requests, {} inside a Retry-After window",
        r.users,
        wall.as_secs_f64(),
        stats.writes_per_sec,
        stats.throttled,
        stats.requests,
        stats.violations
    ));
    out.result(&format!(
        "figures: peak memory {} (the uploader; the emulator's own process: {}); state database {:.1} MB; report.csv {:.1} MB; contact sheet {:.1} MB in {} file(s), the largest {:.1} MB",
        megabytes(peak_memory("self")),
        megabytes(emulator_peak),
        mb(size_of(&state)),
        mb(size_of(&dir.join("report.csv"))),
        mb(sheet_bytes),
        sheet_files,
        mb(sheet_largest),
    ));
    Ok(code)
}

/// `n` photos (`<employeeId>.jpg`, 480x600, each one different) and the CSV naming their
/// users, as [`EmulatorUser::generate`] makes them; kept for the next rehearsal.
fn synthetic_batch(photos: &Path, csv: &Path, n: usize) -> Result<(), RunError> {
    // Photos kept from an older drawing are drawn again: before BATCH_VERSION 2 only
    // 1,200 were different, and the repeats made every row a same-photo one.
    let version = photos.join(".batch-version");
    let current = std::fs::read_to_string(&version).is_ok_and(|v| v.trim() == BATCH_VERSION);
    std::fs::create_dir_all(photos).with_context(|| format!("creating {}", photos.display()))?;
    let mut text = String::from("employeeId,userPrincipalName\n");
    for i in 1..=n {
        text.push_str(&format!("{},user{i:05}@contoso.test\n", 100_000 + i));
    }
    crate::util::fs::write_atomically(csv, text.as_bytes())
        .with_context(|| format!("writing {}", csv.display()))?;
    (1..=n).into_par_iter().try_for_each(|i| {
        let path = photos.join(format!("{}.jpg", 100_000 + i));
        if current && path.is_file() {
            return Ok(());
        }
        let img = synthetic_photo(i);
        img.save(&path)
            .with_context(|| format!("writing {}", path.display()))
    })?;
    std::fs::write(&version, BATCH_VERSION)
        .with_context(|| format!("writing {}", version.display()))?;
    Ok(())
}

/// The photo of user `i`: a light "face" disc on a coloured background, and `i` itself
/// drawn along the bottom, so that no two users share a photo.
fn synthetic_photo(i: usize) -> image::RgbImage {
    image::RgbImage::from_fn(480, 600, |x, y| {
        // A light "face" disc on a coloured background, shifted per user.
        let (cx, cy) = (200 + (i % 80) as i64, 220 + (i % 60) as i64);
        let (dx, dy) = (i64::from(x) - cx, i64::from(y) - cy);
        if y >= 592 {
            // The user's number in 8 px blocks along the bottom: no two alike.
            let bit = (i >> (x / 8).min(63)) & 1;
            image::Rgb(if bit == 1 { [250; 3] } else { [5; 3] })
        } else if dx * dx * 4 + dy * dy * 3 < 120 * 120 * 4 {
            image::Rgb([224, 180, 150])
        } else {
            image::Rgb([(i * 37 % 200) as u8, (x / 3) as u8, (y / 4) as u8])
        }
    })
}

/// How the synthetic photos are drawn; see [`synthetic_batch`].
const BATCH_VERSION: &str = "2";

fn size_of(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The contact sheet's total bytes, file count and largest file.
fn sheet_sizes(dir: &Path) -> (u64, usize, u64) {
    let mut files = vec![size_of(&dir.join("report.html"))];
    if let Ok(pages) = std::fs::read_dir(dir.join("report-pages")) {
        files.extend(
            pages
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len()),
        );
    }
    let largest = files.iter().copied().max().unwrap_or(0);
    (files.iter().sum(), files.len(), largest)
}

/// A process's peak resident memory in KiB (`self` or a pid; Linux: `VmHWM`).
fn peak_memory(process: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn megabytes(kib: Option<u64>) -> String {
    kib.map_or("unknown on this system".into(), |kb| {
        format!("{:.0} MB", kb as f64 / 1024.0)
    })
}

/// `m365-photos emulator` started from this very binary, limited like a tenant; killed
/// when dropped, so a failed rehearsal leaves no server behind.
struct ChildEmulator {
    child: std::process::Child,
    url: String,
}

impl ChildEmulator {
    fn start(users: usize, write_latency: Duration) -> Result<ChildEmulator, RunError> {
        use std::io::BufRead;
        let exe = std::env::current_exe().context("finding this program to start the emulator")?;
        let mut child = std::process::Command::new(exe)
            .arg("emulator")
            .args(["--generate-users", &users.to_string()])
            .args(["--rate", "50", "--fail-rate", "0.01"])
            .args(["--stall-rate", "0.001", "--stall-ms", "5000"])
            .args(["--write-latency-ms", &write_latency.as_millis().to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting the emulator")?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(RunError::failed("the emulator's output could not be read"));
        };
        let mut emu = ChildEmulator {
            child,
            url: String::new(),
        };
        // Its first line names the address; the rest (its closing stats) is not needed.
        let mut lines = std::io::BufReader::new(stdout).lines();
        while let Some(Ok(line)) = lines.next() {
            if let Some(url) = line.strip_prefix("emulator listening on ") {
                emu.url = url.trim().to_string();
                break;
            }
        }
        if emu.url.is_empty() {
            return Err(RunError::failed(
                "the emulator ended before it said where it listens",
            ));
        }
        // Keep draining its stdout so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(emu)
    }

    fn stats(&self) -> Result<emulator::Stats, RunError> {
        let url = format!("{}/_emulator/stats", self.url);
        let runtime = crate::util::runtime::build().map_err(RunError::failed)?;
        runtime
            .block_on(async {
                reqwest::get(&url)
                    .await?
                    .error_for_status()?
                    .json::<emulator::Stats>()
                    .await
            })
            .with_context(|| format!("reading the emulator's figures from {url}"))
            .map_err(RunError::from)
    }

    fn peak_memory(&self) -> Option<u64> {
        peak_memory(&self.child.id().to_string())
    }
}

impl Drop for ChildEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_synthetic_user_has_a_different_photo() {
        // The old drawing repeated every 1,200 users (its shifts' periods).
        for (a, b) in [(1, 1201), (1, 2401), (7, 7 + 12_000), (1, 2)] {
            assert_ne!(synthetic_photo(a), synthetic_photo(b), "{a} and {b}");
        }
    }
}
