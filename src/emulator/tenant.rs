//! The emulator's tenant data: users read from a CSV or generated, and their photo faults.

use std::str::FromStr;

use serde::Serialize;

/// Whether (and where) a user has an Exchange mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mailbox {
    Exchange,
    None,
    OnPrem,
}

/// A photo error the tenant answers for one user, in the shapes real Graph uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhotoFault {
    /// Every photo request: `UnknownError` whose message is JSON carrying
    /// `ErrorUserResolutionFailedUserDoesNotExist`, with this status (500 or 404).
    UnknownError(u16),
    /// Photo GETs: `404 ResourceNotFound`.
    ResourceNotFound,
    /// Odd-numbered PUTs (the 1st, 3rd, ...): `404 ErrorItemNotFound` (too many photo items).
    ItemNotFound,
    /// Photo GETs: `404 ImageNotFound` even after a write (not yet visible).
    ImageNotFound,
    /// Photo GETs: `404 ErrorEntityNotFound` (ImageNotFoundException), even after a write.
    EntityNotFound,
    /// Every photo request: `MailboxNotHostedInExchangeOnline` with this status (400 or 404).
    OnPremises(u16),
    /// Every photo request: `404 ErrorNonExistentMailbox`.
    NoMailbox,
    /// Every photo request: `400 AuthenticationError` (the older "no mailbox" answer).
    AuthenticationError,
    /// Photo `$value` GETs: `200` with an HTML page (`text/html`), as a login proxy would.
    Junk,
}

impl FromStr for PhotoFault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "unknown-error" | "unknown-error-500" => PhotoFault::UnknownError(500),
            "unknown-error-404" => PhotoFault::UnknownError(404),
            "resource-not-found" => PhotoFault::ResourceNotFound,
            "item-not-found" => PhotoFault::ItemNotFound,
            "image-not-found" => PhotoFault::ImageNotFound,
            "entity-not-found" => PhotoFault::EntityNotFound,
            "on-premises" | "on-premises-400" => PhotoFault::OnPremises(400),
            "on-premises-404" => PhotoFault::OnPremises(404),
            "no-mailbox" => PhotoFault::NoMailbox,
            "authentication-error" => PhotoFault::AuthenticationError,
            "junk" => PhotoFault::Junk,
            other => {
                return Err(format!(
                    "unknown photo error {other:?}: use unknown-error, unknown-error-404, \
                     resource-not-found, item-not-found, image-not-found, entity-not-found, \
                     on-premises, on-premises-404, no-mailbox, authentication-error or junk"
                ));
            }
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EmulatorUser {
    pub id: String,
    #[serde(rename = "userPrincipalName")]
    pub upn: String,
    pub mail: String,
    #[serde(rename = "employeeId")]
    pub employee_id: String,
    pub mailbox: Mailbox,
    #[serde(rename = "accountEnabled")]
    pub account_enabled: bool,
    /// `Member` or `Guest`.
    #[serde(rename = "userType")]
    pub user_type: String,
    pub photo_fault: Option<PhotoFault>,
}

/// Why a tenant CSV cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TenantCsvError {
    // Not `source`: the message says the cause already, and callers add context with
    // anyhow, whose chain would print it a second time.
    #[error("{path}: {cause}")]
    Csv {
        path: std::path::PathBuf,
        cause: csv::Error,
    },
    #[error("{0}: needs a userPrincipalName column")]
    NoUpnColumn(std::path::PathBuf),
    #[error("{path} row {row}: {reason}")]
    Row {
        path: std::path::PathBuf,
        row: usize,
        reason: String,
    },
}

impl EmulatorUser {
    /// Reads users from a CSV with columns `id,userPrincipalName,mail,employeeId,mailbox,
    /// accountEnabled,userType,photoError` (only `userPrincipalName` is required). Rows may
    /// share a `mail` or `employeeId`, as real tenants do.
    pub fn from_csv(path: &std::path::Path) -> Result<Vec<EmulatorUser>, TenantCsvError> {
        let csv_err = |cause| TenantCsvError::Csv {
            path: path.to_path_buf(),
            cause,
        };
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(true)
            .from_path(path)
            .map_err(csv_err)?;
        let headers = reader.headers().map_err(csv_err)?.clone();
        let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
        let upn_col =
            col("userPrincipalName").ok_or_else(|| TenantCsvError::NoUpnColumn(path.into()))?;
        let cols = [
            "id",
            "mail",
            "employeeId",
            "mailbox",
            "accountEnabled",
            "userType",
            "photoError",
        ]
        .map(col);
        let mut users = Vec::new();
        for (i, rec) in reader.records().enumerate() {
            let rec = rec.map_err(csv_err)?;
            let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or("").to_string();
            let upn = get(Some(upn_col));
            if upn.is_empty() {
                continue;
            }
            let [id, mail, employee_id, mailbox, enabled, user_type, fault] = cols.map(get);
            let row_err = |reason: String| TenantCsvError::Row {
                path: path.to_path_buf(),
                row: i + 2,
                reason,
            };
            users.push(EmulatorUser {
                id: if id.is_empty() { synthetic_id(i) } else { id },
                mail: if mail.is_empty() { upn.clone() } else { mail },
                employee_id,
                mailbox: match mailbox.to_ascii_lowercase().as_str() {
                    "none" | "no" => Mailbox::None,
                    "onprem" | "on-premises" | "onpremises" => Mailbox::OnPrem,
                    _ => Mailbox::Exchange,
                },
                account_enabled: !matches!(
                    enabled.to_ascii_lowercase().as_str(),
                    "false" | "no" | "0"
                ),
                user_type: match user_type.to_ascii_lowercase().as_str() {
                    "guest" => "Guest".into(),
                    "member" => "Member".into(),
                    "" if upn.contains("#EXT#") => "Guest".into(),
                    "" => "Member".into(),
                    other => {
                        return Err(row_err(format!("userType {other:?}: use Member or Guest")));
                    }
                },
                photo_fault: match fault.as_str() {
                    "" => None,
                    kind => Some(kind.parse().map_err(row_err)?),
                },
                upn,
            });
        }
        Ok(users)
    }

    /// `user00001@contoso.test` ... with employee ids 100001 ...
    pub fn generate(n: usize) -> Vec<EmulatorUser> {
        (1..=n)
            .map(|i| EmulatorUser {
                id: synthetic_id(i),
                upn: format!("user{i:05}@contoso.test"),
                mail: format!("user{i:05}@contoso.test"),
                employee_id: format!("{}", 100_000 + i),
                mailbox: Mailbox::Exchange,
                account_enabled: true,
                user_type: "Member".into(),
                photo_fault: None,
            })
            .collect()
    }
}

fn synthetic_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(
            &path,
            "userPrincipalName,employeeId,accountEnabled,userType,photoError\n\
             a@x,1,true,,\n\
             old.a@x,1,false,,unknown-error-404\n\
             jane_f.com#EXT#@x,,,,junk\n",
        )
        .unwrap();
        let users = EmulatorUser::from_csv(&path).unwrap();
        assert_eq!(users.len(), 3);
        assert_eq!(users[0].employee_id, users[1].employee_id);
        assert!(users[0].account_enabled && !users[1].account_enabled);
        assert_eq!(users[1].photo_fault, Some(PhotoFault::UnknownError(404)));
        assert_eq!(users[2].user_type, "Guest");
        assert_eq!(users[2].mail, "jane_f.com#EXT#@x");
        std::fs::write(&path, "userPrincipalName,photoError\na@x,bogus\n").unwrap();
        let err = EmulatorUser::from_csv(&path).unwrap_err().to_string();
        assert!(err.contains("row 2") && err.contains("bogus"), "{err}");
    }
}
