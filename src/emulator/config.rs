//! How the emulator behaves: its configuration and the values its switches take.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::tenant::{EmulatorUser, PhotoFault};

/// The secret the emulator accepts unless told otherwise. Not a real credential.
pub const DEFAULT_SECRET: &str = "emulator-secret";

/// The emulator tenant's id (`tid` in its tokens), whatever tenant name signs in.
pub const DEFAULT_TENANT_ID: &str = "6f1d0c52-7d4b-4f1e-9b1a-0e6d2c9a5e00";

/// Every application permission the emulator knows: the default `roles` claim.
pub const ALL_ROLES: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "ProfilePhoto.Read.All",
    "ProfilePhoto.ReadWrite.All",
    "PeopleSettings.Read.All",
    "PeopleSettings.ReadWrite.All",
];

/// How the emulator behaves. `Default` is a well-behaved, unthrottled Graph with every
/// permission consented.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// 0 picks a free port.
    pub port: u16,
    pub users: Vec<EmulatorUser>,
    /// Graph requests per second before 429s (token bucket); `None` = unlimited.
    pub rate: Option<f64>,
    /// Bucket size; defaults to one second's worth of `rate`.
    pub burst: Option<f64>,
    /// More photo writes than this in flight at once get 429 (MailboxConcurrency).
    pub max_concurrent: Option<usize>,
    /// Seconds announced in `Retry-After` on 429, and how long the emulator then refuses.
    pub retry_after: u64,
    /// Sent as `Retry-After` instead of `retry_after` (a hostile or odd server).
    pub retry_after_header: Option<RetryAfterHeader>,
    /// Share of Graph requests answered 503/504 (0.0-1.0).
    pub fail_rate: f64,
    /// Share of Graph requests that wait `stall` before they are served (0.0-1.0).
    pub stall_rate: f64,
    pub stall: Duration,
    pub token_lifetime: Duration,
    /// Sent as the token answer's `expires_in` instead of `token_lifetime` (raw JSON when
    /// it is a JSON number, else a JSON string). The token still lasts `token_lifetime`.
    pub expires_in: Option<String>,
    /// Server time spent on each photo write.
    pub write_latency: Duration,
    /// Also write each received photo to this folder as `<upn>.jpg`.
    pub store: Option<PathBuf>,
    /// The client secret the token endpoint accepts.
    pub client_secret: String,
    /// `tid` in every token.
    pub tenant_id: String,
    /// The token's `roles` claim; `None` = no claim at all (admin consent never granted).
    pub roles: Option<Vec<String>>,
    /// Initial `photoUpdateSettings.source`.
    pub photo_source: PhotoSource,
    /// How `GET photoUpdateSettings` is wrapped.
    pub settings_wrapped: SettingsWrap,
    /// `DELETE .../photo/$value` answers 204 instead of 200.
    pub delete_no_content: bool,
    /// Per-user photo errors (user = UPN or id), on top of the CSV's `photoError` column.
    pub photo_faults: Vec<(String, PhotoFault)>,
    /// Every photo write (PUT, PATCH, DELETE) answers 403 `Authorization_RequestDenied`
    /// whatever the token's roles say, as real Graph does when the permission was
    /// removed or never applied to the photo service; `/_emulator/allow-photo-writes`
    /// lifts it (the admin "fixed" it).
    pub deny_photo_writes: bool,
    /// Every photo write answers 401 InvalidAuthenticationToken, however fresh the token
    /// (a photo service that does not accept the app's tokens).
    pub reject_write_tokens: bool,
    pub next_link: NextLinkMode,
    /// The token endpoint answers `307` to this URL (`foreign` = the emulator's second
    /// listener, which counts what it is sent).
    pub token_redirect: Option<String>,
    /// Keep the bytes of every photo written (to serve them back). A large rehearsal in
    /// the same process turns it off, so the memory it measures is the uploader's.
    pub keep_photos: bool,
    pub seed: u64,
    /// The `X-IDENTITY-HEADER` the App Service style managed identity endpoint wants.
    pub identity_header: String,
    /// Client ids of the user-assigned identities attached to the "host".
    pub user_assigned: Vec<String>,
    /// The issuer and subject the app's federated credential names (`None`: any).
    pub federated_issuer: Option<String>,
    pub federated_subject: Option<String>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            port: 0,
            users: Vec::new(),
            rate: None,
            burst: None,
            max_concurrent: None,
            retry_after: 2,
            retry_after_header: None,
            fail_rate: 0.0,
            stall_rate: 0.0,
            stall: Duration::ZERO,
            token_lifetime: Duration::from_secs(3599),
            expires_in: None,
            write_latency: Duration::ZERO,
            store: None,
            client_secret: DEFAULT_SECRET.into(),
            tenant_id: DEFAULT_TENANT_ID.into(),
            roles: Some(ALL_ROLES.iter().map(|r| r.to_string()).collect()),
            photo_source: PhotoSource::Cloud,
            settings_wrapped: SettingsWrap::Plain,
            delete_no_content: false,
            photo_faults: Vec::new(),
            deny_photo_writes: false,
            reject_write_tokens: false,
            next_link: NextLinkMode::Normal,
            token_redirect: None,
            keep_photos: true,
            seed: 42,
            identity_header: super::identity::DEFAULT_IDENTITY_HEADER.into(),
            user_assigned: Vec::new(),
            federated_issuer: None,
            federated_subject: None,
        }
    }
}

/// Why the emulator cannot start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("--photo-error/--junk-photo: the tenant has no user {0:?}")]
    UnknownUser(String),
    // Not `source`: the message says the cause, and the command's anyhow chain printed
    // it a second time.
    #[error("--store {path}: {cause}")]
    Store {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// `photoUpdateSettings.source` as a tenant may have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoSource {
    /// Never set: the GET has no `source` field.
    Unset,
    Cloud,
    OnPremises,
}

impl FromStr for PhotoSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "unset" => Ok(PhotoSource::Unset),
            "cloud" => Ok(PhotoSource::Cloud),
            "onPremises" => Ok(PhotoSource::OnPremises),
            _ => Err(format!("{s:?}: use unset, cloud or onPremises")),
        }
    }
}

/// How the settings GET is wrapped: plain, `{"value": {...}}` or `{"value": [{...}]}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsWrap {
    Plain,
    Object,
    Array,
}

impl FromStr for SettingsWrap {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" | "plain" => Ok(SettingsWrap::Plain),
            "object" => Ok(SettingsWrap::Object),
            "array" => Ok(SettingsWrap::Array),
            _ => Err(format!("{s:?}: use none, object or array")),
        }
    }
}

/// What `@odata.nextLink` the user listings carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextLinkMode {
    /// Real paging: a link while more users follow.
    Normal,
    /// Every listing links to one URL, which answers the same page and the same link.
    Loop,
    /// Every listing links to the emulator's second listener (another port).
    Foreign,
}

impl FromStr for NextLinkMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "normal" => Ok(NextLinkMode::Normal),
            "loop" => Ok(NextLinkMode::Loop),
            "foreign" => Ok(NextLinkMode::Foreign),
            _ => Err(format!("{s:?}: use normal, loop or foreign")),
        }
    }
}

/// A `Retry-After` the emulator sends instead of whole seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryAfterHeader {
    /// Sent as given (`inf`, `1e20`, `-5`, an HTTP date...).
    Literal(String),
    /// An HTTP date this many seconds after the 429.
    DateIn(u64),
}

impl RetryAfterHeader {
    /// `date+N` is an HTTP date N seconds ahead; anything else is sent literally.
    pub fn parse(s: &str) -> RetryAfterHeader {
        match s.strip_prefix("date+").and_then(|n| n.parse().ok()) {
            Some(n) => RetryAfterHeader::DateIn(n),
            None => RetryAfterHeader::Literal(s.to_string()),
        }
    }
}

/// `--roles`: a comma list of permission names, `all`, or `none` (no `roles` claim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(pub Option<Vec<String>>);

impl FromStr for Roles {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "none" => Ok(Roles(None)),
            "all" => Ok(Roles(Some(
                ALL_ROLES.iter().map(|r| r.to_string()).collect(),
            ))),
            list => {
                let roles: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::to_string)
                    .collect();
                if roles.iter().any(|r| r.contains(char::is_whitespace)) {
                    return Err(format!("{s:?}: permission names have no spaces"));
                }
                Ok(Roles(Some(roles)))
            }
        }
    }
}

/// `--photo-error USER=KIND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFault(pub String, pub PhotoFault);

impl FromStr for UserFault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (user, kind) = s
            .rsplit_once('=')
            .ok_or_else(|| format!("{s:?}: use USER=KIND"))?;
        Ok(UserFault(user.trim().to_string(), kind.trim().parse()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_values() {
        assert_eq!("unset".parse(), Ok(PhotoSource::Unset));
        assert!("OnPremises".parse::<PhotoSource>().is_err());
        assert_eq!("array".parse(), Ok(SettingsWrap::Array));
        assert_eq!("loop".parse(), Ok(NextLinkMode::Loop));
        assert_eq!("none".parse(), Ok(Roles(None)));
        assert_eq!(
            " User.Read.All, ProfilePhoto.ReadWrite.All ".parse(),
            Ok(Roles(Some(vec![
                "User.Read.All".into(),
                "ProfilePhoto.ReadWrite.All".into()
            ])))
        );
        assert_eq!("".parse(), Ok(Roles(Some(vec![]))));
        assert_eq!(
            "a=b@x=junk".parse(),
            Ok(UserFault("a=b@x".into(), PhotoFault::Junk))
        );
        assert!("a@x".parse::<UserFault>().is_err());
        assert!("a@x=nonsense".parse::<UserFault>().is_err());
        assert_eq!(
            RetryAfterHeader::parse("date+5"),
            RetryAfterHeader::DateIn(5)
        );
        assert_eq!(
            RetryAfterHeader::parse("inf"),
            RetryAfterHeader::Literal("inf".into())
        );
    }
}
