//! What every operation of the OpenAPI document shares and its handler's annotation would only
//! repeat: the error answers of the extractors (`http::extract`) and the form of path ids; and the
//! links from an answer to the operations its ids open. Applied once to the whole document, so
//! that a new route cannot forget them and the document stays true to what the server answers
//! (checked by `scripts/fuzz-api`, whose stateful phase follows the links).

use serde_json::json;
use utoipa::Modify;
use utoipa::openapi::Required;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, Object, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{OpenApi, RefOr, Response, ResponseBuilder, Schema};

use crate::wire::error::ErrorBody;

pub struct SharedAnswers;

impl Modify for SharedAnswers {
    fn modify(&self, openapi: &mut OpenApi) {
        add_links(openapi);
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                describe_path_ids(operation);
                forbid_empty_required_text(operation);
                describe_flags(operation);
                add_extractor_errors(operation);
            }
        }
    }
}

/// `401` from `Caller` when the credentials are missing or wrong, `403` when they are of the other
/// kind (a user token where client credentials are needed, or another user's id); `400` from
/// `Path`, `Query` and `Body` when a parameter or the body does not parse.
fn add_extractor_errors(operation: &mut Operation) {
    let secured = operation.security.as_ref().is_some_and(|requirements| !requirements.is_empty());
    if secured {
        add_error(operation, "401", "`missingToken` or `invalidToken`: no valid credentials");
        add_error(operation, "403", "`forbidden`: these credentials do not reach this resource");
    }
    let has_input = operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) || operation.request_body.is_some();
    if has_input {
        add_error(operation, "400", "`invalidValue` or `missingParameter`: the field named in the message");
    }
}

fn add_error(operation: &mut Operation, status: &str, description: &str) {
    operation.responses.responses.entry(status.to_owned()).or_insert_with(|| error_response(description));
}

fn error_response(description: &str) -> RefOr<Response> {
    let body = utoipa::openapi::ContentBuilder::new()
        .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(<ErrorBody as utoipa::ToSchema>::name()))));
    RefOr::T(ResponseBuilder::new().description(description).content("application/json", body.build()).build())
}

/// Path ids are positive integers (`parse_id` refuses the rest with `400`); `id_user` is one of
/// them or `me`, the caller itself.
fn describe_path_ids(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        if !matches!(parameter.parameter_in, ParameterIn::Path) {
            continue;
        }
        if parameter.name == "id_user" {
            parameter.schema = Some(RefOr::T(Schema::Object(user_segment())));
        } else if is_integer(parameter) {
            parameter.schema = Some(RefOr::T(Schema::Object(positive_id())));
        }
    }
}

/// A required text parameter cannot be empty: `Params::require_str` reads `""` as missing.
fn forbid_empty_required_text(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        if !matches!(parameter.required, Required::True) {
            continue;
        }
        if let Some(RefOr::T(Schema::Object(text))) = &mut parameter.schema
            && text.schema_type == Type::String.into()
        {
            text.min_length.get_or_insert(1);
        }
    }
}

/// A boolean query parameter reads as `Params::bool` does: see [`optional_flag`].
fn describe_flags(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        if !matches!(parameter.parameter_in, ParameterIn::Query) {
            continue;
        }
        if let Some(RefOr::T(Schema::Object(flag))) = &mut parameter.schema
            && flag.schema_type == Type::Boolean.into()
        {
            *flag = optional_flag();
        }
    }
}

/// A boolean as `Params::bool` reads it, in a query or a body: `true`/`false`, `1`/`0`, bare
/// (`?all`, the empty text: true) or `null` (absent; clients generated from Powens' Swagger file
/// send unset values so).
pub(super) fn optional_flag() -> Object {
    let mut flag = required_flag();
    flag.schema_type = SchemaType::from_iter([Type::Boolean, Type::Integer, Type::String, Type::Null]);
    flag.enum_values.get_or_insert_with(Vec::new).push(json!(null));
    flag
}

/// A boolean that must be given: as [`optional_flag`], without `null`.
pub(super) fn required_flag() -> Object {
    let mut flag = Object::with_type(SchemaType::from_iter([Type::Boolean, Type::Integer, Type::String]));
    flag.enum_values = Some(vec![json!(true), json!(false), json!(1), json!(0), json!("")]);
    flag
}

fn is_integer(parameter: &Parameter) -> bool {
    matches!(&parameter.schema, Some(RefOr::T(Schema::Object(object))) if object.schema_type == Type::Integer.into())
}

fn positive_id() -> Object {
    let mut id = Object::with_type(Type::Integer);
    id.format = Some(SchemaFormat::KnownFormat(KnownFormat::Int64));
    id.minimum = Some(1.into());
    id.maximum = Some(i64::MAX.into());
    id
}

fn user_segment() -> Object {
    let mut segment = Object::with_type(Type::String);
    segment.pattern = Some("^(me|[1-9][0-9]{0,17})$".to_owned());
    segment.examples = vec![serde_json::json!("me")];
    segment.description = Some("the user's id, or `me` for the token's own user".to_owned());
    segment
}

/// An answer that carries an id, and the operations that id opens: `(method, path, status)`,
/// the target's parameter (a path parameter, or `query.name`) and where the answer holds it, and
/// the targets `(method, path)`.
struct Follow {
    from: (&'static str, &'static str, &'static str),
    id: (&'static str, &'static str),
    to: &'static [(&'static str, &'static str)],
}

const CONNECTION: &[(&str, &str)] = &[
    ("get", "/2.0/users/{id_user}/connections/{id_connection}"),
    ("put", "/2.0/users/{id_user}/connections/{id_connection}"),
    ("post", "/2.0/users/{id_user}/connections/{id_connection}"),
    ("delete", "/2.0/users/{id_user}/connections/{id_connection}"),
    ("get", "/2.0/users/{id_user}/connections/{id_connection}/accounts"),
    ("get", "/2.0/users/{id_user}/connections/{id_connection}/logs"),
    ("get", "/2.0/users/{id_user}/connections/{id_connection}/sources"),
    ("get", "/2.0/users/{id_user}/connections/{id_connection}/transactions"),
];
const ACCOUNT: &[(&str, &str)] = &[
    ("get", "/2.0/users/{id_user}/accounts/{id_account}"),
    ("post", "/2.0/users/{id_user}/accounts/{id_account}"),
    ("put", "/2.0/users/{id_user}/accounts/{id_account}"),
    ("get", "/2.0/users/{id_user}/accounts/{id_account}/balances"),
    ("get", "/2.0/users/{id_user}/accounts/{id_account}/transactions"),
    ("get", "/2.0/users/{id_user}/accounts/{id_account}/export"),
];
const TRANSACTION: &[(&str, &str)] = &[
    ("get", "/2.0/users/{id_user}/transactions/{id_transaction}"),
    ("post", "/2.0/users/{id_user}/transactions/{id_transaction}"),
    ("put", "/2.0/users/{id_user}/transactions/{id_transaction}"),
];

const LINKS: &[Follow] = &[
    Follow {
        from: ("post", "/2.0/users/{id_user}/connections", "201"),
        id: ("id_connection", "$response.body#/id"),
        to: CONNECTION,
    },
    Follow {
        from: ("get", "/2.0/users/{id_user}/connections", "200"),
        id: ("id_connection", "$response.body#/connections/0/id"),
        to: CONNECTION,
    },
    Follow {
        from: ("post", "/2.0/users/{id_user}/statements", "201"),
        id: ("id_connection", "$response.body#/connection/id"),
        to: CONNECTION,
    },
    Follow {
        from: ("get", "/2.0/users/{id_user}/accounts", "200"),
        id: ("id_account", "$response.body#/accounts/0/id"),
        to: ACCOUNT,
    },
    Follow {
        from: ("get", "/2.0/users/{id_user}/transactions", "200"),
        id: ("id_transaction", "$response.body#/transactions/0/id"),
        to: TRANSACTION,
    },
    Follow {
        from: ("post", "/2.0/webhooks", "200"),
        id: ("id", "$response.body#/id"),
        to: &[("get", "/2.0/webhooks/{id}/deliveries"), ("delete", "/2.0/webhooks/{id}")],
    },
    Follow {
        from: ("post", "/2.0/webhooks/auth", "200"),
        id: ("id", "$response.body#/id"),
        to: &[("delete", "/2.0/webhooks/auth/{id}")],
    },
    Follow {
        from: ("get", "/2.0/webhooks/{id}/deliveries", "200"),
        id: ("id", "$response.body#/deliveries/0/id"),
        to: &[("post", "/2.0/webhooks/deliveries/{id}/replay")],
    },
    Follow {
        from: ("get", "/2.0/users/{id_user}/simplefin/access", "200"),
        id: ("id_access", "$response.body#/access/0/id"),
        to: &[("delete", "/2.0/users/{id_user}/simplefin/access/{id_access}")],
    },
    Follow {
        from: ("get", "/2.0/users/{id_user}/connections", "200"),
        id: ("query.id_connection", "$response.body#/connections/0/id"),
        to: &[("get", "/2.0/webauth-url")],
    },
    Follow {
        from: ("get", "/2.0/users/{id_user}/connections", "200"),
        id: ("query.connection_id", "$response.body#/connections/0/id"),
        to: &[("get", "/2.0/webview/reconnect-url")],
    },
];

fn add_links(openapi: &mut OpenApi) {
    for follow in LINKS {
        let (method, path, status) = follow.from;
        let Some(RefOr::T(response)) =
            operation_mut(openapi, method, path).and_then(|o| o.responses.responses.get_mut(status))
        else {
            continue;
        };
        for (to_method, to_path) in follow.to {
            let target = format!("#/paths/{}/{to_method}", to_path.replace('~', "~0").replace('/', "~1"));
            // utoipa 5 writes `Link::operation_ref` as `operation_ref`, which no reader knows: the
            // field is written under its OpenAPI name through the extensions' map instead.
            let mut link = LinkBuilder::new()
                .extensions(Some(Extensions::from_iter([("operationRef", target)])))
                .parameter(follow.id.0, follow.id.1);
            if to_path.contains("{id_user}") {
                link = link.parameter("id_user", "$request.path.id_user");
            }
            response.links.insert(format!("{to_method} {to_path}"), RefOr::T(link.build()));
        }
    }
}

fn operation_mut<'a>(openapi: &'a mut OpenApi, method: &str, path: &str) -> Option<&'a mut Operation> {
    let item = openapi.paths.paths.get_mut(path)?;
    match method {
        "get" => item.get.as_mut(),
        "put" => item.put.as_mut(),
        "post" => item.post.as_mut(),
        "delete" => item.delete.as_mut(),
        _ => None,
    }
}
