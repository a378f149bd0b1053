//! Statement files as a source: an uploaded file (OFX, camt, MT940, QIF, CSV — read by the
//! `statements` crate) becomes accounts and transactions of the user's "Statement files"
//! connection, under the rules of a sync: reconciliation (re-importing adds nothing), one log row,
//! secrets and state sealed like any source's.
//!
//! The file is parsed on a blocking thread that hands its events over in chunks through a bounded
//! channel; the writer reconciles and writes them in batches inside one database transaction,
//! committed at the end of the file. Memory therefore stays flat in the file's size, and a
//! malformed file, or a failure half-way, leaves the user's data as it was.
//!
//! - **Accounts** are recognised by IBAN, else number, else name and currency (their webid), and
//!   are created enabled: uploading a file is the user's consent. An account missing from a file
//!   is not archived — a file is not a list of all the user's accounts.
//! - **Transactions** are recognised by their webid (see [`crate::sources::entries::Webids`]).
//! - **Warnings**: what the parser read from a file that bends its standard (see `statements`)
//!   is reported with the result and kept in the log row, bounded (the first 100, then a count).
//! - **The balance** is the closing balance of the newest statement seen: an older file imported
//!   later does not roll it back (the source's state remembers each account's balance date). A
//!   format without balances (QIF, CSV) moves the balance by what the file added.

mod mapping;
mod writer;

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read};

use statements::{Event, Format};
use tokio::sync::mpsc;

pub use self::mapping::csv_mapping;
use self::writer::Writer;
use crate::catalog::{Catalog, Connector};
use crate::crypto::MasterKey;
use crate::sources::Credentials;
use crate::store::accounts::SourceRef;
use crate::store::rows::Connection;
use crate::store::{Store, StoreError};

/// What an import needs besides the file.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `None`: detected from the file's first bytes.
    pub format: Option<Format>,
    pub parse: statements::Options,
    /// The user's Statement-files connection to import into; `None`: their first one, created
    /// at the first import.
    pub id_connection: Option<i64>,
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct Imported {
    pub connection: Connection,
    /// The accounts the file is about, in file order.
    pub accounts: Vec<i64>,
    pub format: Format,
    pub statements: usize,
    /// Transactions added, updated (e.g. a pending one now booked) and already there as they are.
    pub added: i64,
    pub updated: i64,
    pub unchanged: i64,
    /// Where the file bends its format's standard, and what was assumed there (the first 100,
    /// and a count of the rest): also kept in the import's log row.
    pub warnings: statements::Warnings,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Invalid(#[from] statements::Error),
    #[error("the file's format is not recognised: give it (ofx, camt, mt940, qif or csv)")]
    UnknownFormat,
    #[error("connection {0} is not a statement-files connection of this user")]
    NotAStatementConnection(i64),
    #[error("the catalog has no statement-files connector")]
    NoConnector,
    #[error("amount out of range: {0}")]
    Amount(String),
    #[error("reading the file: {0}")]
    Read(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Events handed from the parser to the writer at once: one message per entry would cost more
/// than parsing it.
const CHUNK_EVENTS: usize = 1024;
/// Chunks parsed ahead of the writer: what bounds the memory of a file read faster than written.
const CHUNKS_AHEAD: usize = 4;

/// Imports one file for `id_user`.
pub async fn import(
    store: &Store,
    catalog: &Catalog,
    key: &MasterKey,
    id_user: i64,
    file: impl Read + Send + 'static,
    options: ImportOptions,
) -> Result<Imported, ImportError> {
    let connector = statement_connector(catalog).ok_or(ImportError::NoConnector)?;
    let (sender, mut parsed) = mpsc::channel(CHUNKS_AHEAD);
    let (parse, format) = (options.parse, options.format);
    tokio::task::spawn_blocking(move || {
        let done = read(file, format, &parse, &sender);
        _ = sender.blocking_send(Parsed::Done(done));
    });
    // A file refused from its first bytes (unknown format, not the format given) creates nothing.
    let mut message = next(&mut parsed).await;
    if let Parsed::Done(Err(e)) = message {
        return Err(e);
    }
    let (connection, created) = target_connection(store, key, connector, id_user, options.id_connection).await?;
    let written = async {
        let source = store.connection_sources(connection.id).await?.into_iter().next();
        let source = source.ok_or(ImportError::NotAStatementConnection(connection.id))?;
        let target = SourceRef { id_connection: connection.id, id_user, id_source: source.id };
        let mut writer = Writer::begin(store, key, connector, target).await?;
        // The parser's verdict on the whole file comes last, before anything is committed.
        let format = loop {
            match message {
                Parsed::Events(events) => writer.take(events).await?,
                Parsed::Done(done) => break done?,
            }
            message = next(&mut parsed).await;
        };
        writer.commit(format).await
    }
    .await;
    match written {
        Ok(summary) => {
            let connection = store.connection(id_user, connection.id).await?.unwrap_or(connection);
            Ok(summary.into_imported(connection))
        }
        Err(e) => {
            if created {
                // The connection was made for this import alone: it goes with it.
                if let Err(cleanup) = store.delete_connection(id_user, connection.id).await {
                    tracing::warn!(connection = connection.id, error = %cleanup, "removing an empty statement connection");
                }
            }
            Err(e)
        }
    }
}

/// The catalog's connector for statement files: its sources are all `file`.
pub fn statement_connector(catalog: &Catalog) -> Option<&Connector> {
    catalog.connectors.iter().find(|c| c.is_passive())
}

/// The connection to import into: the one named (it must be the user's, and of statement files),
/// else the user's first statement-files connection, created at the first import (then `true`).
async fn target_connection(
    store: &Store,
    key: &MasterKey,
    connector: &Connector,
    id_user: i64,
    id_connection: Option<i64>,
) -> Result<(Connection, bool), ImportError> {
    if let Some(id) = id_connection {
        return match store.connection(id_user, id).await? {
            Some(c) if c.id_connector == connector.id => Ok((c, false)),
            _ => Err(ImportError::NotAStatementConnection(id)),
        };
    }
    let connections = store.connections_of_user(id_user, true).await?;
    if let Some(connection) = connections.into_iter().find(|c| c.id_connector == connector.id) {
        return Ok((connection, false));
    }
    let id = store.create_connection(id_user, connector, &Credentials::default(), key).await?;
    let connection = store.connection(id_user, id).await?.ok_or(ImportError::NotAStatementConnection(id))?;
    Ok((connection, true))
}

/// What the parser hands to the writer: chunks of events, then how the file ended.
enum Parsed {
    Events(Vec<Event>),
    Done(Result<Format, ImportError>),
}

async fn next(parsed: &mut mpsc::Receiver<Parsed>) -> Parsed {
    let panicked = || Parsed::Done(Err(ImportError::Read("the parser stopped unexpectedly".into())));
    parsed.recv().await.unwrap_or_else(panicked)
}

/// Parses the file (format detected from its head unless given), sending its events in chunks.
/// Once the writer has given up (the channel is closed), the file reads as failed, which stops
/// the parser at its next read.
fn read(
    file: impl Read,
    format: Option<Format>,
    options: &statements::Options,
    sender: &mpsc::Sender<Parsed>,
) -> Result<Format, ImportError> {
    let stopped = Cell::new(false);
    let mut reader = BufReader::with_capacity(256 * 1024, Stoppable { inner: file, stopped: &stopped });
    let format = match format {
        Some(format) => format,
        None => {
            let head = reader.fill_buf().map_err(|e| ImportError::Read(e.to_string()))?;
            statements::detect(head).ok_or(ImportError::UnknownFormat)?
        }
    };
    let mut chunk = Vec::with_capacity(CHUNK_EVENTS);
    let send = |chunk: Vec<Event>| {
        if sender.blocking_send(Parsed::Events(chunk)).is_err() {
            stopped.set(true);
        }
    };
    statements::parse(format, reader, options, &mut |event| {
        chunk.push(event);
        if chunk.len() == CHUNK_EVENTS {
            send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_EVENTS)));
        }
    })?;
    if !chunk.is_empty() {
        send(chunk);
    }
    Ok(format)
}

/// A reader that fails once `stopped` is set.
struct Stoppable<'a, R> {
    inner: R,
    stopped: &'a Cell<bool>,
}

impl<R: Read> Read for Stoppable<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.stopped.get() {
            return Err(std::io::Error::other("the import stopped"));
        }
        self.inner.read(buf)
    }
}
