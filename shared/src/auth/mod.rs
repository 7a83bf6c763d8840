//! Platform JWTs (HS256): verifying callers and minting tokens for service
//! calls and developers.

mod token;

pub use token::{Claims, TokenError, TokenIssuer, TokenVerifier};
