//! `/members` and `/me`.

use super::error::ErrorBody;
use super::extract::{Admin, AnyMember, ApiJson, ApiPath, ApiQuery, Staff};
use crate::app::members::{self, MemberPatch, NewMember};
use crate::app::{auth, App, AppError};
use crate::domain::member::{DisplayName, Email, Member, NewPassword, Role, Username};
use crate::domain::{MemberId, Validation};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_members, create_member))
        .routes(routes!(get_member, update_member, delete_member))
        .routes(routes!(get_me, update_me))
        .routes(routes!(change_my_password))
}

/// A member as the API shows it (never the password).
#[derive(Serialize, ToSchema)]
pub struct MemberView {
    id: MemberId,
    username: String,
    email: String,
    display_name: String,
    role: Role,
    is_active: bool,
    created_at: DateTime<Utc>,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        Self {
            id: m.id,
            username: m.username,
            email: m.email,
            display_name: m.display_name,
            role: m.role,
            is_active: m.is_active,
            created_at: m.created_at,
        }
    }
}

/// One member with their keypad record (never a secret); `keypad` is null
/// while they hold no keypad code.
#[derive(Serialize, ToSchema)]
pub struct MemberDetailView {
    #[serde(flatten)]
    member: MemberView,
    keypad: Option<super::keypad::KeypadView>,
}

async fn detail(app: &App, m: Member) -> Result<MemberDetailView, AppError> {
    let keypad = crate::app::keypad::summary(app, &m).await?.map(Into::into);
    Ok(MemberDetailView {
        member: m.into(),
        keypad,
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MemberFilter {
    #[param(schema_with = super::schema_facts::role)]
    role: Option<String>,
    is_active: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMemberRequest {
    #[schema(pattern = r"^[a-z0-9][a-z0-9._-]{2,31}$")]
    username: String,
    #[schema(schema_with = super::schema_facts::email)]
    email: String,
    /// 10 to 128 characters. Without one the member has door access but
    /// cannot log in until an admin sets a password.
    #[schema(schema_with = super::schema_facts::password_opt)]
    password: Option<String>,
    /// Defaults to the username.
    #[schema(schema_with = super::schema_facts::display_name_opt)]
    display_name: Option<String>,
    /// Defaults to `member`.
    #[schema(schema_with = super::schema_facts::role_opt)]
    role: Option<String>,
}

impl CreateMemberRequest {
    fn parse(self) -> Result<NewMember, AppError> {
        let mut v = Validation::default();
        let username = v.field("username", Username::parse(&self.username));
        let email = v.field("email", Email::parse(&self.email));
        let password = v.optional("password", self.password.as_deref().map(NewPassword::parse));
        let display_name = v.optional(
            "display_name",
            self.display_name.as_deref().map(DisplayName::parse),
        );
        let role = v.optional("role", self.role.as_deref().map(str::parse::<Role>));
        match (username, email, password, display_name, role) {
            (Some(username), Some(email), Some(password), Some(display_name), Some(role))
                if v.is_ok() =>
            {
                Ok(NewMember {
                    username,
                    email,
                    display_name,
                    role: role.unwrap_or(Role::Member),
                    password,
                })
            }
            _ => Err(AppError::Validation(v.into_errors())),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    #[schema(schema_with = super::schema_facts::display_name_opt)]
    display_name: Option<String>,
    #[schema(schema_with = super::schema_facts::email_opt)]
    email: Option<String>,
    #[schema(schema_with = super::schema_facts::role_opt)]
    role: Option<String>,
    is_active: Option<bool>,
    /// Sets a new password and ends all of the member's sessions.
    #[schema(schema_with = super::schema_facts::password_opt)]
    password: Option<String>,
}

impl UpdateMemberRequest {
    fn parse(self) -> Result<MemberPatch, AppError> {
        let mut v = Validation::default();
        let display_name = v.optional(
            "display_name",
            self.display_name.as_deref().map(DisplayName::parse),
        );
        let email = v.optional("email", self.email.as_deref().map(Email::parse));
        let role = v.optional("role", self.role.as_deref().map(str::parse::<Role>));
        let password = v.optional("password", self.password.as_deref().map(NewPassword::parse));
        match (display_name, email, role, password) {
            (Some(display_name), Some(email), Some(role), Some(password)) if v.is_ok() => {
                Ok(MemberPatch {
                    display_name,
                    email,
                    role,
                    is_active: self.is_active,
                    password,
                })
            }
            _ => Err(AppError::Validation(v.into_errors())),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    #[schema(schema_with = super::schema_facts::display_name_opt)]
    display_name: Option<String>,
    #[schema(schema_with = super::schema_facts::email_opt)]
    email: Option<String>,
}

/// Deliberately not `Debug`: it holds passwords.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    current_password: String,
    #[schema(schema_with = super::schema_facts::password)]
    new_password: String,
}

/// List members (admin, keyholder).
#[utoipa::path(get, path = "/members", tag = "members", params(MemberFilter), security(("bearer" = [])),
    responses((status = 200, body = [MemberView]), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_members(
    State(app): State<App>,
    _: Staff,
    ApiQuery(filter): ApiQuery<MemberFilter>,
) -> Result<Json<Vec<MemberView>>, AppError> {
    let role = match filter.role.as_deref().map(str::parse::<Role>).transpose() {
        Ok(r) => r,
        Err(m) => return Err(AppError::field("role", m)),
    };
    let list = members::list(&app, role, filter.is_active).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// Create a member (admin).
#[utoipa::path(post, path = "/members", tag = "members", request_body = CreateMemberRequest,
    security(("bearer" = [])),
    responses((status = 201, body = MemberView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, description = "Username taken", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn create_member(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<CreateMemberRequest>,
) -> Result<(StatusCode, Json<MemberView>), AppError> {
    let member = members::create(&app, Some(&admin.member), body.parse()?).await?;
    Ok((StatusCode::CREATED, Json(member.into())))
}

/// Get a member (admin, keyholder, or the member themself).
#[utoipa::path(get, path = "/members/{id}", tag = "members", security(("bearer" = [])),
    params(("id" = MemberId, Path)),
    responses((status = 200, body = MemberDetailView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_member(
    State(app): State<App>,
    AnyMember(who): AnyMember,
    ApiPath(id): ApiPath<MemberId>,
) -> Result<Json<MemberDetailView>, AppError> {
    let m = members::get(&app, &who, id).await?;
    Ok(Json(detail(&app, m).await?))
}

/// Change a member (admin): any of display name, e-mail, role, active state, password.
#[utoipa::path(put, path = "/members/{id}", tag = "members", request_body = UpdateMemberRequest,
    security(("bearer" = [])), params(("id" = MemberId, Path)),
    responses((status = 200, body = MemberView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "Would leave no active admin", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn update_member(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<MemberId>,
    ApiJson(body): ApiJson<UpdateMemberRequest>,
) -> Result<Json<MemberView>, AppError> {
    let patch = body.parse()?;
    Ok(Json(
        members::update(&app, &admin.member, id, patch)
            .await?
            .into(),
    ))
}

/// Deactivate a member (admin): keys revoked, sessions ended, record kept.
#[utoipa::path(delete, path = "/members/{id}", tag = "members", security(("bearer" = [])),
    params(("id" = MemberId, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, description = "The last active admin", body = ErrorBody)))]
async fn delete_member(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<MemberId>,
) -> Result<StatusCode, AppError> {
    members::deactivate(&app, &admin.member, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The logged-in member.
#[utoipa::path(get, path = "/me", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = MemberDetailView), (status = 401, body = ErrorBody)))]
async fn get_me(
    State(app): State<App>,
    AnyMember(who): AnyMember,
) -> Result<Json<MemberDetailView>, AppError> {
    Ok(Json(detail(&app, who.member).await?))
}

/// Change one's own display name or e-mail.
#[utoipa::path(put, path = "/me", tag = "me", request_body = UpdateMeRequest, security(("bearer" = [])),
    responses((status = 200, body = MemberView), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn update_me(
    State(app): State<App>,
    AnyMember(who): AnyMember,
    ApiJson(body): ApiJson<UpdateMeRequest>,
) -> Result<Json<MemberView>, AppError> {
    let mut v = Validation::default();
    let display_name = v.optional(
        "display_name",
        body.display_name.as_deref().map(DisplayName::parse),
    );
    let email = v.optional("email", body.email.as_deref().map(Email::parse));
    let (Some(display_name), Some(email)) = (display_name, email) else {
        return Err(AppError::Validation(v.into_errors()));
    };
    Ok(Json(
        members::update_self(&app, &who, display_name, email)
            .await?
            .into(),
    ))
}

/// Change one's own password, giving the current one; other sessions end.
#[utoipa::path(put, path = "/me/password", tag = "me", request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_my_password(
    State(app): State<App>,
    AnyMember(who): AnyMember,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, AppError> {
    auth::change_own_password(&app, &who, &body.current_password, &body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}
