//! The client credentials grant (RFC 6749 §4.4) with Auth0's `audience`: an access token for an
//! API the client has a client grant for, with the granted scopes (or the requested subset).

use super::error::OAuthError;
use super::{Engine, TokenResponse};
use crate::domain::{Client, Scope};
use crate::tokens::AccessClaims;
use crate::tokens::jwt::Audience;
use crate::tokens::secrets::random_token;

pub(super) async fn issue(
    engine: &Engine,
    client: &Client,
    audience: Option<String>,
    scope: Option<String>,
) -> Result<TokenResponse, OAuthError> {
    if client.token_endpoint_auth_method == crate::domain::AuthMethod::None {
        return Err(OAuthError::unauthorized_client(
            "Public clients cannot use the client_credentials grant.",
        ));
    }
    let audience = audience
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: audience"))?;
    let api = engine
        .store
        .get_resource_server_by_identifier(&audience)
        .await?
        .ok_or_else(|| OAuthError::invalid_request(format!("Service not found: {audience}")))?;
    let grant = engine
        .store
        .find_client_grant(&client.client_id, &audience)
        .await?
        .ok_or_else(|| {
            OAuthError::unauthorized_client(format!(
                "Client \"{}\" is not authorized to access resource server \"{audience}\".",
                client.client_id
            ))
        })?;
    // A scope the API no longer defines is not granted, even if the client grant still lists it.
    let granted: Scope = grant
        .scope
        .iter()
        .filter(|s| api.has_scope(s))
        .cloned()
        .collect();
    let scope = match scope {
        None => granted,
        Some(requested) => {
            let requested = Scope::parse(&requested);
            let extra: Vec<&str> = requested.missing_from(&granted).collect();
            if !extra.is_empty() {
                return Err(OAuthError::invalid_scope(format!(
                    "Scope not granted to this client: {}",
                    extra.join(" ")
                )));
            }
            requested
        }
    };

    let now = engine.clock.now();
    let lifetime = api.token_lifetime;
    let scope_text = (!scope.is_empty()).then(|| scope.to_string());
    let claims = AccessClaims {
        iss: engine.minter.issuer().to_owned(),
        sub: format!("{}@clients", client.client_id),
        aud: Audience::One(api.identifier.clone()),
        iat: now,
        exp: now.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX)),
        scope: scope_text.clone(),
        gty: Some("client-credentials".into()),
        azp: client.client_id.clone(),
        jti: random_token(16),
    };
    let access_token = engine.minter.sign(api.signing_alg, claims, now).await?;
    Ok(TokenResponse {
        access_token,
        id_token: None,
        refresh_token: None,
        scope: scope_text,
        expires_in: lifetime,
        token_type: "Bearer",
    })
}
