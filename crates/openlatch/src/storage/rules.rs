//! The `access_rules` table. Parameters and targets are stored as JSON text
//! in their canonical form and parsed back into typed values on read.

use super::{flag, parse_id, Result, StorageError};
use crate::domain::rule::{Rule, RuleParams, RuleType, Target};
use crate::domain::{from_unix, RuleId};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const COLUMNS: &str =
    "id, name, rule_type, parameters, priority, is_active, targets, zone_ids, created_at, \
     updated_at, seq";

fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(format!("access rule {what}"))
}

fn from_row(row: &AnyRow) -> Result<Rule> {
    let rule_type: String = row.try_get("rule_type")?;
    let rule_type = RuleType::parse(&rule_type).map_err(|_| corrupt("type"))?;
    let params: String = row.try_get("parameters")?;
    let params: Value = serde_json::from_str(&params).map_err(|_| corrupt("parameters"))?;
    let params = RuleParams::parse(rule_type, &params).map_err(|_| corrupt("parameters"))?;
    let targets: String = row.try_get("targets")?;
    let targets: Vec<(String, String)> =
        serde_json::from_str(&targets).map_err(|_| corrupt("targets"))?;
    let targets = targets
        .iter()
        .map(|(t, v)| Target::parse(t, v).map_err(|_| corrupt("target")))
        .collect::<Result<Vec<_>>>()?;
    let zone_ids: String = row.try_get("zone_ids")?;
    let zone_ids: Vec<String> = serde_json::from_str(&zone_ids).map_err(|_| corrupt("zones"))?;
    let zone_ids = zone_ids
        .iter()
        .map(|z| parse_id(z, "zone id"))
        .collect::<Result<Vec<_>>>()?;
    let priority: i64 = row.try_get("priority")?;
    Ok(Rule {
        id: parse_id(&row.try_get::<String, _>("id")?, "rule id")?,
        name: row.try_get("name")?,
        params,
        priority: i32::try_from(priority).map_err(|_| corrupt("priority"))?,
        is_active: row.try_get::<i64, _>("is_active")? != 0,
        targets,
        zone_ids,
        created_at: from_unix(row.try_get("created_at")?),
        updated_at: from_unix(row.try_get("updated_at")?),
        seq: row.try_get("seq")?,
    })
}

fn targets_json(r: &Rule) -> String {
    let pairs: Vec<Value> = r
        .targets
        .iter()
        .map(|t| json!([t.target_type(), t.value()]))
        .collect();
    Value::Array(pairs).to_string()
}

fn zone_ids_json(r: &Rule) -> String {
    Value::Array(r.zone_ids.iter().map(|z| json!(z.to_string())).collect()).to_string()
}

pub async fn insert(conn: &mut AnyConnection, r: &Rule) -> Result<()> {
    sqlx::query(
        "INSERT INTO access_rules (id, name, rule_type, parameters, priority, is_active, \
         targets, created_at, updated_at, seq, zone_ids) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(r.id.to_string())
    .bind(&r.name)
    .bind(r.params.rule_type().as_str())
    .bind(r.params.to_json().to_string())
    .bind(i64::from(r.priority))
    .bind(flag(r.is_active))
    .bind(targets_json(r))
    .bind(r.created_at.timestamp())
    .bind(r.updated_at.timestamp())
    .bind(r.seq)
    .bind(zone_ids_json(r))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update(conn: &mut AnyConnection, r: &Rule) -> Result<()> {
    sqlx::query(
        "UPDATE access_rules SET name = $2, rule_type = $3, parameters = $4, priority = $5, \
         is_active = $6, targets = $7, updated_at = $8, zone_ids = $9 WHERE id = $1",
    )
    .bind(r.id.to_string())
    .bind(&r.name)
    .bind(r.params.rule_type().as_str())
    .bind(r.params.to_json().to_string())
    .bind(i64::from(r.priority))
    .bind(flag(r.is_active))
    .bind(targets_json(r))
    .bind(r.updated_at.timestamp())
    .bind(zone_ids_json(r))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete(conn: &mut AnyConnection, id: RuleId) -> Result<bool> {
    let done = sqlx::query("DELETE FROM access_rules WHERE id = $1")
        .bind(id.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(conn: &mut AnyConnection, id: RuleId) -> Result<Option<Rule>> {
    let sql = format!("SELECT {COLUMNS} FROM access_rules WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every rule, oldest first.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<Rule>> {
    let sql = format!("SELECT {COLUMNS} FROM access_rules ORDER BY seq");
    let rows = sqlx::query(&sql).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}
