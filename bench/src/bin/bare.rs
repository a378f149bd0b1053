//! The anchor of the API benchmarks: a bare axum handler answering the same bytes as the bankd
//! route it stands beside, with nothing else (no auth, no database, no logging).
//!
//! bare ADDRESS BODY_FILE

use axum::Router;
use axum::http::header;
use axum::routing::get;
use bytes::Bytes;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (address, file) = (args.next().expect("ADDRESS"), args.next().expect("BODY_FILE"));
    let body = Bytes::from(std::fs::read(&file).expect("read BODY_FILE"));
    let app = Router::new().fallback(get(move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    }));
    let listener = tokio::net::TcpListener::bind(&address).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
