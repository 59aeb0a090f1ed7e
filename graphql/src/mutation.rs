//! The mutation root: Sign-In with Ethereum. `signInChallenge` stores a single-use nonce and
//! `signIn` exchanges a signed EIP-4361 message for a bearer token, after the checks
//! [`crate::auth`] lists (the nonce is consumed last, here).
//!
//! Kept apart from [`crate::auth`] because these resolvers need the shared state
//! ([`crate::state::AppState`]), and the state holds the auth configuration: in one module, auth
//! and state would import each other.

use async_graphql::{Context, Object, SimpleObject};
use sqlx::PgPool;

use crate::auth::{SiweError, SiweMessage, now_secs, random_bytes, verify_signature};
use crate::error::{DbResult, bad_input, unauthenticated};
use crate::scalars::{self, DateTime};
use crate::state::{AppState, ClientIp};

/// Consumes `nonce` (single use).
async fn consume_nonce(pool: &PgPool, nonce: &str) -> async_graphql::Result<Result<(), SiweError>> {
    let used: Option<String> = sqlx::query_scalar(
        "UPDATE siwe_nonces SET used_at = now() WHERE nonce = $1 AND used_at IS NULL AND expires_at > now()
         RETURNING nonce",
    )
    .bind(nonce)
    .fetch_optional(pool)
    .await
    .db()?;
    if used.is_some() {
        return Ok(Ok(()));
    }
    let was_used: Option<bool> = sqlx::query_scalar("SELECT used_at IS NOT NULL FROM siwe_nonces WHERE nonce = $1")
        .bind(nonce)
        .fetch_optional(pool)
        .await
        .db()?;
    Ok(Err(if was_used == Some(true) { SiweError::NonceUsed } else { SiweError::NonceUnknown }))
}

/// What to put in the EIP-4361 message.
#[derive(SimpleObject)]
pub struct SignInChallenge {
    /// Single use; valid until `expiresAt`.
    pub nonce: String,
    /// The `domain` the message must name.
    pub domain: String,
    /// The `Chain ID` the message must name (null: any).
    pub chain_id: Option<i64>,
    pub expires_at: DateTime,
}

/// A bearer token for `Authorization: Bearer <token>` (HTTP) or the `authorization` field of the
/// websocket `connection_init` payload.
#[derive(SimpleObject)]
pub struct Session {
    pub token: String,
    pub address: scalars::Address,
    pub expires_at: DateTime,
}

pub struct MutationRoot;

#[Object]
impl MutationRoot {
    /// A fresh nonce for a Sign-In with Ethereum message.
    async fn sign_in_challenge(&self, ctx: &Context<'_>) -> async_graphql::Result<SignInChallenge> {
        let state = ctx.data::<AppState>()?;
        // Every challenge is a row; aliases can ask for hundreds in one request.
        if let Ok(ClientIp(ip)) = ctx.data::<ClientIp>()
            && !state.challenge_limiter.allow(*ip)
        {
            state.metrics.rate_limited.increment(1);
            return Err(crate::error::rate_limited("too many sign-in challenges from this address; retry shortly"));
        }
        let auth = &state.auth;
        let nonce = alloy::hex::encode(random_bytes::<16>()?);
        let ttl = auth.nonce_ttl.as_secs() as i64;
        // Expired nonces are garbage: drop them whenever new ones are made (indexed by expiry).
        sqlx::query("DELETE FROM siwe_nonces WHERE expires_at < now() - interval '1 hour'")
            .execute(&state.pool)
            .await
            .db()?;
        let expires: i64 = sqlx::query_scalar(
            "INSERT INTO siwe_nonces (nonce, expires_at) VALUES ($1, now() + make_interval(secs => $2))
             RETURNING extract(epoch FROM expires_at)::bigint",
        )
        .bind(&nonce)
        .bind(ttl as f64)
        .fetch_one(&state.pool)
        .await
        .db()?;
        Ok(SignInChallenge {
            nonce,
            domain: auth.domain.clone(),
            chain_id: auth.chain_id.map(|c| c as i64),
            expires_at: DateTime::from_secs(expires),
        })
    }

    /// Exchanges a signed EIP-4361 message for a bearer token.
    async fn sign_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The EIP-4361 message exactly as signed.")] message: String,
        #[graphql(desc = "0x-hex signature (65 bytes for an EOA; any bytes an EIP-1271 account accepts).")]
        signature: String,
    ) -> async_graphql::Result<Session> {
        let state = ctx.data::<AppState>()?;
        let refuse = |e: SiweError| unauthenticated(format!("sign-in refused: {e}"));
        let parsed = SiweMessage::parse(&message).map_err(refuse)?;
        let now = now_secs() as i64;
        parsed.check(&state.auth, now).map_err(refuse)?;
        let sig = signature
            .strip_prefix("0x")
            .and_then(|h| alloy::hex::decode(h).ok())
            .ok_or_else(|| bad_input("`signature` must be 0x-prefixed hex"))?;
        verify_signature(state.provider.as_ref(), parsed.address, &message, &sig).await.map_err(refuse)?;
        consume_nonce(&state.pool, &parsed.nonce).await?.map_err(refuse)?;
        let mut expires = now as u64 + state.auth.token_ttl.as_secs();
        if let Some(t) = parsed.expiration_time {
            expires = expires.min(t.max(0) as u64);
        }
        Ok(Session {
            token: state.auth.issue(parsed.address, expires),
            address: scalars::Address(parsed.address),
            expires_at: DateTime::from_secs(expires as i64),
        })
    }
}
