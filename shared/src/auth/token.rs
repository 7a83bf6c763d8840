//! Token verification and minting with the platform's shared HS256 secret.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::JwtSettings;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    pub sub: String,
    #[serde(default, alias = "tenant_id", skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Uuid>,
    pub iss: String,
    pub exp: u64,
    #[serde(default)]
    pub iat: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid")]
    Invalid,
}

#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl TokenVerifier {
    pub fn new(settings: &JwtSettings) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        TokenVerifier {
            key: DecodingKey::from_secret(settings.secret.expose_secret().as_bytes()),
            validation,
        }
    }

    /// Only HS256 with the configured secret and issuer passes; `alg: none`,
    /// other algorithms, bad signatures and expired tokens do not.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

#[derive(Clone)]
pub struct TokenIssuer {
    secret: SecretString,
    issuer: String,
}

impl TokenIssuer {
    pub fn new(settings: &JwtSettings) -> Self {
        TokenIssuer {
            secret: settings.secret.clone(),
            issuer: settings.issuer.clone(),
        }
    }

    pub fn mint(&self, subject: &str, tenant: Option<Uuid>, ttl: Duration) -> String {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let claims = Claims {
            sub: subject.to_owned(),
            tenant_id: tenant,
            iss: self.issuer.clone(),
            exp: now + ttl.as_secs(),
            iat: now,
            roles: Vec::new(),
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(self.secret.expose_secret().as_bytes()),
        )
        .expect("HS256 signing with an in-memory key cannot fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(secret: &str) -> JwtSettings {
        JwtSettings {
            secret: SecretString::from(secret.to_owned()),
            issuer: "coder".into(),
        }
    }

    #[test]
    fn a_minted_token_verifies_and_carries_the_tenant() {
        let s = settings("0123456789abcdef-secret");
        let tenant = Uuid::new_v4();
        let token = TokenIssuer::new(&s).mint("user-1", Some(tenant), Duration::from_secs(60));
        let claims = TokenVerifier::new(&s).verify(&token).unwrap();
        assert_eq!(claims.sub, "user-1");
        assert_eq!(claims.tenant_id, Some(tenant));
    }

    #[test]
    fn a_token_signed_with_another_secret_is_invalid() {
        let token = TokenIssuer::new(&settings("another-secret-0123456")).mint(
            "u",
            None,
            Duration::from_secs(60),
        );
        let result = TokenVerifier::new(&settings("0123456789abcdef-secret")).verify(&token);
        assert_eq!(result.unwrap_err(), TokenError::Invalid);
    }

    #[test]
    fn an_unsigned_alg_none_token_is_invalid() {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let encode = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let header = encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = encode(br#"{"sub":"u","iss":"coder","exp":99999999999}"#);
        let token = format!("{header}.{payload}.");
        let result = TokenVerifier::new(&settings("0123456789abcdef-secret")).verify(&token);
        assert_eq!(result.unwrap_err(), TokenError::Invalid);
    }

    #[test]
    fn an_expired_token_is_reported_as_expired() {
        let s = settings("0123456789abcdef-secret");
        let now = chrono::Utc::now().timestamp() as u64;
        let claims = Claims {
            sub: "u".into(),
            tenant_id: None,
            iss: "coder".into(),
            exp: now - 3600,
            iat: now - 7200,
            roles: vec![],
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef-secret"),
        )
        .unwrap();
        assert_eq!(
            TokenVerifier::new(&s).verify(&token).unwrap_err(),
            TokenError::Expired
        );
    }
}
