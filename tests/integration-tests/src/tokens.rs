//! Tokens as the platform's auth service signs them
//! (castiel2 `containers/auth/src/services/SessionService.ts`), and tokens a
//! client should never get through: expired, forged, unsigned, refresh.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sync_core::{auth::TokenIssuer, config::JwtSettings};
use uuid::Uuid;

/// The claims of an access token from `createSession`: no `sub`, no `type`, no `iss`.
pub fn session_claims(tenant: Uuid) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "userId": Uuid::new_v4(),
        "tenantId": tenant,
        "roleId": "role-admin",
        "isSuperAdmin": false,
        "sessionId": Uuid::new_v4(),
        "secretId": "secret-1",
        "iat": now - 60,
        "exp": now + 900,
    })
}

/// `claims` signed with the platform's secret, as `@fastify/jwt` does (HS256).
pub fn signed(settings: &JwtSettings, claims: &Value) -> String {
    let key = EncodingKey::from_secret(settings.secret.expose_secret().as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
}

/// An access token exactly as the auth service issues it.
pub fn platform_session(settings: &JwtSettings, tenant: Uuid) -> String {
    signed(settings, &session_claims(tenant))
}

/// The refresh token `createSession` issues beside the access token.
pub fn refresh_token(settings: &JwtSettings, tenant: Uuid) -> String {
    let mut claims = session_claims(tenant);
    claims["type"] = json!("refresh");
    signed(settings, &claims)
}

pub fn expired(settings: &JwtSettings, tenant: Uuid) -> String {
    let mut claims = session_claims(tenant);
    let now = chrono::Utc::now().timestamp();
    claims["iat"] = json!(now - 1200);
    claims["exp"] = json!(now - 600);
    signed(settings, &claims)
}

pub fn signed_with_another_secret(_settings: &JwtSettings, tenant: Uuid) -> String {
    let key = EncodingKey::from_secret(b"not-the-platform-secret-at-all");
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &session_claims(tenant),
        &key,
    )
    .unwrap()
}

/// `alg: none`, no signature: the classic forgery.
pub fn unsigned(_settings: &JwtSettings, tenant: Uuid) -> String {
    let header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = base64url(session_claims(tenant).to_string().as_bytes());
    format!("{header}.{payload}.")
}

pub fn valid_for(app: &crate::TestApp, tenant: Uuid) -> String {
    app.token_for(tenant)
}

/// A user token without a tenant (a session created before tenant choice).
pub fn without_tenant(settings: &JwtSettings) -> String {
    TokenIssuer::new(settings).user_token("u", None, Duration::from_secs(60))
}

fn base64url(input: &[u8]) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    URL_SAFE_NO_PAD.encode(input)
}
