//! The Connect webview in a real browser (tests/webview/test_webview.py): Playwright drives Debian's
//! Chromium through every journey of the webview's UI contract — connect (new user, OTP, web
//! authentication, decoupled, wrong password), reconnect, manage, refusals, cancel — and checks each
//! outcome through the API.
//!
//! Needs a Python with Playwright (`pip install -r tests/webview/requirements.txt`), named by
//! `BANKD_TEST_PLAYWRIGHT_PYTHON`, and Chromium at `BANKD_TEST_CHROMIUM` (default /usr/bin/chromium);
//! `.ci/run` makes both. Skipped, with a visible message, without the Python. A PNG of each step
//! lands in target/webview-screenshots; with `BANKD_DOCS_SCREENSHOTS=<absolute dir>` the connect
//! journey is also saved there at a desktop and a phone size.

use std::time::Duration;

use crate::helpers::{SANDBOX_UUID, TestApp};

/// Ten journeys, one of which waits on a decoupled validation: minutes at most.
const RUN_LIMIT: Duration = Duration::from_secs(300);

#[tokio::test]
async fn the_connect_webview_works_in_a_real_browser() {
    let Some(python) = std::env::var_os("BANKD_TEST_PLAYWRIGHT_PYTHON") else {
        eprintln!(
            "skipped: set BANKD_TEST_PLAYWRIGHT_PYTHON to a Python with Playwright (see tests/webview/requirements.txt) \
             to drive the webview in Chromium"
        );
        return;
    };
    let app = TestApp::spawn().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webview/test_webview.py");
    let screenshots = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/webview-screenshots");
    let mut command = tokio::process::Command::new(python);
    command
        .arg(script)
        .env("BANKD_BASE", &app.base)
        .env("BANKD_CLIENT_ID", &app.client_id)
        .env("BANKD_CLIENT_SECRET", &app.client_secret)
        .env("BANKD_REDIRECT_URI", "https://app.example/callback")
        .env("BANKD_SANDBOX_UUID", SANDBOX_UUID)
        .env("BANKD_SCREENSHOTS", screenshots)
        .kill_on_drop(true);
    // Inherited anyway; said here so that the docs' screenshots are seen to come through this test.
    if let Some(docs) = std::env::var_os("BANKD_DOCS_SCREENSHOTS") {
        command.env("BANKD_DOCS_SCREENSHOTS", docs);
    }
    let output = tokio::time::timeout(RUN_LIMIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("the browser journeys took over {RUN_LIMIT:?}; screenshots in {screenshots}"))
        .expect("run tests/webview/test_webview.py");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the webview in Chromium failed (screenshots in {screenshots}):\n{text}");
    assert!(text.contains("webview: ") && text.contains(" passed, 0 failed"), "{text}");
}
