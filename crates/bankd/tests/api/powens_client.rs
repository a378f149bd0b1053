//! A Powens app's first journey, through pybudgea, the published generated Python SDK of the
//! Budgea/Powens 2.0 API (tests/powens/journey.py): the test that an app written for Powens works
//! against bankd by changing its base URL.
//!
//! Needs a Python with the SDK (`pip install -r tests/powens/requirements.txt`), named by
//! `BANKD_TEST_POWENS_PYTHON`; `.ci/run` makes one. Skipped, with a visible message, without it.

use crate::helpers::TestApp;

#[tokio::test]
async fn a_powens_app_connects_a_bank_and_reads_accounts_and_transactions_through_the_sdk() {
    let Some(python) = std::env::var_os("BANKD_TEST_POWENS_PYTHON") else {
        eprintln!(
            "skipped: set BANKD_TEST_POWENS_PYTHON to a Python with pybudgea (see tests/powens/requirements.txt)"
        );
        return;
    };
    let app = TestApp::spawn().await;
    let journey = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/powens/journey.py");
    let output = tokio::process::Command::new(python)
        .args([journey, &app.base, &app.client_id, &app.client_secret])
        .output()
        .await
        .expect("run the pybudgea journey");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the journey through pybudgea failed:\n{text}");
    assert!(text.contains("ok: a second sync duplicates nothing"), "{text}");
}
