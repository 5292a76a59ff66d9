//! Space settings an admin changes at run time, stored in the database so
//! every instance agrees: the space's time zone, in which the web UI shows
//! times and draws the week view.

use super::auth::Principal;
use super::{App, AppResult};
use crate::domain::audit::event;
use crate::domain::rule::{Rule, RuleParams};
use crate::storage::audit::{self, Actor, NewEntry};
use crate::storage::{now_unix, rules, settings};
use chrono_tz::Tz;
use serde_json::json;
use sqlx::AnyConnection;

const TIME_ZONE: &str = "time_zone";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeZoneSource {
    /// An admin set it.
    Setting,
    /// Not set: the zone of the first time-window rule, as before the
    /// setting existed, so an upgraded space keeps the times it saw.
    FirstTimeWindowRule,
    /// Neither a setting nor a time-window rule.
    Default,
}

impl TimeZoneSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Setting => "setting",
            Self::FirstTimeWindowRule => "first_time_window_rule",
            Self::Default => "default",
        }
    }
}

pub struct Settings {
    /// What an admin set, if anything.
    pub time_zone: Option<Tz>,
    /// The zone in use.
    pub effective_time_zone: Tz,
    pub time_zone_source: TimeZoneSource,
}

async fn stored_time_zone(conn: &mut AnyConnection) -> AppResult<Option<Tz>> {
    let raw = settings::get(conn, TIME_ZONE).await?;
    Ok(raw.and_then(|name| match name.parse::<Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            // Only a time zone database that dropped the name gets here.
            tracing::warn!(time_zone = %name, "stored space time zone is unknown; using the fallback");
            None
        }
    }))
}

/// The effective zone from the setting and the rules.
pub fn effective(setting: Option<Tz>, rules: &[Rule]) -> (Tz, TimeZoneSource) {
    if let Some(tz) = setting {
        return (tz, TimeZoneSource::Setting);
    }
    rules
        .iter()
        .find_map(|r| match &r.params {
            RuleParams::TimeWindow(w) => Some((w.timezone, TimeZoneSource::FirstTimeWindowRule)),
            _ => None,
        })
        .unwrap_or((chrono_tz::UTC, TimeZoneSource::Default))
}

async fn load(conn: &mut AnyConnection) -> AppResult<Settings> {
    let time_zone = stored_time_zone(conn).await?;
    // The rules are read only when there is no setting (one small row otherwise).
    let (effective_time_zone, time_zone_source) = match time_zone {
        Some(tz) => (tz, TimeZoneSource::Setting),
        None => effective(None, &rules::list(conn).await?),
    };
    Ok(Settings {
        time_zone,
        effective_time_zone,
        time_zone_source,
    })
}

pub async fn get(app: &App) -> AppResult<Settings> {
    let mut conn = app.db.read().await?;
    load(&mut conn).await
}

/// The stored setting alone, for callers that hold the rules already.
pub async fn time_zone_setting(app: &App) -> AppResult<Option<Tz>> {
    let mut conn = app.db.read().await?;
    stored_time_zone(&mut conn).await
}

/// The zone the space's people think in.
pub async fn space_time_zone(app: &App) -> AppResult<Tz> {
    Ok(get(app).await?.effective_time_zone)
}

/// Sets the space's time zone (`None` removes the setting). Audited with
/// the old and the new value; setting the same value again changes nothing.
pub async fn set_time_zone(app: &App, actor: &Principal, tz: Option<Tz>) -> AppResult<Settings> {
    let mut tx = app.db.begin().await?;
    let before = stored_time_zone(&mut tx).await?;
    if before != tz {
        match tz {
            Some(tz) => settings::set(&mut tx, TIME_ZONE, tz.name(), now_unix()).await?,
            None => settings::remove(&mut tx, TIME_ZONE).await?,
        }
        audit::insert(
            &mut tx,
            NewEntry::now(
                event::SETTINGS_UPDATED,
                Actor::Member(actor.member.id),
                None,
                json!({ "changes": { "time_zone": {
                    "from": before.map(|t| t.name()),
                    "to": tz.map(|t| t.name()),
                } } }),
            ),
        )
        .await?;
    }
    let settings = load(&mut tx).await?;
    tx.commit().await?;
    Ok(settings)
}
