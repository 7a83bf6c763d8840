//! Token verification and minting with the platform's shared HS256 secret.
//!
//! Incoming user tokens are the auth service's (castiel2
//! `containers/auth/src/services/SessionService.ts`): `{userId, tenantId,
//! roleId, isSuperAdmin, sessionId, secretId}`, no `sub`, no `type`; the
//! shared middleware (`containers/shared/src/middleware/auth.ts`) also knows
//! `sub`/`id` for the user and `type: 'access'`. So: the user is `userId`,
//! `sub` or `id`; a `type` other than `access` is refused (a refresh token is
//! not a key to the API); `iss` and `aud` are checked only when configured;
//! claims this service does not know, and two spellings of one claim that
//! agree, are fine. Every refusal names the claim at fault.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::config::JwtSettings;

/// How long a service token minted for a call to a neighbour lives.
pub const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(300);
/// The user id this service acts as towards its neighbours: a fixed uuid, as
/// the platform's user ids are uuids (and its event rule wants them so).
pub const SERVICE_USER_ID: Uuid = Uuid::from_u128(0x8c1e_3b0e_5e4a_5f2d_a1c3_9b7e_0d4f_6a21);
const SERVICE_NAME: &str = "integration-sync";

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub tenant_id: Uuid,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token's signature does not verify with the platform's secret")]
    BadSignature,
    #[error("the token is not an HS256 JWT: {0}")]
    Malformed(String),
    #[error("claim `{claim}`: {problem}")]
    Claim {
        claim: &'static str,
        problem: String,
    },
}

fn claim(claim: &'static str, problem: impl Into<String>) -> TokenError {
    TokenError::Claim {
        claim,
        problem: problem.into(),
    }
}

#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl TokenVerifier {
    pub fn new(settings: &JwtSettings) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        let mut required = vec!["exp"];
        validation.leeway = 5;
        match &settings.issuer {
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &settings.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        TokenVerifier {
            key: DecodingKey::from_secret(settings.secret.expose_secret().as_bytes()),
            validation,
        }
    }

    /// Only HS256 with the platform's secret passes; `alg: none`, other
    /// algorithms, bad signatures and expired tokens do not.
    pub fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidIssuer => claim("iss", "not the configured issuer"),
                ErrorKind::InvalidAudience => claim("aud", "not the configured audience"),
                ErrorKind::MissingRequiredClaim(name) if name == "exp" => {
                    claim("exp", "missing: tokens must expire")
                }
                ErrorKind::MissingRequiredClaim(name) if name == "iss" => {
                    claim("iss", "missing, and an issuer is configured")
                }
                ErrorKind::MissingRequiredClaim(name) if name == "aud" => {
                    claim("aud", "missing, and an audience is configured")
                }
                _ => TokenError::Malformed(e.to_string()),
            })?
            .claims;
        caller(&claims)
    }
}

/// The caller a verified token's claims describe.
fn caller(claims: &Map<String, Value>) -> Result<Caller, TokenError> {
    match claims.get("type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == "access" => {}
        Some(other) => {
            return Err(claim(
                "type",
                format!("{other} tokens are not accepted; only access tokens are"),
            ));
        }
    }
    let user_id = ["userId", "sub", "id"]
        .iter()
        .find_map(|k| claims.get(*k).and_then(Value::as_str))
        .filter(|u| !u.is_empty())
        .ok_or_else(|| claim("userId", "missing (and no `sub`)"))?
        .to_owned();
    let tenant = |name: &'static str| -> Result<Option<Uuid>, TokenError> {
        match claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(t)) => Uuid::parse_str(t.trim())
                .map(Some)
                .map_err(|_| claim(name, format!("`{t}` is not a uuid"))),
            Some(other) => Err(claim(name, format!("{other} is not a uuid"))),
        }
    };
    let tenant_id = match (tenant("tenantId")?, tenant("tenant_id")?) {
        (Some(a), Some(b)) if a != b => {
            return Err(claim(
                "tenantId",
                format!("disagrees with `tenant_id` ({a} vs {b})"),
            ));
        }
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) => return Err(claim("tenantId", "missing: the token names no tenant")),
    };
    Ok(Caller { user_id, tenant_id })
}

/// Mints tokens: service tokens for calls to the platform's neighbours, and
/// user tokens shaped as the auth service signs them (for developers and tests).
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
}

impl TokenIssuer {
    pub fn new(settings: &JwtSettings) -> Self {
        TokenIssuer {
            key: EncodingKey::from_secret(settings.secret.expose_secret().as_bytes()),
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
        }
    }

    /// A token this service sends to a neighbour for `tenant`: it passes the
    /// platform's `authenticateRequest` (`type: 'access'`, a user id, the
    /// tenant) and carries `serviceId`/`serviceName` as `generateServiceToken`
    /// does (`containers/shared/src/auth/serviceAuth.ts`).
    pub fn service_token(&self, tenant: Uuid) -> String {
        self.sign(
            json!({
                "type": "access",
                "userId": SERVICE_USER_ID,
                "sub": SERVICE_USER_ID,
                "tenantId": tenant,
                "serviceId": SERVICE_NAME,
                "serviceName": SERVICE_NAME,
            }),
            SERVICE_TOKEN_TTL,
        )
    }

    /// A user token as the auth service signs it (`{userId, tenantId,
    /// sessionId, …}`, no `sub`, no `type`), for `token` and tests.
    pub fn user_token(&self, user: &str, tenant: Option<Uuid>, ttl: Duration) -> String {
        let mut claims = json!({
            "userId": user,
            "roleId": "user",
            "isSuperAdmin": false,
            "sessionId": Uuid::new_v4(),
            "secretId": "default",
        });
        if let Some(tenant) = tenant {
            claims["tenantId"] = json!(tenant);
        }
        self.sign(claims, ttl)
    }

    /// Signs `claims` with `iat`, `exp` and the configured `iss`/`aud` added.
    pub fn sign(&self, mut claims: Value, ttl: Duration) -> String {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        claims["iat"] = json!(now);
        claims["exp"] = json!(now + ttl.as_secs());
        if let Some(issuer) = &self.issuer {
            claims["iss"] = json!(issuer);
        }
        if let Some(audience) = &self.audience {
            claims["aud"] = json!(audience);
        }
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .expect("HS256 signing with an in-memory key cannot fail")
    }
}

#[cfg(test)]
mod tests;
