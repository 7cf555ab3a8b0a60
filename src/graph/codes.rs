//! The one table that decides, per (endpoint, HTTP status, Graph error code), whether an
//! answer is retried, refreshes the token or is final, what it means for the user, and
//! which plain-language hint it gets; plus the parser for Graph's error bodies.

use serde_json::Value;

/// Which kind of Graph call an answer came from: the same status means different
/// things (and needs different permissions) on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /users?$filter=...` or `GET /users/{id}`.
    Lookup,
    /// `GET /users` paging through the whole tenant.
    ListUsers,
    /// `GET /users/$count` (an advanced query: `ConsistencyLevel: eventual`).
    CountUsers,
    /// `GET /users/{id}/photo/$value`.
    PhotoGet,
    /// `PUT /users/{id}/photo/$value`.
    PhotoPut,
    /// `DELETE /users/{id}/photo/$value`.
    PhotoDelete,
    /// `GET beta/admin/people/photoUpdateSettings`.
    SettingsRead,
    /// `PATCH beta/admin/people/photoUpdateSettings`.
    SettingsWrite,
}

/// What the client does with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Transient: wait (Retry-After or backoff) and try again.
    Retry,
    /// The token is no longer accepted: sign in again once, then retry.
    RefreshToken,
    /// Nothing gets better by asking again.
    Final,
}

/// What a failed call means, for the row it ends up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The user has no photo.
    NoPhoto,
    /// Graph says the user has no Exchange Online mailbox.
    NoMailbox,
    /// The user's mailbox is on-premises (hybrid).
    OnPremMailbox,
    /// The directory does not know the user (only a look-up can say this).
    UnknownUser,
    /// The directory returned the user, but the photo service does not find them.
    ProfileMissing,
    /// An intermittent photo-service error that is not worth hammering.
    Intermittent,
    /// The app lacks a permission (or its consent).
    Permission,
    /// Sign-in failed or the token was refused.
    SignIn,
    /// Throttled past the retry budget, or asked to wait longer than we wait.
    Throttled,
    /// 5xx, timeouts, resets past the retry budget.
    Transient,
    /// Graph refused the request as invalid.
    Invalid,
    /// The photo (or an answer) is over a size limit.
    TooLarge,
    /// The run was stopped (Ctrl-C) while the call was waiting.
    Interrupted,
    /// The answer broke the protocol (bad redirect, foreign next link, looping pages).
    Protocol,
    /// Anything else.
    Other,
}

/// The table's verdict for one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub action: Action,
    pub kind: Kind,
    pub hint: Option<&'static str>,
}

const fn rule(action: Action, kind: Kind, hint: &'static str) -> Rule {
    Rule {
        action,
        kind,
        hint: Some(hint),
    }
}

const NO_PHOTO: &str = "the user has no photo";
const NO_MAILBOX: &str = "Graph answered with the old Exchange error for a user without a mailbox; photos now live in Entra ID, where such users can usually hold one: check the user is licensed and enabled, then run again (or set the photo in the Entra admin centre)";
const ON_PREM: &str = "the user's mailbox is on-premises (hybrid): Graph cannot write this photo; set it on-premises (AD thumbnailPhoto / Exchange Server), or after the mailbox moves to Exchange Online";
const PROFILE_MISSING: &str = "Graph returned this user a moment ago, but the photo service does not find their profile (common for new, unlicensed or just-restored users): run again later";
const INTERMITTENT: &str =
    "an intermittent error of Microsoft's photo service ('too many photo items'): run again later";
const UNKNOWN_USER: &str = "no such user in the tenant: check the user column";
const USER_READ: &str =
    "the app lacks User.Read.All (application permission, with admin consent) to look users up";
const PHOTO_READ: &str = "the app lacks ProfilePhoto.Read.All (application permission, with admin consent) to read photos";
const PHOTO_WRITE: &str = "the app lacks ProfilePhoto.ReadWrite.All (application permission, with admin consent) to change photos";
const SETTINGS_READ: &str =
    "the app lacks PeopleSettings.Read.All (application permission, with admin consent)";
const SETTINGS_WRITE: &str =
    "the app lacks PeopleSettings.ReadWrite.All (application permission, with admin consent)";
const TOKEN_REFUSED: &str = "Graph did not accept the app's token: check the credentials and that admin consent was granted";
const TOO_LARGE: &str = "the photo is over Graph's 4 MB limit: lower --max-bytes";
const BAD_LOOKUP: &str = "Graph refused the look-up as invalid: a value that is not a GUID in an id column, or an over-long employeeId, fails the whole request";
const BAD_PHOTO: &str = "Graph refused the photo bytes: send a JPEG";
const INVALID: &str = "Graph refused the request as invalid";
const TRANSIENT: &str = "Graph or the network kept failing; run again to retry";
const REDIRECT: &str = "Graph answered with a redirect that was not followed (requests carrying the token only go to the Graph host itself)";

/// Codes whose meaning does not depend on the HTTP status: the photo service reports
/// some of them with 500 (inside `UnknownError`), where retrying never helps.
fn by_code(ep: Endpoint, code: &str) -> Option<Rule> {
    use Action::Final;
    let photo_call = matches!(
        ep,
        Endpoint::PhotoGet | Endpoint::PhotoPut | Endpoint::PhotoDelete
    );
    Some(match code {
        "ImageNotFound" | "ErrorEntityNotFound" => rule(Final, Kind::NoPhoto, NO_PHOTO),
        "ErrorItemNotFound" => rule(Final, Kind::Intermittent, INTERMITTENT),
        "ErrorNonExistentMailbox" | "MailboxNotEnabledForRESTAPI" | "AuthenticationError" => {
            rule(Final, Kind::NoMailbox, NO_MAILBOX)
        }
        "MailboxNotHostedInExchangeOnline" => rule(Final, Kind::OnPremMailbox, ON_PREM),
        "ErrorUserResolutionFailedUserDoesNotExist" | "ProfileNotFound" => {
            rule(Final, Kind::ProfileMissing, PROFILE_MISSING)
        }
        "Request_ResourceNotFound" | "ResourceNotFound" if photo_call => {
            rule(Final, Kind::ProfileMissing, PROFILE_MISSING)
        }
        "Request_ResourceNotFound" | "ResourceNotFound" => {
            rule(Final, Kind::UnknownUser, UNKNOWN_USER)
        }
        "Authorization_RequestDenied" | "ErrorAccessDenied" | "AccessDenied" => {
            rule(Final, Kind::Permission, permission_hint(ep))
        }
        "ImageInvalid" | "ErrorInvalidImage" => rule(Final, Kind::Invalid, BAD_PHOTO),
        "RequestBodyTooLarge" | "ErrorRequestTooLarge" => rule(Final, Kind::TooLarge, TOO_LARGE),
        _ => return None,
    })
}

fn permission_hint(ep: Endpoint) -> &'static str {
    match ep {
        Endpoint::Lookup | Endpoint::ListUsers | Endpoint::CountUsers => USER_READ,
        Endpoint::PhotoGet => PHOTO_READ,
        Endpoint::PhotoPut | Endpoint::PhotoDelete => PHOTO_WRITE,
        Endpoint::SettingsRead => SETTINGS_READ,
        Endpoint::SettingsWrite => SETTINGS_WRITE,
    }
}

/// Decides what to do with a non-2xx answer. `code` is the deciding Graph code (the
/// inner one when the message wrapped it), empty when there was none.
pub fn classify(ep: Endpoint, status: u16, code: &str) -> Rule {
    use Action::{Final, Retry};
    if status == 429 {
        return rule(
            Retry,
            Kind::Throttled,
            "Graph kept throttling past the retry budget: run again later (a re-run resumes)",
        );
    }
    if status == 401 && code == "InvalidAuthenticationToken" {
        return rule(Action::RefreshToken, Kind::SignIn, TOKEN_REFUSED);
    }
    if let Some(r) = by_code(ep, code) {
        return r;
    }
    match status {
        401 => rule(Final, Kind::SignIn, TOKEN_REFUSED),
        403 => rule(Final, Kind::Permission, permission_hint(ep)),
        404 => match ep {
            Endpoint::Lookup | Endpoint::ListUsers | Endpoint::CountUsers => {
                rule(Final, Kind::UnknownUser, UNKNOWN_USER)
            }
            // A user Graph has just returned by id is never "no such user".
            Endpoint::PhotoGet => rule(Final, Kind::NoPhoto, NO_PHOTO),
            Endpoint::PhotoPut | Endpoint::PhotoDelete => {
                rule(Final, Kind::ProfileMissing, PROFILE_MISSING)
            }
            Endpoint::SettingsRead | Endpoint::SettingsWrite => rule(
                Final,
                Kind::Other,
                "Graph does not offer photoUpdateSettings here (a beta endpoint): check the cloud",
            ),
        },
        400 => match ep {
            Endpoint::Lookup | Endpoint::ListUsers | Endpoint::CountUsers => {
                rule(Final, Kind::Invalid, BAD_LOOKUP)
            }
            Endpoint::PhotoPut => rule(Final, Kind::Invalid, BAD_PHOTO),
            _ => rule(Final, Kind::Invalid, INVALID),
        },
        413 => rule(Final, Kind::TooLarge, TOO_LARGE),
        500 | 502 | 503 | 504 => rule(Retry, Kind::Transient, TRANSIENT),
        300..=399 => rule(Final, Kind::Protocol, REDIRECT),
        _ => Rule {
            action: Final,
            kind: Kind::Other,
            hint: None,
        },
    }
}

/// What a Graph error body says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    /// The deciding code: the inner `errorCode` when `error.message` wrapped one.
    pub code: Option<String>,
    /// The outer `error.code` when the deciding code came from inside the message.
    pub outer_code: Option<String>,
    /// The raw message (or the start of a body that is not Graph's JSON).
    pub message: String,
    /// `error.innerError.request-id`, when the body carries it.
    pub request_id: Option<String>,
}

/// Longest message kept from an answer (the detail column is for people).
const MESSAGE_MAX: usize = 600;

fn clip(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    if clean.chars().count() > MESSAGE_MAX {
        let mut out: String = clean.chars().take(MESSAGE_MAX).collect();
        out.push_str("...");
        out
    } else {
        clean.to_string()
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The code an Entra-backed service put inside a message that is itself JSON:
/// `{"errorCode":"...","message":"..."}`, or Graph's own shape nested once more.
fn inner_code(message: &str) -> Option<String> {
    let trimmed = message.trim();
    if !trimmed.starts_with('{') {
        return None;
    }
    let v: Value = serde_json::from_str(trimmed).ok()?;
    str_at(&v, "errorCode")
        .or_else(|| str_at(&v, "code"))
        .or_else(|| v.get("error").and_then(|e| str_at(e, "code")))
        .map(str::to_string)
}

/// Parses any error answer: Graph's JSON (with a JSON message inside), or anything else
/// (an HTML page from a proxy, an empty body) without failing.
pub fn parse_error_body(bytes: &[u8]) -> ErrorBody {
    let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
        return ErrorBody {
            message: clip(&String::from_utf8_lossy(bytes)),
            ..ErrorBody::default()
        };
    };
    let Some(err) = v.get("error").filter(|e| e.is_object()) else {
        return ErrorBody {
            message: clip(&String::from_utf8_lossy(bytes)),
            ..ErrorBody::default()
        };
    };
    let outer = str_at(err, "code").map(str::to_string);
    let message = str_at(err, "message").unwrap_or("");
    let request_id = err
        .get("innerError")
        .or_else(|| err.get("innererror"))
        .and_then(|i| str_at(i, "request-id"))
        .map(str::to_string);
    match inner_code(message) {
        Some(inner) => ErrorBody {
            code: Some(inner),
            outer_code: outer,
            message: clip(message),
            request_id,
        },
        None => ErrorBody {
            code: outer,
            outer_code: None,
            message: clip(message),
            request_id,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_unknown_error_is_classified_by_its_inner_code() {
        let body = br#"{"error":{"code":"UnknownError","message":"{\"errorCode\":\"ErrorUserResolutionFailedUserDoesNotExist\",\"message\":\"Exception of type 'Microsoft.Fast.Profile.Core.Exception.ProfileNotFoundException' was thrown.\"}","innerError":{"request-id":"r-1","date":"2026-01-01T00:00:00"}}}"#;
        let e = parse_error_body(body);
        assert_eq!(
            e.code.as_deref(),
            Some("ErrorUserResolutionFailedUserDoesNotExist")
        );
        assert_eq!(e.outer_code.as_deref(), Some("UnknownError"));
        assert!(e.message.contains("ProfileNotFoundException"), "{e:?}");
        assert_eq!(e.request_id.as_deref(), Some("r-1"));
        // A 500 with a known-permanent inner code is final, not retried.
        let r = classify(Endpoint::PhotoPut, 500, e.code.as_deref().unwrap());
        assert_eq!(r.action, Action::Final);
        assert_eq!(r.kind, Kind::ProfileMissing);
        assert!(!r.hint.unwrap().contains("check the user column"));
    }

    #[test]
    fn bodies_that_are_not_graph_json_never_fail() {
        let e = parse_error_body(b"<html><body>Sign in to the proxy</body></html>");
        assert_eq!(e.code, None);
        assert!(e.message.contains("Sign in to the proxy"));
        assert_eq!(parse_error_body(b"").message, "");
        let long = vec![b'x'; 100_000];
        assert!(parse_error_body(&long).message.len() < 700);
        let e = parse_error_body(br#"{"error":"not an object"}"#);
        assert_eq!(e.code, None);
        let e = parse_error_body(br#"{"error":{"code":"X","message":"{not json"}}"#);
        assert_eq!(e.code.as_deref(), Some("X"));
        assert_eq!(e.outer_code, None);
    }

    #[test]
    fn permission_hints_depend_on_the_endpoint() {
        let h = |ep| {
            classify(ep, 403, "Authorization_RequestDenied")
                .hint
                .unwrap()
        };
        assert!(h(Endpoint::Lookup).contains("User.Read.All"));
        assert!(h(Endpoint::PhotoGet).contains("ProfilePhoto.Read.All"));
        assert!(h(Endpoint::PhotoPut).contains("ProfilePhoto.ReadWrite.All"));
        assert!(h(Endpoint::SettingsWrite).contains("PeopleSettings.ReadWrite.All"));
        assert!(
            classify(Endpoint::PhotoGet, 403, "ErrorAccessDenied")
                .hint
                .unwrap()
                .contains("ProfilePhoto.Read.All")
        );
    }

    #[test]
    fn a_404_on_a_resolved_user_is_never_no_such_user() {
        for code in [
            "ResourceNotFound",
            "Request_ResourceNotFound",
            "Whatever",
            "",
        ] {
            for ep in [
                Endpoint::PhotoGet,
                Endpoint::PhotoPut,
                Endpoint::PhotoDelete,
            ] {
                let r = classify(ep, 404, code);
                assert_ne!(r.kind, Kind::UnknownUser, "{ep:?} {code}");
                assert!(
                    !r.hint.unwrap_or("").contains("user column"),
                    "{ep:?} {code}"
                );
            }
        }
        assert_eq!(
            classify(Endpoint::Lookup, 404, "Request_ResourceNotFound").kind,
            Kind::UnknownUser
        );
        assert_eq!(
            classify(Endpoint::PhotoGet, 404, "ImageNotFound").kind,
            Kind::NoPhoto
        );
    }

    #[test]
    fn retry_refresh_final() {
        assert_eq!(classify(Endpoint::PhotoPut, 429, "").action, Action::Retry);
        assert_eq!(
            classify(Endpoint::PhotoPut, 503, "serviceNotAvailable").action,
            Action::Retry
        );
        assert_eq!(
            classify(Endpoint::Lookup, 500, "UnknownError").action,
            Action::Retry
        );
        assert_eq!(
            classify(Endpoint::PhotoPut, 401, "InvalidAuthenticationToken").action,
            Action::RefreshToken
        );
        assert_eq!(classify(Endpoint::PhotoPut, 401, "").action, Action::Final);
        assert_eq!(
            classify(Endpoint::PhotoGet, 500, "ErrorNonExistentMailbox").action,
            Action::Final
        );
        assert_eq!(classify(Endpoint::PhotoPut, 413, "").kind, Kind::TooLarge);
        assert_eq!(classify(Endpoint::PhotoPut, 307, "").kind, Kind::Protocol);
        assert_eq!(
            classify(Endpoint::Lookup, 400, "Request_BadRequest").kind,
            Kind::Invalid
        );
    }

    #[test]
    fn mailbox_hints_match_the_entra_backed_service() {
        let r = classify(Endpoint::PhotoPut, 404, "ErrorNonExistentMailbox");
        assert_eq!(r.kind, Kind::NoMailbox);
        let hint = r.hint.unwrap();
        assert!(hint.contains("Entra ID"), "{hint}");
        assert!(!hint.contains("nowhere to keep"), "{hint}");
        let r = classify(Endpoint::PhotoPut, 400, "MailboxNotHostedInExchangeOnline");
        assert_eq!(r.kind, Kind::OnPremMailbox);
        assert!(r.hint.unwrap().contains("on-premises"));
        assert_eq!(
            classify(Endpoint::PhotoGet, 404, "ErrorItemNotFound").kind,
            Kind::Intermittent
        );
    }
}
