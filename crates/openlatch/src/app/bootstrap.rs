//! Start-up chores: the shared token secret and the first admin.

use super::members::{self, NewMember};
use super::token::TokenKeys;
use super::{App, AppError, AppResult};
use crate::config::Config;
use crate::domain::member::{Email, NewPassword, Role, Username};
use crate::domain::Validation;
use crate::storage::{members as member_rows, secrets, Db, StorageError};
use rand::RngCore;
use secrecy::ExposeSecret;

/// The token-signing secret: from configuration, else created once in the
/// database so that every instance signs and checks with the same key.
pub async fn token_keys(db: &Db, config: &Config) -> Result<TokenKeys, StorageError> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(TokenKeys::from_secret(secret.expose_secret().as_bytes()));
    }
    let mut candidate = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut candidate);
    let mut conn = db.read().await?;
    let stored = secrets::get_or_create(&mut conn, "jwt_hs256", &hex::encode(candidate)).await?;
    Ok(TokenKeys::from_secret(stored.as_bytes()))
}

pub async fn any_active_admin(app: &App) -> AppResult<bool> {
    let mut conn = app.db.read().await?;
    let admins = member_rows::list(&mut conn, Some(Role::Admin), Some(true)).await?;
    Ok(!admins.is_empty())
}

/// Creates an admin from raw input, for the CLI and the environment bootstrap.
pub async fn create_admin(
    app: &App,
    username: &str,
    password: &str,
    email: Option<&str>,
) -> AppResult<crate::domain::member::Member> {
    let default_email = format!("{username}@openlatch.invalid");
    let mut v = Validation::default();
    let username_ok = v.field("username", Username::parse(username));
    let email_ok = v.field("email", Email::parse(email.unwrap_or(&default_email)));
    let password_ok = v.field("password", NewPassword::parse(password));
    let (Some(username), Some(email), Some(password)) = (username_ok, email_ok, password_ok) else {
        return Err(AppError::Validation(v.into_errors()));
    };
    members::create(
        app,
        None,
        NewMember {
            username,
            email,
            display_name: None,
            role: Role::Admin,
            password: Some(password),
        },
    )
    .await
}

/// At start: create the configured admin if there is no admin yet, or say how to.
pub async fn first_admin(app: &App) -> AppResult<()> {
    if any_active_admin(app).await? {
        return Ok(());
    }
    match (&app.config.admin_username, &app.config.admin_password) {
        (Some(user), Some(pass)) => {
            let m = create_admin(
                app,
                user,
                pass.expose_secret(),
                app.config.admin_email.as_deref(),
            )
            .await?;
            tracing::info!(username = %m.username, "created the first admin from OPENLATCH_ADMIN_USERNAME");
        }
        _ => tracing::warn!(
            "no admin exists yet: set OPENLATCH_ADMIN_USERNAME and OPENLATCH_ADMIN_PASSWORD \
             and restart, or run `openlatch admin create --username NAME` (password on stdin)"
        ),
    }
    Ok(())
}
