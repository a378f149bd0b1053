//! The use-cases both front ends run: the API's handlers and the webview's pages translate HTTP into
//! these calls and their results into JSON or pages, so a rule (a credential's form, a refused
//! login keeping nothing, enabling an account fetching it, how an uploaded file is read) exists once.
//!
//! They take the shared [`AppState`](crate::state::AppState) and answer in the API's error type,
//! whose Powens codes (`wrongpass`, `connectionLocked`, …) both front ends show in their own way.

pub mod accounts;
pub mod connections;
pub mod exports;
pub mod psd2;
pub mod simplefin;
pub mod statements;

tokio::task_local! {
    /// The address of the person behind the request, for banks that want it (PSD2's
    /// `PSU-IP-Address`): set for every request by `http::middleware`, carried by the syncs the
    /// person asks for.
    pub static CLIENT_IP: Option<String>;
}
