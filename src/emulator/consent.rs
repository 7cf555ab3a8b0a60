//! Which application permissions each Graph endpoint needs, and the 403 that a token
//! without them (or without any `roles` claim: no admin consent) gets.

use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::replies::graph_error;

/// Reading users.
const READ_USERS: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const READ_PHOTO: &[&str] = &[
    "ProfilePhoto.Read.All",
    "ProfilePhoto.ReadWrite.All",
    "User.ReadWrite.All",
];
const WRITE_PHOTO: &[&str] = &["ProfilePhoto.ReadWrite.All", "User.ReadWrite.All"];
const READ_SETTINGS: &[&str] = &["PeopleSettings.Read.All", "PeopleSettings.ReadWrite.All"];
const WRITE_SETTINGS: &[&str] = &["PeopleSettings.ReadWrite.All"];

/// What a request needs, by endpoint family.
fn needed(method: &Method, parts: &[&str]) -> Option<(&'static [&'static str], Family)> {
    let read = *method == Method::GET;
    match parts {
        ["users"] | ["users", _] => Some((READ_USERS, Family::Directory)),
        ["users", _, "photo" | "photos", ..] => Some(if read {
            (READ_PHOTO, Family::Photo)
        } else {
            (WRITE_PHOTO, Family::Photo)
        }),
        ["admin", "people", "photoUpdateSettings"] => Some(if read {
            (READ_SETTINGS, Family::Directory)
        } else {
            (WRITE_SETTINGS, Family::Directory)
        }),
        _ => None,
    }
}

#[derive(Clone, Copy)]
enum Family {
    /// Directory-backed endpoints answer `Authorization_RequestDenied`.
    Directory,
    /// The photo service answers `ErrorAccessDenied`.
    Photo,
}

/// `None` when `roles` allow the request, else the 403 Graph sends.
pub fn check(roles: Option<&[String]>, method: &Method, parts: &[&str]) -> Option<Response> {
    let (any_of, family) = needed(method, parts)?;
    let granted = roles
        .unwrap_or(&[])
        .iter()
        .any(|r| any_of.iter().any(|a| a.eq_ignore_ascii_case(r)));
    if granted {
        return None;
    }
    Some(match family {
        Family::Directory => graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ),
        Family::Photo => graph_error(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(list: &[&str]) -> Vec<String> {
        list.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn least_privilege_per_endpoint() {
        let r = roles(&["User.Read.All", "ProfilePhoto.ReadWrite.All"]);
        let put = ["users", "a@x", "photo", "$value"];
        assert!(check(Some(r.as_slice()), &Method::GET, &["users"]).is_none());
        assert!(check(Some(r.as_slice()), &Method::PUT, &put).is_none());
        assert!(check(Some(r.as_slice()), &Method::GET, &put).is_none());
        let settings = ["admin", "people", "photoUpdateSettings"];
        assert_eq!(
            check(Some(r.as_slice()), &Method::GET, &settings)
                .unwrap()
                .status(),
            403
        );

        let read_only = roles(&["ProfilePhoto.Read.All"]);
        assert!(check(Some(read_only.as_slice()), &Method::GET, &put).is_none());
        assert!(check(Some(read_only.as_slice()), &Method::DELETE, &put).is_some());
        assert!(check(Some(read_only.as_slice()), &Method::GET, &["users", "a@x"]).is_some());

        let settings_read = roles(&["PeopleSettings.Read.All"]);
        assert!(check(Some(settings_read.as_slice()), &Method::GET, &settings).is_none());
        assert!(check(Some(settings_read.as_slice()), &Method::PATCH, &settings).is_some());
    }

    #[test]
    fn no_roles_claim_means_every_call_fails() {
        for parts in [&["users"][..], &["users", "a", "photo", "$value"][..]] {
            assert_eq!(check(None, &Method::GET, parts).unwrap().status(), 403);
        }
    }
}
