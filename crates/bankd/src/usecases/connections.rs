//! Linking a user to a bank and answering the bank's steps: the rules the API's connection routes
//! and the webview's pages share — credentials checked against the connector's form, a refused
//! login keeping nothing, a sync requested for the person present and waited for.

use crate::catalog::{Connector, FieldKind};
use crate::domain::states::ConnectionState;
use crate::sources::{Credentials, UserInput};
use crate::state::AppState;
use crate::store::connections::ConnectionSource;
use crate::store::rows::Connection;
use crate::sync::SyncRequest;
use crate::sync::engine::{RequestError, Requested};
use crate::wire::error::{ApiError, ApiResult};
use crate::wire::params::Params;

/// Body keys of `POST …/connections/{id}` that are instructions, not answers to the bank.
const CONTROL_KEYS: [&str; 8] =
    ["resume", "active", "expire", "refresh_auth", "source", "decoupled", "id_connector", "connector_uuid"];

/// The connection as it is after a sync (re-read, since the sync wrote it).
pub async fn reload(state: &AppState, connection: &Connection) -> ApiResult<Connection> {
    state
        .store
        .connection(connection.id_user, connection.id)
        .await?
        .ok_or_else(|| ApiError::not_found("connectionNotFound", "connection"))
}

/// The connection after a sync request: re-read (the sync wrote it), and shown `validating` while
/// its sync is still queued or running.
pub async fn after_sync(state: &AppState, connection: &Connection, requested: &Requested) -> ApiResult<Connection> {
    let mut connection = reload(state, connection).await?;
    if *requested == Requested::Pending {
        connection.state = Some(ConnectionState::Validating.as_str().to_owned());
    }
    Ok(connection)
}

/// Reads the connector's credential fields from the body: required ones must be there, every value
/// must match the field's rule. Errors name the field, never echo its value (it may be a secret).
pub fn credentials_from(params: &Params, connector: &Connector, require: bool) -> ApiResult<Credentials> {
    let mut credentials = Credentials::default();
    for field in &connector.fields {
        let Some(value) = params.str(&field.name)?.filter(|v| !v.is_empty()) else {
            if require && field.required {
                return Err(ApiError::missing(&field.name));
            }
            continue;
        };
        if let Some(regex) = &field.regex {
            // The catalog's regexes were checked when it loaded.
            if !regex::Regex::new(regex).is_ok_and(|re| re.is_match(&value)) {
                return Err(ApiError::invalid(&field.name, format!("does not match {regex}")));
            }
        }
        if field.kind == FieldKind::List {
            let allowed = field.values.iter().flatten().any(|v| v.value == value);
            if !allowed {
                return Err(ApiError::invalid(&field.name, "not one of the field's values"));
            }
        }
        credentials.0.insert(field.name.clone(), value);
    }
    Ok(credentials)
}

/// Asks the engine for a sync and, with `wait`, waits for it. A sync already running answers
/// `409 connectionLocked`.
pub async fn request_sync(
    state: &AppState,
    connection: &Connection,
    request: &SyncRequest,
    wait: bool,
) -> ApiResult<Requested> {
    let mut request = request.clone();
    if !request.unattended {
        request.input.psu_ip = super::CLIENT_IP.try_with(Clone::clone).ok().flatten();
    }
    request.request_id = crate::wire::error::REQUEST_ID.try_with(|id| *id).ok();
    match state.engine.request(connection, &request, wait).await {
        Ok(requested) => Ok(requested),
        Err(RequestError::Busy) => Err(ApiError::ConnectionLocked),
        Err(RequestError::Store(e)) => Err(e.into()),
    }
}

/// Powens answers a refused credential check with a `wrongpass` error rather than a connection.
fn refusal(connection: &Connection) -> ApiError {
    ApiError::Bank {
        code: ConnectionState::WrongPass.as_str(),
        description: "the bank refused the credentials".into(),
        message: connection.error_message.clone(),
    }
}

const REFUSED: Requested = Requested::Done(Some(ConnectionState::WrongPass));

/// Creates the user's connection and runs its first sync, the user present (with `wait`, waits for it).
/// A refused login keeps nothing and answers Powens' `wrongpass` error. The API and the webview
/// connect through this.
pub async fn connect(
    state: &AppState,
    id_user: i64,
    connector: &Connector,
    credentials: &Credentials,
    only_source: Option<String>,
    wait: bool,
) -> ApiResult<Connection> {
    let id = state.store.create_connection(id_user, connector, credentials, state.key()).await?;
    let connection = state
        .store
        .connection(id_user, id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("connection {id} vanished")))?;
    let input = UserInput { authenticating: true, ..UserInput::default() };
    let request = SyncRequest { input, only_source, ..SyncRequest::default() };
    let requested = request_sync(state, &connection, &request, wait).await?;
    let connection = after_sync(state, &connection, &requested).await?;
    if requested == REFUSED {
        // Nothing of a refused connection is kept.
        state.store.delete_connection(id_user, id).await?;
        return Err(refusal(&connection));
    }
    Ok(connection)
}

/// The sync a `POST …/connections/{id}` body asks for: new credentials, answers to the bank's
/// questions (an OTP…), `resume` after an app validation, `refresh_auth`.
pub fn answer_request(body: &Params, connector: &Connector, only_source: Option<String>) -> ApiResult<SyncRequest> {
    let credentials = credentials_from(body, connector, false)?;
    let answers = Credentials(
        body.0
            .keys()
            .filter(|k| !CONTROL_KEYS.contains(&k.as_str()) && connector.fields.iter().all(|f| f.name != **k))
            .filter_map(|k| body.str(k).ok().flatten().map(|v| (k.clone(), v)))
            .collect(),
    );
    let refresh_auth = body.flag("refresh_auth")?;
    Ok(SyncRequest {
        input: UserInput {
            fields: answers,
            resume: body.flag("resume")? || body.flag("decoupled")?,
            webauth_code: None,
            authenticating: refresh_auth || !credentials.0.is_empty(),
            ..UserInput::default()
        },
        new_credentials: (!credentials.0.is_empty()).then_some(credentials),
        only_source,
        ..SyncRequest::default()
    })
}

/// Runs the sync the user's answer asks for (see [`answer_request`]). New credentials the bank
/// refuses answer Powens' `wrongpass` error. The API and the webview answer through this.
pub async fn answer(
    state: &AppState,
    connection: &Connection,
    request: &SyncRequest,
    wait: bool,
) -> ApiResult<Connection> {
    let requested = request_sync(state, connection, request, wait).await?;
    let connection = after_sync(state, connection, &requested).await?;
    if requested == REFUSED && request.new_credentials.is_some() {
        return Err(refusal(&connection));
    }
    Ok(connection)
}

/// Lets the connection's syncs use one of its sources, or not. A source already disabled keeps the
/// date it was first disabled.
pub async fn set_source_disabled(state: &AppState, source: &ConnectionSource, disabled: bool) -> ApiResult<()> {
    let since = match (disabled, source.disabled) {
        (true, Some(since)) => Some(since),
        (true, None) => Some(crate::store::now()),
        (false, _) => None,
    };
    Ok(state.store.set_source_disabled(source.id, since).await?)
}
