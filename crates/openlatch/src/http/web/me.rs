//! Me: every member's own page: profile, keys, and the password change.

use super::csrf::WebForm;
use super::error::WebError;
use super::layout::{csrf_field, field, notice, page, Viewer};
use super::session::WebUser;
use crate::app::web_session::WebSession;
use crate::app::{auth, keys, App, AppError};
use crate::domain::FieldErrors;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

async fn me_page(
    app: &App,
    who: &WebSession,
    done: Option<&str>,
    errors: &FieldErrors,
) -> Result<Markup, WebError> {
    let viewer = Viewer::from(who);
    let m = &who.principal.member;
    let my_keys = keys::list_for_member(app, &who.principal, m.id).await?;
    let week = crate::app::ui::week_view(app, m.id).await?;
    let now = Utc::now();
    Ok(page(
        Some(&viewer),
        "/me",
        "Me",
        html! {
            h1 { (m.display_name) }
            (notice(done.map(|_| "Password changed. Your other sessions have ended.")))
            dl.facts {
                dt { "Username" } dd { (m.username) }
                dt { "E-mail" } dd { (m.email) }
                dt { "Role" } dd { (m.role.as_str()) }
            }
            section {
                h2 { "My keys" }
                @if my_keys.is_empty() { p.muted { "You have no key yet: ask an admin." } }
                @else { ul { @for k in &my_keys {
                    li {
                        (k.label) " " span.mono { (k.uid.as_str()) } " – "
                        @if k.revoked_at.is_some() { "revoked" }
                        @else if !k.is_active_at(now) { "expired" }
                        @else { "active" }
                    }
                } } }
            }
            section {
                h2 { "When I can enter" }
                (super::week::week_svg(&week))
            }
            section {
                h2 { "Change my password" }
                form.stack method="post" action="/me/password" novalidate {
                    (csrf_field(&viewer))
                    input type="hidden" name="username" value=(m.username) autocomplete="username";
                    (field("Current password", "current_password", "password", "", errors, true))
                    (field("New password (at least 10 characters)", "new_password", "password", "", errors, true))
                    button type="submit" { "Change password" }
                }
            }
        },
    ))
}

pub async fn page_get(
    app: &App,
    who: &WebSession,
    done: Option<&str>,
) -> Result<Response, WebError> {
    Ok(me_page(app, who, done, &FieldErrors::new())
        .await?
        .into_response())
}

pub async fn show(
    State(app): State<App>,
    WebUser(who): WebUser,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    page_get(&app, &who, q.done.as_deref()).await
}

pub async fn change_password(
    State(app): State<App>,
    WebUser(who): WebUser,
    form: WebForm,
) -> Result<Response, WebError> {
    match auth::change_own_password(
        &app,
        &who.principal,
        form.get("current_password"),
        form.get("new_password"),
    )
    .await
    {
        Ok(()) => Ok(Redirect::to("/me?done=password").into_response()),
        Err(AppError::Validation(errors)) => {
            let html = me_page(&app, &who, None, &errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(e) => Err(WebError::for_viewer(e, &who)),
    }
}
