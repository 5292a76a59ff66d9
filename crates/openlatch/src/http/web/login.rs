//! Logging in and out. The login form needs no JavaScript; its fields are
//! `username` and `password`. A login goes through the API's limiter and
//! failure audit, and always opens a new session with a new cookie value.

use super::error::WebError;
use super::layout::page;
use super::session::{self, Https, MaybeWebUser, WebUser};
use crate::app::{web_session, App, AppError};
use crate::http::extract::ClientAddr;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};

fn login_page(username: &str, error: Option<&str>) -> Markup {
    page(
        None,
        "",
        "Log in",
        html! {
            section.login {
                h1 { "Log in" }
                @if let Some(e) = error {
                    p.error-text role="alert" { (e) }
                }
                form method="post" action="/login" {
                    div.field {
                        label for="username" { "Username" }
                        input id="username" name="username" type="text" value=(username)
                            autocomplete="username" autocapitalize="none" required autofocus;
                    }
                    div.field {
                        label for="password" { "Password" }
                        input id="password" name="password" type="password"
                            autocomplete="current-password" required;
                    }
                    button type="submit" { "Log in" }
                }
            }
        },
    )
}

pub async fn form(MaybeWebUser(who): MaybeWebUser) -> Response {
    if who.is_some() {
        return Redirect::to("/").into_response();
    }
    login_page("", None).into_response()
}

/// The login form carries no CSRF token (there is no session yet); the
/// cross-origin layer refuses forged posts, and a login only ever opens a
/// fresh session.
pub async fn submit(
    State(app): State<App>,
    ClientAddr(client): ClientAddr,
    Https(https): Https,
    body: Bytes,
) -> Result<Response, WebError> {
    let mut username = String::new();
    let mut password = String::new();
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "username" => username = v.into_owned(),
            "password" => password = v.into_owned(),
            _ => {}
        }
    }
    match web_session::login(&app, &username, &password, client).await {
        Ok(s) => Ok((
            StatusCode::SEE_OTHER,
            [
                (
                    header::LOCATION,
                    "/".parse()
                        .map_err(|_| AppError::Internal("location".into()))?,
                ),
                (
                    header::SET_COOKIE,
                    session::set_cookie(s.cookie_value(), https),
                ),
            ],
        )
            .into_response()),
        Err(AppError::InvalidCredentials) => Ok((
            StatusCode::UNAUTHORIZED,
            login_page(&username, Some("Wrong username or password.")),
        )
            .into_response()),
        Err(AppError::RateLimited { retry_after_secs }) => {
            let text =
                format!("Too many failed attempts. Try again in {retry_after_secs} seconds.");
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                login_page(&username, Some(&text)),
            )
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, retry_after_secs.into());
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn logout(
    State(app): State<App>,
    WebUser(who): WebUser,
    Https(https): Https,
    _form: super::csrf::WebForm,
) -> Result<Response, WebError> {
    web_session::logout(&app, &who).await?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, header::HeaderValue::from_static("/login")),
            (header::SET_COOKIE, session::clear_cookie(https)),
        ],
    )
        .into_response())
}
