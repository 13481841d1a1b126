//! Authorization of the admin API, in one place: every (path, method) of `routes::ENDPOINTS`
//! declares an `Access` (who may call it, and where the tenant of the object comes from), and
//! `authorize` decides from that alone, before any handler runs. A tenant user is confined to
//! their own tenant whatever the path or a filter says: an object of another tenant is
//! "not found" (its existence is not confirmed), a path naming another tenant is forbidden,
//! and list filters (`?tenant=`) are forced to their tenant.

use super::error::AdminError;
use super::principal::Principal;
use super::routes::Resource;
use super::shared::Shared;
use crate::store::{Role, StoreError};
use std::sync::Arc;

/// Who may call one method of one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (only `POST /admin/login`).
    Public,
    /// Any signed-in principal: the caller's own account, the API's document.
    Anyone,
    /// Operators only: what is global (tenants, limits, plans, API states, approval, audit,
    /// prompts).
    Operator,
    /// Operators, and members of the object's tenant with at least `Need`.
    Tenant(Need, Owner),
}

/// The least tenant role an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A tenant developer or admin.
    Member,
    /// A tenant admin.
    Admin,
}

/// Where the tenant of the object comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The first path parameter is the tenant (`/admin/tenants/{tenant}/...`).
    Path,
    /// The first path parameter is an API key's public id; its tenant is looked up.
    Key,
    /// The first path parameter is a subscription id; its tenant is looked up.
    Subscription,
    /// The first path parameter is a user's name; their tenant is looked up (none for an
    /// operator, whom no tenant user reaches).
    User,
    /// A list with a `?tenant=` filter, forced to the caller's tenant (`confine`).
    Filter,
}

impl Access {
    /// Who may call, in the words of the OpenAPI document's `x-tollgate-access`.
    pub fn label(self) -> &'static str {
        match self {
            Public => "public",
            Anyone => "signed_in",
            Operator => "operator",
            Tenant(Member, _) => "tenant_member",
            Tenant(Admin, _) => "tenant_admin",
        }
    }
}

/// What `authorize` allows: everything, or one tenant's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    All,
    Tenant(String),
}

use Access::*;
use Need::*;
use Owner::*;

/// Shorthands for the route table.
pub const MEMBER_AT: Access = Tenant(Member, Path);
pub const ADMIN_AT: Access = Tenant(Admin, Path);

/// Decides whether `who` may make this call; for a tenant user, the grant names their tenant.
/// `params` are the path's parameters in order.
pub async fn authorize(
    shared: &Arc<Shared>,
    who: &Principal,
    access: Access,
    params: &[String],
) -> Result<Grant, AdminError> {
    let (owner, id, mine) = match decide(who, access, params)? {
        Step::Done(grant) => return Ok(grant),
        Step::Lookup { owner, id, mine } => (owner, id, mine),
    };
    match owner_of(shared, owner, id.clone()).await? {
        Some(t) if t == mine => Ok(Grant::Tenant(mine)),
        // Another tenant's object reads as a missing one.
        _ => Err(AdminError::NotFound(format!("no {} {id:?}", noun(owner)))),
    }
}

/// What `decide` found: the answer, or the object whose tenant must be looked up first.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Done(Grant),
    Lookup {
        owner: Owner,
        id: String,
        mine: String,
    },
}

/// `authorize` without the store: everything but the lookup of an object's tenant.
fn decide(who: &Principal, access: Access, params: &[String]) -> Result<Step, AdminError> {
    let (need, owner) = match access {
        Public | Anyone => return Ok(Step::Done(Grant::All)),
        Operator if who.role == Role::Operator => return Ok(Step::Done(Grant::All)),
        Operator => {
            return Err(AdminError::Forbidden(format!(
                "only operators may do this; your role is {}",
                who.role.as_str()
            )))
        }
        Tenant(need, owner) => (need, owner),
    };
    let mine = match (&who.role, &who.tenant) {
        (Role::Operator, _) => return Ok(Step::Done(Grant::All)),
        (_, Some(t)) => t.clone(),
        (_, None) => return Err(AdminError::Forbidden("you belong to no tenant".into())),
    };
    if need == Admin && who.role != Role::TenantAdmin {
        return Err(AdminError::Forbidden(
            "only tenant admins and operators may do this".into(),
        ));
    }
    let first = params.first().cloned().unwrap_or_default();
    match owner {
        Filter => Ok(Step::Done(Grant::Tenant(mine))),
        Path if first == mine => Ok(Step::Done(Grant::Tenant(mine))),
        Path => Err(AdminError::Forbidden(format!(
            "you belong to tenant {mine:?}, not {first:?}"
        ))),
        Key | Subscription | User => Ok(Step::Lookup {
            owner,
            id: first,
            mine,
        }),
    }
}

fn noun(owner: Owner) -> &'static str {
    match owner {
        Key => "key",
        Subscription => "subscription",
        _ => "user",
    }
}

/// The tenant of the object a path parameter names; `None` when there is none (or, for a
/// user, when it is an operator).
async fn owner_of(
    shared: &Arc<Shared>,
    owner: Owner,
    id: String,
) -> Result<Option<String>, AdminError> {
    let found = shared
        .store(move |s| {
            let out = match owner {
                Key => s.get_key(&id).map(|k| Some(k.tenant)),
                Subscription => match id.parse::<i64>() {
                    Ok(n) => s.get_subscription(n).map(|r| Some(r.tenant)),
                    Err(_) => Ok(None),
                },
                _ => s.get_user(&id).map(|u| u.tenant),
            };
            match out {
                Err(StoreError::NotFound(_)) => Ok(None),
                other => Ok(other?),
            }
        })
        .await?;
    Ok(found)
}

/// Confines a tenant user's list to their tenant: the `tenant` filter is set to it (another
/// tenant in it is refused), and the call store's resources take it as their scope.
pub fn confine(
    grant: &Grant,
    access: Access,
    target: Resource,
    query: &mut Vec<(String, String)>,
) -> Result<Resource, AdminError> {
    let Grant::Tenant(mine) = grant else {
        return Ok(target);
    };
    if access != Tenant(Member, Filter) && access != Tenant(Admin, Filter) {
        return Ok(target);
    }
    if let Some((_, asked)) = query
        .iter()
        .find(|(k, v)| k == "tenant" && !v.is_empty() && v != mine)
    {
        return Err(AdminError::Forbidden(format!(
            "you belong to tenant {mine:?}, not {asked:?}"
        )));
    }
    query.retain(|(k, _)| k != "tenant");
    query.push(("tenant".into(), mine.clone()));
    Ok(match target {
        Resource::Calls(None) => Resource::Calls(Some(mine.clone())),
        Resource::CallRecord(None, id) => Resource::CallRecord(Some(mine.clone()), id),
        Resource::Usage(None) => Resource::Usage(Some(mine.clone())),
        other => other,
    })
}

/// Whether a tenant admin may give a user this role and tenant: tenant roles in their own
/// tenant only, never an operator. `tenant` left out means theirs; returns the tenant to use.
pub fn member_of(
    grant: &Grant,
    role: Role,
    tenant: Option<String>,
) -> Result<Option<String>, AdminError> {
    let Grant::Tenant(mine) = grant else {
        return Ok(tenant);
    };
    if role == Role::Operator {
        return Err(AdminError::Forbidden(
            "only operators may make operators".into(),
        ));
    }
    match tenant {
        Some(t) if &t != mine => Err(AdminError::Forbidden(format!(
            "you belong to tenant {mine:?}, not {t:?}"
        ))),
        _ => Ok(Some(mine.clone())),
    }
}

#[cfg(test)]
mod tests;
