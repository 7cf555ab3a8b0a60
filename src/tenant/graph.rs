//! The Graph calls the tenant commands need, as one small trait: the real implementation
//! delegates to the crate's one Graph client (sign-in, rate limiting, retries, throttling);
//! the tenant logic stays independent of how the requests are sent.

use std::future::Future;

/// A Graph request that failed for good (after the client's retries).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphFailure {
    pub http_status: Option<u16>,
    /// Graph's error code (`ImageNotFound`, `Request_ResourceNotFound`, ...).
    pub code: Option<String>,
    /// Graph's message plus the client's plain-language hint.
    pub message: String,
    pub attempts: u32,
}

/// A successful call and how many requests it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done<T> {
    pub value: T,
    pub attempts: u32,
}

/// A user as the tenant knows them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TenantUser {
    pub id: String,
    #[serde(rename = "userPrincipalName")]
    pub upn: String,
}

/// What a photo call's failure means for one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoProblem {
    /// Graph has no photo for the user.
    NoPhoto,
    /// The user has no Exchange Online mailbox (or an on-premises one): Graph cannot hold a photo.
    NoMailbox,
    /// Graph does not know the user.
    UnknownUser,
    /// Anything else (permissions, throttling beyond the retries, server errors).
    Other,
}

impl GraphFailure {
    pub fn problem(&self) -> PhotoProblem {
        match self.code.as_deref() {
            Some("ImageNotFound") | Some("ErrorEntityNotFound") | Some("ErrorItemNotFound") => {
                PhotoProblem::NoPhoto
            }
            Some("ErrorNonExistentMailbox")
            | Some("MailboxNotHostedInExchangeOnline")
            | Some("MailboxNotEnabledForRESTAPI") => PhotoProblem::NoMailbox,
            Some("Request_ResourceNotFound") | Some("ResourceNotFound") => {
                PhotoProblem::UnknownUser
            }
            _ => PhotoProblem::Other,
        }
    }

    /// One line for a report's detail column.
    pub fn detail(&self) -> String {
        let mut s = String::new();
        if let Some(status) = self.http_status {
            s.push_str(&format!("HTTP {status}"));
        }
        if let Some(code) = &self.code {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(code);
        }
        if !self.message.is_empty() {
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&self.message);
        }
        if s.is_empty() {
            s.push_str("request failed");
        }
        s
    }
}

pub type GraphResult<T> = Result<Done<T>, GraphFailure>;

/// The tenant commands' view of Graph. Paths are relative to the Graph base URL including
/// the version (`beta/admin/...`, `v1.0/users/...`) so that one client serves both.
pub trait TenantGraph: Send + Sync + 'static {
    /// `GET /v1.0/users/{user}/photo/$value`.
    fn get_photo(&self, user: &str) -> impl Future<Output = GraphResult<Vec<u8>>> + Send;
    /// `PUT /v1.0/users/{user}/photo/$value` (image/jpeg).
    fn put_photo(&self, user: &str, bytes: Vec<u8>)
    -> impl Future<Output = GraphResult<()>> + Send;
    /// `DELETE /v1.0/users/{user}/photo/$value`.
    fn delete_photo(&self, user: &str) -> impl Future<Output = GraphResult<()>> + Send;
    /// `GET` a JSON resource.
    fn get_json(&self, path: &str) -> impl Future<Output = GraphResult<serde_json::Value>> + Send;
    /// `PATCH` a JSON resource; returns the response body (`Null` for 204).
    fn patch_json(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> impl Future<Output = GraphResult<serde_json::Value>> + Send;
    /// Looks up users by the value of a CSV column (UPN, object id, mail or employeeId).
    /// One entry per input, in order: `Ok(None)` = Graph does not know that user.
    fn resolve_users(
        &self,
        refs: &[String],
        column: &str,
    ) -> impl Future<Output = Result<Vec<Option<TenantUser>>, GraphFailure>> + Send;
    /// Every user in the tenant (`GET /v1.0/users` through `@odata.nextLink`).
    fn list_users(&self) -> impl Future<Output = Result<Vec<TenantUser>, GraphFailure>> + Send;
    /// How many requests may usefully be in flight at once.
    fn concurrency(&self) -> usize;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_by_code() {
        let f = |code: &str| GraphFailure {
            http_status: Some(404),
            code: Some(code.into()),
            message: "x".into(),
            attempts: 1,
        };
        assert_eq!(f("ImageNotFound").problem(), PhotoProblem::NoPhoto);
        assert_eq!(
            f("ErrorNonExistentMailbox").problem(),
            PhotoProblem::NoMailbox
        );
        assert_eq!(
            f("MailboxNotHostedInExchangeOnline").problem(),
            PhotoProblem::NoMailbox
        );
        assert_eq!(
            f("Request_ResourceNotFound").problem(),
            PhotoProblem::UnknownUser
        );
        assert_eq!(
            f("Authorization_RequestDenied").problem(),
            PhotoProblem::Other
        );
        assert_eq!(f("ImageNotFound").detail(), "HTTP 404 ImageNotFound: x");
    }
}
