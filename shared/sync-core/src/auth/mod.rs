//! Platform JWTs (HS256): verifying callers and minting tokens for service
//! calls and developers.

mod token;

pub use token::{
    Caller, SERVICE_TOKEN_TTL, SERVICE_USER_ID, TokenError, TokenIssuer, TokenVerifier,
};
