//! Who a token is: its identity, role and groups, for a client to say whom it acts as
//! (the console's title) before it does anything.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Need;
use super::problem::{Problem, ReadRefusals};
use super::{Api, Authed, require};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Whoami {
    /// The identity the token acts as.
    pub identity: String,
    /// `viewer`, `operator`, `approver` or `admin`.
    pub role: String,
    /// The token's name (never its value).
    pub token: String,
    /// The groups the server's configuration puts the identity in.
    pub groups: Vec<String>,
}

/// The caller, as the server knows it.
#[utoipa::path(get, path = "/api/v1/whoami", operation_id = "whoami", security(("bearer" = [])),
    responses((status = 200, body = Whoami), ReadRefusals))]
pub async fn whoami(
    State(api): State<Api>,
    Authed(caller): Authed,
) -> Result<Json<Whoami>, Problem> {
    require(&caller, Need::Read)?;
    Ok(Json(Whoami {
        identity: caller.identity.to_string(),
        role: caller.role.name().to_owned(),
        token: caller.token.clone(),
        groups: api.groups_of(&caller.identity),
    }))
}
