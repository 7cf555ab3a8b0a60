//! The one place a photo's report row gets its status and detail: from discovery, from
//! processing, from the look-up and from the upload.

use crate::graph::{GraphError, GraphUser, Kind, Lookup, UserKey};
use crate::pipeline::discover::PhotoFile;
use crate::pipeline::matching::MatchedPhoto;
use crate::process::{CropNote, ProcessError, ProcessedPhoto};
use crate::report::{Row, Status};

/// Why a user was not done when the run was interrupted.
pub const PENDING: &str =
    "not uploaded: the run was interrupted before this user; run the same command again to resume";

/// A row that names a photo file and what discovery learnt of it.
pub fn photo_row(photo: &PhotoFile) -> Row {
    Row {
        file: Some(photo.rel.clone()),
        source_format: Some(photo.format.name().to_string()),
        source_bytes: Some(photo.bytes),
        ..Row::default()
    }
}

/// A row for a matched photo, before its outcome is known.
pub fn matched_row(m: &MatchedPhoto) -> Row {
    Row {
        user: Some(m.user.user.clone()),
        csv_line: Some(m.user.line),
        ..photo_row(&m.file)
    }
}

/// Marks a row status with its detail.
pub fn set(row: &mut Row, status: Status, detail: impl Into<String>) {
    row.status = Some(status);
    row.detail = detail.into();
}

/// Marks a row as waiting for the next run.
pub fn pending(row: &mut Row) {
    set(row, Status::Pending, PENDING);
}

/// Records a made photo on its row: status, sizes, quality and crop remarks.
pub fn processed(row: &mut Row, photo: &ProcessedPhoto, size: u32) {
    row.source_width = Some(photo.source.width);
    row.source_height = Some(photo.source.height);
    row.output_bytes = Some(photo.jpeg.len() as u64);
    row.output_side = Some(photo.side);
    let (x, y, side) = photo.crop_rect;
    row.crop = Some(format!("{x},{y},{side}"));
    row.quality = Some(photo.quality);
    // What a person should check, in the order the notes are listed.
    let mut remarks = Vec::new();
    match photo.crop {
        CropNote::NoFace => {
            row.notes.push("no-face".into());
            remarks.push("no face found: cropped to the most interesting part".to_string());
        }
        CropNote::SeveralFaces(n) => {
            row.notes.push("several-faces".into());
            let which = match &photo.face {
                Some(f) if f.nearest_centre => {
                    "the one nearest the centre of those about as large as the largest"
                }
                _ => "the largest",
            };
            let at = photo.face.map_or(String::new(), |f| {
                let (x, y, w, h) = f.rect;
                format!(", at {x},{y} ({w}x{h} px, face_box)")
            });
            remarks.push(format!("{n} faces found; framed {which}{at}"));
        }
        _ => {}
    }
    if let Some(face) = &photo.face {
        let (x, y, w, h) = face.rect;
        row.face_box = Some(format!("{x},{y},{w},{h}"));
        // Two decimals: what a person compares, and stable in CSV diffs.
        row.face_share = Some((face.share * 100.0).round() / 100.0);
        row.face_confidence = Some((face.score * 100.0).round() / 100.0);
        for (note, remark) in face.notes() {
            row.notes.push(note.into());
            remarks.push(remark);
        }
    }
    if photo.too_small {
        row.notes.push("too-small".into());
        remarks.insert(
            0,
            format!(
                "source is {}x{}, smaller than {size} px: made at {} px, not upscaled (ask for a larger photo)",
                photo.source.width, photo.source.height, photo.side
            ),
        );
        set(row, Status::TooSmall, remarks.join("; "));
    } else {
        row.status = Some(Status::Processed);
        if !remarks.is_empty() {
            row.detail = remarks.join("; ");
        }
    }
}

/// A photo that could not be made: a budget or encoder failure is ours to fix (failed);
/// anything else is the file's (invalid-image).
pub fn not_processed(row: &mut Row, e: &ProcessError) {
    let status = match e {
        ProcessError::OverBudget { .. } | ProcessError::Encode(_) => Status::Failed,
        _ => Status::InvalidImage,
    };
    set(row, status, e.to_string());
}

/// The row of a matched photo whose user the look-up did not pin down to one account:
/// nothing is uploaded for it.
pub fn unresolved(m: &MatchedPhoto, key: UserKey, lookup: &Lookup<'_>) -> Row {
    let mut row = matched_row(m);
    match lookup {
        Lookup::One(_) => {}
        Lookup::NotFound => set(
            &mut row,
            Status::UserNotFound,
            format!(
                "no user with {} {:?} in the tenant; nothing was sent",
                key.property(),
                m.user.user
            ),
        ),
        Lookup::Several(users) => {
            let names: Vec<String> = users.iter().map(GraphUser::describe).collect();
            set(
                &mut row,
                Status::Ambiguous,
                format!(
                    "{} users in the tenant have {} {:?}: {}; nothing was sent (make the CSV name one, e.g. by userPrincipalName)",
                    users.len(),
                    key.property(),
                    m.user.user,
                    names.join(", ")
                ),
            );
        }
        Lookup::Failed(e) => {
            let status = match e.kind {
                Kind::Invalid => Status::UserNotFound,
                Kind::Transient | Kind::Throttled | Kind::Interrupted => Status::Pending,
                _ => Status::Failed,
            };
            row.http_status = e.status;
            row.graph_code = e.code.clone();
            row.request_id = e.request_id.clone();
            let again = if status == Status::Pending {
                "; run the same command again"
            } else {
                ""
            };
            set(
                &mut row,
                status,
                format!("looking the user up failed: {}{again}", e.detail()),
            );
        }
    }
    row
}

/// A photo write Graph refused or that never got an answer.
pub fn upload_failed(row: &mut Row, e: &GraphError) {
    // The user was just resolved by id: a 404 here is never "no such user".
    let status = if e.kind == Kind::Interrupted {
        Status::Pending
    } else {
        Status::Failed
    };
    row.attempts = Some(e.attempts);
    row.http_status = e.status;
    row.graph_code = e.code.clone();
    row.request_id = e.request_id.clone();
    set(row, status, e.detail());
}
