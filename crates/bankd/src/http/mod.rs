//! What the HTTP surfaces share: [`extract`]ors that turn a request into [`Params`] and a
//! [`Caller`] (or an error envelope), the [`middleware`] every request crosses (request id, access
//! log, the person's address, panic → envelope), and the operator endpoints of [`ops`] (`/health`,
//! `/metrics`). The API and the webview both stand on it; `startup` puts the layers around the
//! whole router.
//!
//! [`Params`]: crate::wire::params::Params
//! [`Caller`]: extract::Caller

pub mod extract;
pub mod middleware;
pub mod ops;
