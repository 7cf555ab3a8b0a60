//! [`TenantGraph`] on the crate's one Graph client: every tenant command sends through
//! [`GraphClient::send`], so sign-in, rate limiting, retries and throttling are upload's.

use std::sync::Arc;

use reqwest::Method;

use super::graph::{Done, GraphFailure, GraphResult, TenantGraph, TenantUser};
use crate::graph::{GraphClient, GraphError, GraphResponse, UserKey, segment};

/// The shared client plus how many requests the tenant runners keep in flight.
#[derive(Debug, Clone)]
pub struct GraphTenant {
    pub client: Arc<GraphClient>,
    pub concurrency: usize,
}

impl GraphTenant {
    pub fn new(client: Arc<GraphClient>, concurrency: usize) -> GraphTenant {
        GraphTenant {
            client,
            concurrency: concurrency.max(1),
        }
    }

    fn photo_url(&self, user: &str) -> String {
        self.client
            .url("v1.0", &format!("users/{}/photo/$value", segment(user)))
    }

    /// `path` is `version/rest`, as in [`super::lock::SETTINGS_PATH`].
    fn url(&self, path: &str) -> String {
        let (version, rest) = path.split_once('/').unwrap_or(("v1.0", path));
        self.client.url(version, rest)
    }
}

/// Photo calls keep the client's hint (it names ProfilePhoto.ReadWrite.All); settings
/// calls do not, because their permission is a different one (see `lock`).
fn failure(e: GraphError, with_hint: bool) -> GraphFailure {
    GraphFailure {
        http_status: e.status,
        message: if with_hint { e.detail() } else { e.message },
        code: e.code,
        attempts: e.attempts,
    }
}

fn done<T>(r: &GraphResponse, value: T) -> Done<T> {
    Done {
        value,
        attempts: r.attempts,
    }
}

fn json_of(r: &GraphResponse) -> GraphResult<serde_json::Value> {
    if r.body.is_empty() {
        return Ok(done(r, serde_json::Value::Null));
    }
    serde_json::from_slice(&r.body)
        .map(|v| done(r, v))
        .map_err(|e| GraphFailure {
            http_status: Some(r.status),
            code: None,
            message: format!("unexpected answer from Graph: {e}"),
            attempts: r.attempts,
        })
}

impl TenantGraph for GraphTenant {
    async fn get_photo(&self, user: &str) -> GraphResult<Vec<u8>> {
        let r = self
            .client
            .send(Method::GET, &self.photo_url(user), None)
            .await
            .map_err(|e| failure(e, true))?;
        let attempts = r.attempts;
        Ok(Done {
            value: r.body,
            attempts,
        })
    }

    async fn put_photo(&self, user: &str, bytes: Vec<u8>) -> GraphResult<()> {
        let ctype = if bytes.starts_with(b"\x89PNG") {
            "image/png"
        } else {
            "image/jpeg"
        };
        let r = self
            .client
            .send(Method::PUT, &self.photo_url(user), Some((bytes, ctype)))
            .await
            .map_err(|e| failure(e, true))?;
        Ok(done(&r, ()))
    }

    async fn delete_photo(&self, user: &str) -> GraphResult<()> {
        let r = self
            .client
            .send(Method::DELETE, &self.photo_url(user), None)
            .await
            .map_err(|e| failure(e, true))?;
        Ok(done(&r, ()))
    }

    async fn get_json(&self, path: &str) -> GraphResult<serde_json::Value> {
        let r = self
            .client
            .send(Method::GET, &self.url(path), None)
            .await
            .map_err(|e| failure(e, false))?;
        json_of(&r)
    }

    async fn patch_json(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> GraphResult<serde_json::Value> {
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let r = self
            .client
            .send(
                Method::PATCH,
                &self.url(path),
                Some((bytes, "application/json")),
            )
            .await
            .map_err(|e| failure(e, false))?;
        json_of(&r)
    }

    async fn resolve_users(
        &self,
        refs: &[String],
        column: &str,
    ) -> Result<Vec<Option<TenantUser>>, GraphFailure> {
        let key = UserKey::from_column(column);
        let mut values: Vec<String> = refs.iter().map(|r| r.trim().to_string()).collect();
        values.sort_by_key(|v| v.to_lowercase());
        values.dedup_by_key(|v| v.to_lowercase());
        let found = self
            .client
            .resolve_users(key, &values)
            .await
            .map_err(|e| failure(e, true))?;
        Ok(refs
            .iter()
            .map(|r| {
                found.get(&r.trim().to_lowercase()).map(|u| TenantUser {
                    id: u.id.clone(),
                    upn: u.upn.clone().unwrap_or_default(),
                })
            })
            .collect())
    }

    async fn list_users(&self) -> Result<Vec<TenantUser>, GraphFailure> {
        let url = format!(
            "{}?$select=id,userPrincipalName&$top=999",
            self.client.url("v1.0", "users")
        );
        let users = self
            .client
            .get_list(&url)
            .await
            .map_err(|e| failure(e, true))?;
        Ok(users
            .into_iter()
            .map(|u| TenantUser {
                upn: u.upn.unwrap_or_default(),
                id: u.id,
            })
            .collect())
    }

    fn concurrency(&self) -> usize {
        self.concurrency
    }
}
