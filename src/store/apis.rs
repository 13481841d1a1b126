//! Admin overrides of an API's lifecycle, and tenants' sealed provider credentials.

use super::rows::{self, lifecycle_str, ApiStateRow, CredentialRow};
use super::tenants::find_tenant;
use super::{now, Actor, Change, Result, Store, StoreError};
use crate::config::Lifecycle;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::json;

fn find_api_state(conn: &Connection, api: &str) -> Result<Option<ApiStateRow>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {} FROM api_states WHERE api = ?1",
                rows::API_STATE_COLS
            ),
            [api],
            rows::api_state,
        )
        .optional()?)
}

fn api_target(api: &str) -> String {
    format!("api:{api}")
}

fn credential_target(tenant: &str, provider: &str) -> String {
    format!("credential:{tenant}/{provider}")
}

impl Store {
    pub fn api_states(&self) -> Result<Vec<ApiStateRow>> {
        super::all(
            &self.conn,
            rows::API_STATE_COLS,
            "api_states",
            "api",
            rows::api_state,
        )
    }

    /// The override of `api`, if an admin set one.
    pub fn get_api_state(&self, api: &str) -> Result<Option<ApiStateRow>> {
        find_api_state(&self.conn, api)
    }

    /// Overrides the configured lifecycle of an API (a route name; the admin API checks it).
    pub fn set_api_state(
        &self,
        actor: &Actor,
        api: &str,
        state: Lifecycle,
        successor: Option<&str>,
        sunset: Option<i64>,
    ) -> Result<ApiStateRow> {
        if api.is_empty() {
            return Err(StoreError::Invalid("the api name is empty".into()));
        }
        self.mutate(actor, |tx| {
            let old = find_api_state(tx, api)?;
            tx.execute(
                "INSERT INTO api_states (api, state, successor, sunset, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (api) DO UPDATE SET state = excluded.state,
                   successor = excluded.successor, sunset = excluded.sunset,
                   updated_at = excluded.updated_at",
                params![api, lifecycle_str(state), successor, sunset, now()],
            )?;
            let row = find_api_state(tx, api)?
                .ok_or_else(|| StoreError::NotFound(format!("no state for api {api:?}")))?;
            let change = Change::new(
                "api.state.set",
                api_target(api),
                json!({
                    "from": old.map(|o| o.state),
                    "state": state, "successor": successor, "sunset": sunset,
                }),
            );
            Ok((row, Some(change)))
        })
    }

    /// Drops the override, so the configured state applies again. Clearing an API without an
    /// override changes nothing and writes nothing.
    pub fn clear_api_state(&self, actor: &Actor, api: &str) -> Result<()> {
        self.mutate(actor, |tx| {
            let Some(old) = find_api_state(tx, api)? else {
                return Ok(((), None));
            };
            tx.execute("DELETE FROM api_states WHERE api = ?1", [api])?;
            let change = Change::new(
                "api.state.clear",
                api_target(api),
                json!({"from": old.state}),
            );
            Ok(((), Some(change)))
        })
    }

    /// The providers a tenant has its own key for, with when each was set.
    pub fn list_credentials(&self, tenant: &str) -> Result<Vec<(String, i64)>> {
        find_tenant(&self.conn, tenant)?;
        let mut stmt = self.conn.prepare(
            "SELECT provider, created_at FROM tenant_credentials WHERE tenant = ?1
             ORDER BY provider",
        )?;
        let out = stmt
            .query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(out)
    }

    /// Stores (or replaces) a tenant's sealed key for a provider. The audit names the tenant
    /// and provider only.
    pub fn put_credential(
        &self,
        actor: &Actor,
        tenant: &str,
        provider: &str,
        sealed: &[u8],
    ) -> Result<CredentialRow> {
        if provider.is_empty() {
            return Err(StoreError::Invalid("the provider name is empty".into()));
        }
        self.mutate(actor, |tx| {
            find_tenant(tx, tenant)?;
            let at = now();
            let replaced = tx.execute(
                "UPDATE tenant_credentials SET sealed = ?3, created_at = ?4
                 WHERE tenant = ?1 AND provider = ?2",
                params![tenant, provider, sealed, at],
            )? > 0;
            if !replaced {
                tx.execute(
                    "INSERT INTO tenant_credentials (tenant, provider, sealed, created_at)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![tenant, provider, sealed, at],
                )?;
            }
            let row = CredentialRow {
                tenant: tenant.to_string(),
                provider: provider.to_string(),
                sealed: sealed.to_vec(),
                created_at: at,
            };
            let change = Change::new(
                "credential.put",
                credential_target(tenant, provider),
                json!({"tenant": tenant, "provider": provider, "replaced": replaced}),
            );
            Ok((row, Some(change)))
        })
    }

    pub fn delete_credential(&self, actor: &Actor, tenant: &str, provider: &str) -> Result<()> {
        self.mutate(actor, |tx| {
            find_tenant(tx, tenant)?;
            let n = tx.execute(
                "DELETE FROM tenant_credentials WHERE tenant = ?1 AND provider = ?2",
                [tenant, provider],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "tenant {tenant:?} has no credential for {provider:?}"
                )));
            }
            let change = Change::new(
                "credential.delete",
                credential_target(tenant, provider),
                json!({"tenant": tenant, "provider": provider}),
            );
            Ok(((), Some(change)))
        })
    }
}
