//! Which tokens the API accepts: the platform's own, by the same rules as its
//! middleware, and nothing forged, expired or meant for another tenant.

use super::*;
use secrecy::SecretString;

fn settings(secret: &str) -> JwtSettings {
    JwtSettings {
        secret: SecretString::from(secret.to_owned()),
        issuer: None,
        audience: None,
    }
}

const SECRET: &str = "0123456789abcdef-secret";

fn signed(claims: Value) -> String {
    TokenIssuer::new(&settings(SECRET)).sign(claims, Duration::from_secs(60))
}

fn verify(token: &str) -> Result<Caller, TokenError> {
    TokenVerifier::new(&settings(SECRET)).verify(token)
}

#[test]
fn the_auth_services_user_token_is_accepted() {
    let tenant = Uuid::new_v4();
    // SessionService.ts: no sub, no type, no iss.
    let token = signed(json!({
        "userId": "9b2f1c3e-7a4d-4e5f-8a6b-1c2d3e4f5a6b", "tenantId": tenant, "roleId": "r",
        "isSuperAdmin": false, "sessionId": "s-1", "secretId": "k-1"
    }));
    let caller = verify(&token).unwrap();
    assert_eq!(caller.tenant_id, tenant);
    assert_eq!(caller.user_id, "9b2f1c3e-7a4d-4e5f-8a6b-1c2d3e4f5a6b");
}

#[test]
fn access_tokens_with_sub_and_extra_claims_are_accepted() {
    let tenant = Uuid::new_v4();
    let token = signed(json!({
        "sub": "u-1", "tenantId": tenant, "tenant_id": tenant, "type": "access",
        "iss": "coder", "email": "a@b.c", "permissions": ["x"]
    }));
    assert_eq!(verify(&token).unwrap().user_id, "u-1");
}

#[test]
fn a_refresh_token_is_refused_naming_its_type() {
    let token = signed(json!({"userId": "u", "tenantId": Uuid::new_v4(), "type": "refresh"}));
    let error = verify(&token).unwrap_err();
    assert!(
        matches!(error, TokenError::Claim { claim: "type", .. }),
        "{error}"
    );
    assert!(error.to_string().contains("refresh"), "{error}");
}

#[test]
fn tenant_claims_that_disagree_or_are_missing_are_named() {
    let disagreeing = signed(json!({
        "userId": "u", "tenantId": Uuid::new_v4(), "tenant_id": Uuid::new_v4()
    }));
    let error = verify(&disagreeing).unwrap_err().to_string();
    assert!(
        error.contains("tenantId") && error.contains("tenant_id"),
        "{error}"
    );
    let missing = signed(json!({"userId": "u"}));
    assert!(
        verify(&missing)
            .unwrap_err()
            .to_string()
            .contains("tenantId")
    );
    let only_alias = signed(json!({"userId": "u", "tenant_id": Uuid::new_v4()}));
    assert!(verify(&only_alias).is_ok());
    let not_uuid = signed(json!({"userId": "u", "tenantId": "acme"}));
    assert!(verify(&not_uuid).unwrap_err().to_string().contains("acme"));
}

#[test]
fn a_token_without_a_user_is_refused() {
    let token = signed(json!({"tenantId": Uuid::new_v4()}));
    assert!(matches!(
        verify(&token).unwrap_err(),
        TokenError::Claim {
            claim: "userId",
            ..
        }
    ));
}

#[test]
fn issuer_and_audience_are_checked_only_when_configured() {
    let tenant = Uuid::new_v4();
    let strict = JwtSettings {
        issuer: Some("coder".into()),
        audience: Some("platform".into()),
        ..settings(SECRET)
    };
    let plain = signed(json!({"userId": "u", "tenantId": tenant, "aud": "someone"}));
    assert!(
        verify(&plain).is_ok(),
        "no audience configured: any aud passes"
    );
    let error = TokenVerifier::new(&strict).verify(&plain).unwrap_err();
    assert!(matches!(error, TokenError::Claim { .. }), "{error}");
    let minted = TokenIssuer::new(&strict).user_token("u", Some(tenant), Duration::from_secs(60));
    assert!(TokenVerifier::new(&strict).verify(&minted).is_ok());
}

#[test]
fn service_tokens_pass_the_platforms_middleware_rules() {
    let tenant = Uuid::new_v4();
    let token = TokenIssuer::new(&settings(SECRET)).service_token(tenant);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Map<String, Value>>(
        &token,
        &DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .unwrap()
    .claims;
    // authenticateRequest: type 'access', a user id, a tenant.
    assert_eq!(claims["type"], "access");
    assert_eq!(claims["tenantId"], tenant.to_string());
    assert_eq!(claims["userId"], SERVICE_USER_ID.to_string());
    assert_eq!(claims["serviceName"], "integration-sync");
    assert_eq!(verify(&token).unwrap().tenant_id, tenant);
}

#[test]
fn a_token_signed_with_another_secret_is_refused() {
    let token = TokenIssuer::new(&settings("another-secret-0123456")).user_token(
        "u",
        Some(Uuid::new_v4()),
        Duration::from_secs(60),
    );
    assert_eq!(verify(&token).unwrap_err(), TokenError::BadSignature);
}

#[test]
fn an_unsigned_alg_none_token_is_refused() {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let encode = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let header = encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = encode(
        format!(
            r#"{{"userId":"u","tenantId":"{}","exp":99999999999}}"#,
            Uuid::new_v4()
        )
        .as_bytes(),
    );
    let token = format!("{header}.{payload}.");
    assert!(matches!(
        verify(&token).unwrap_err(),
        TokenError::Malformed(_)
    ));
}

#[test]
fn an_expired_token_is_reported_as_expired() {
    let token = TokenIssuer::new(&settings(SECRET)).sign(
        json!({"userId": "u", "tenantId": Uuid::new_v4()}),
        Duration::ZERO,
    );
    let mut claims: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    claims["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
    let expired = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(verify(&expired).unwrap_err(), TokenError::Expired);
}

#[test]
fn a_token_that_never_expires_is_refused() {
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"userId": "u", "tenantId": Uuid::new_v4()}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert!(matches!(
        verify(&token).unwrap_err(),
        TokenError::Claim { claim: "exp", .. }
    ));
}
