//! Tokens a client should never get through: expired, forged, unsigned.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::ExposeSecret;
use sync_core::{auth::Claims, config::JwtSettings};
use uuid::Uuid;

fn claims(settings: &JwtSettings, tenant: Uuid, exp_offset: i64) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: "attacker".into(),
        tenant_id: Some(tenant),
        iss: settings.issuer.clone(),
        exp: (now + exp_offset) as u64,
        iat: (now - 60) as u64,
        roles: vec![],
    }
}

pub fn expired(settings: &JwtSettings, tenant: Uuid) -> String {
    let key = EncodingKey::from_secret(settings.secret.expose_secret().as_bytes());
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(settings, tenant, -600),
        &key,
    )
    .unwrap()
}

pub fn signed_with_another_secret(settings: &JwtSettings, tenant: Uuid) -> String {
    let key = EncodingKey::from_secret(b"not-the-platform-secret-at-all");
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(settings, tenant, 600),
        &key,
    )
    .unwrap()
}

pub fn from_another_issuer(settings: &JwtSettings, tenant: Uuid) -> String {
    let key = EncodingKey::from_secret(settings.secret.expose_secret().as_bytes());
    let mut claims = claims(settings, tenant, 600);
    claims.iss = "someone-else".into();
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
}

/// `alg: none`, no signature: the classic forgery.
pub fn unsigned(settings: &JwtSettings, tenant: Uuid) -> String {
    let header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = base64url(
        serde_json::to_string(&claims(settings, tenant, 600))
            .unwrap()
            .as_bytes(),
    );
    format!("{header}.{payload}.")
}

pub fn valid_for(app: &crate::TestApp, tenant: Uuid) -> String {
    app.tokens
        .mint("test-user", Some(tenant), Duration::from_secs(600))
}

fn base64url(input: &[u8]) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    URL_SAFE_NO_PAD.encode(input)
}
