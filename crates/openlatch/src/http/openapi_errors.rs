//! The error answers every operation can give, added to the OpenAPI
//! document in one place so that it tells the truth for every route: the
//! extractors and the storage layer produce them, not the handlers.

use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| error_response(description));
}

/// Adds 400/413/422 to operations with a JSON body, 401 to secured ones,
/// 429 to the device API, 409 to writes (a conflict that outlived its
/// retries) and 503 to all (database busy or unavailable; password checks
/// all busy), each with the JSON error body.
pub fn document_common_errors(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let device = path.contains("/device/");
        let ops = [
            (&mut item.get, false),
            (&mut item.post, true),
            (&mut item.put, true),
            (&mut item.delete, true),
            (&mut item.patch, true),
        ];
        for (op, write) in ops {
            let Some(op) = op.as_mut() else { continue };
            let has_json_body = op.request_body.as_ref().is_some_and(|b| {
                b.content
                    .keys()
                    .any(|ct| ct.starts_with("application/json"))
            });
            if has_json_body {
                add(op, "400", "Malformed JSON or a duplicate key");
                add(op, "413", "Body too large");
                add(op, "422", "A field is invalid; `fields` names it");
            }
            if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                add(op, "422", "A parameter is invalid; `fields` names it");
            }
            if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                add(op, "401", "Missing, invalid or expired token");
            }
            if device {
                add(
                    op,
                    "429",
                    "Too many failed authentications; see Retry-After",
                );
            }
            if write {
                add(
                    op,
                    "409",
                    "Conflicts with existing data or a concurrent change",
                );
            }
            add(
                op,
                "503",
                "Database busy or unavailable, or the server is busy; see Retry-After",
            );
        }
    }
}
