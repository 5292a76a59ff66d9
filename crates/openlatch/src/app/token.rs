//! Access tokens: HS256 JWTs naming a login session.

use super::{AppError, AppResult};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Access tokens live 15 minutes.
pub const ACCESS_TOKEN_SECS: i64 = 15 * 60;
/// Refreshing never carries a login past 12 hours.
pub const SESSION_SECS: i64 = 12 * 60 * 60;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Member id.
    pub sub: String,
    /// Session id; revoking the session revokes the token.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl TokenKeys {
    pub fn from_secret(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    pub fn issue(&self, claims: &Claims) -> AppResult<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| AppError::Internal(format!("signing token: {e}")))
    }

    /// Checks signature and expiry; the session is checked by the caller.
    pub fn decode(&self, token: &str) -> AppResult<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|_| AppError::Unauthenticated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "m".into(),
            sid: "s".into(),
            iat: 0,
            exp,
        }
    }

    #[test]
    fn round_trip_and_rejections() {
        let keys = TokenKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let now = chrono::Utc::now().timestamp();
        let t = keys.issue(&claims(now + 60)).expect("issue");
        assert_eq!(keys.decode(&t).expect("decode").sid, "s");

        let expired = keys.issue(&claims(now - 1)).expect("issue");
        assert!(keys.decode(&expired).is_err());

        let other = TokenKeys::from_secret(b"another secret another secret!!");
        assert!(other.decode(&t).is_err());
    }
}
