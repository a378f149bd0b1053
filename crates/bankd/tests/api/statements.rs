//! Statement files through the API: `POST /2.0/users/me/statements` imports into the user's
//! Statement-files connection, re-imports add nothing, bad files change nothing.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::helpers::{TestApp, TestUser, assert_error, read};

/// An OFX 1.x (SGML) statement of one account: `rows` are (day of November 2026, amount, FITID,
/// name), `closing` the ledger balance at `closing_day`.
pub fn ofx(rows: &[(u32, &str, &str, &str)], closing: &str, closing_day: u32) -> String {
    let transactions: String = rows
        .iter()
        .map(|(day, amount, fitid, name)| {
            format!("<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>202611{day:02}<TRNAMT>{amount}<FITID>{fitid}<NAME>{name}</STMTTRN>\r\n")
        })
        .collect();
    format!(
        "OFXHEADER:100\r\nDATA:OFXSGML\r\nVERSION:102\r\nSECURITY:NONE\r\nENCODING:USASCII\r\nCHARSET:1252\r\n\
         COMPRESSION:NONE\r\nOLDFILEUID:NONE\r\nNEWFILEUID:NONE\r\n\r\n<OFX>\r\n<BANKMSGSRSV1><STMTTRNRS><TRNUID>1\r\n\
         <STATUS><CODE>0<SEVERITY>INFO</STATUS>\r\n<STMTRS><CURDEF>EUR\r\n<BANKACCTFROM><BANKID>30004<BRANCHID>00001\
         <ACCTID>00012345678<ACCTTYPE>CHECKING</BANKACCTFROM>\r\n<BANKTRANLIST><DTSTART>20261101<DTEND>20261130\r\n\
         {transactions}</BANKTRANLIST>\r\n<LEDGERBAL><BALAMT>{closing}<DTASOF>202611{closing_day:02}</LEDGERBAL>\r\n\
         </STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\r\n"
    )
}

pub async fn upload(
    app: &TestApp,
    user: &TestUser,
    name: &str,
    body: String,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = Form::new().part("file", Part::text(body).file_name(name.to_owned()));
    for (key, value) in extra {
        form = form.text(key.to_string(), value.to_string());
    }
    let request = app.http.post(app.url("/2.0/users/me/statements")).bearer_auth(&user.token).multipart(form);
    read(request.send().await.unwrap()).await
}

async fn imported(app: &TestApp, user: &TestUser, body: String) -> Value {
    let (status, answer) = upload(app, user, "statement.ofx", body, &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer
}

const NOVEMBER: [(u32, &str, &str, &str); 4] = [
    (3, "-42.50", "F1", "CB MONOPRIX"),
    (3, "-3.20", "F2", "CB BOULANGERIE"),
    (10, "2500.00", "F3", "VIR SALAIRE ACME"),
    (12, "-850.00", "F4", "PRLV LOYER"),
];

#[tokio::test]
async fn an_import_creates_enabled_accounts_and_a_reimport_adds_nothing() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let first = imported(&app, &user, ofx(&NOVEMBER[..3], "1500.00", 10)).await;
    assert_eq!((first["format"].as_str(), first["statements"].as_i64()), (Some("ofx"), Some(1)));
    assert_eq!(
        (first["added"].as_i64(), first["updated"].as_i64(), first["unchanged"].as_i64()),
        (Some(3), Some(0), Some(0))
    );
    let account = &first["accounts"][0];
    assert!(account["disabled"].is_null(), "the upload is the consent: {account}");
    assert_eq!((account["number"].as_str(), account["balance"].as_f64()), (Some("00012345678"), Some(1500.0)));
    assert_eq!(first["connection"]["connector_uuid"], "5b8f3c2e-8f0a-5c4e-9d57-5f1c2b7a9e10");

    // The same file again, then a newer one overlapping it: only the new row is added.
    let again = imported(&app, &user, ofx(&NOVEMBER[..3], "1500.00", 10)).await;
    assert_eq!((again["added"].as_i64(), again["unchanged"].as_i64()), (Some(0), Some(3)));
    let newer = imported(&app, &user, ofx(&NOVEMBER[1..], "650.00", 12)).await;
    assert_eq!((newer["added"].as_i64(), newer["unchanged"].as_i64()), (Some(1), Some(2)));
    assert_eq!(newer["connection"]["id"], first["connection"]["id"], "one connection for the user's files");
    assert_eq!(newer["accounts"][0]["id"], account["id"], "the same account, recognised by its number");
    assert_eq!(newer["accounts"][0]["balance"].as_f64(), Some(650.0));
    // An older statement imported last does not roll the balance back.
    let older = imported(&app, &user, ofx(&NOVEMBER[..1], "1542.50", 3)).await;
    assert_eq!(older["accounts"][0]["balance"].as_f64(), Some(650.0));

    let (_, listed) = app.get("/2.0/users/me/transactions?limit=100", &user.token).await;
    let wordings: Vec<&str> =
        listed["transactions"].as_array().unwrap().iter().map(|t| t["original_wording"].as_str().unwrap()).collect();
    assert_eq!(wordings, ["PRLV LOYER", "VIR SALAIRE ACME", "CB BOULANGERIE", "CB MONOPRIX"]);
    let path = format!("/2.0/users/me/connections/{}/logs", first["connection"]["id"]);
    let (_, logs) = app.get(&path, &user.token).await;
    assert_eq!(logs["total"], 4, "one log row per import");
    // A sync of a statement connection has nothing to fetch, and changes nothing.
    let synced = app.resync(&user, &first["connection"]["id"]).await;
    assert!(synced["state"].is_null(), "{synced}");
}

/// Found by scripts/fuzz-api: a body that is not multipart got axum's plain-text rejection.
#[tokio::test]
async fn an_upload_that_is_not_multipart_gets_the_error_envelope() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let request = app.http.post(app.url("/2.0/users/me/statements")).bearer_auth(&user.token);
    let got = read(request.try_clone().unwrap().send().await.unwrap()).await;
    assert_error(&got, StatusCode::BAD_REQUEST, "invalidValue");
    let json = request.header("content-type", "application/json").body("{}").send().await.unwrap();
    assert_error(&read(json).await, StatusCode::BAD_REQUEST, "invalidValue");
}

#[tokio::test]
async fn a_malformed_file_is_refused_with_where_and_why_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let broken = ofx(&NOVEMBER, "1.00", 30).replace("<TRNAMT>-3.20", "<TRNAMT>three");
    let refused = upload(&app, &user, "broken.ofx", broken, &[]).await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "invalidStatement");
    let description = refused.1["description"].as_str().unwrap();
    assert!(description.starts_with("ofx statement, line ") && description.contains("three"), "{description}");
    let (_, connections) = app.get("/2.0/users/me/connections", &user.token).await;
    assert_eq!(connections["connections"].as_array().unwrap().len(), 0, "{connections}");
    let unknown = upload(&app, &user, "notes.txt", "hello".into(), &[]).await;
    assert_error(&unknown, StatusCode::BAD_REQUEST, "invalidValue");
    let wrong_format = upload(&app, &user, "s.ofx", ofx(&NOVEMBER, "1.00", 30), &[("format", "pdf")]).await;
    assert_error(&wrong_format, StatusCode::BAD_REQUEST, "invalidValue");
}

#[tokio::test]
async fn files_go_only_into_the_users_own_statement_connections() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let bank = app.connected(&user, "demo").await;
    let id = bank["id"].to_string();
    let refused = upload(&app, &user, "s.ofx", ofx(&NOVEMBER, "1.00", 30), &[("id_connection", &id)]).await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "invalidValue");
    let other = app.create_user().await;
    let theirs = imported(&app, &other, ofx(&NOVEMBER, "1.00", 30)).await;
    let id = theirs["connection"]["id"].to_string();
    let refused = upload(&app, &user, "s.ofx", ofx(&NOVEMBER, "1.00", 30), &[("id_connection", &id)]).await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "invalidValue");
}

#[tokio::test]
async fn a_file_over_the_upload_limit_is_refused_before_it_is_read() {
    let app = TestApp::spawn_with(|settings| settings.max_upload_bytes = 1000).await;
    let user = app.create_user().await;
    let big = ofx(&NOVEMBER, "1.00", 30) + &" ".repeat(2000);
    assert_error(&upload(&app, &user, "s.ofx", big, &[]).await, StatusCode::PAYLOAD_TOO_LARGE, "payloadTooLarge");
}

#[tokio::test]
async fn csv_columns_are_guessed_or_given() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let french = "Date;Libellé;Débit;Crédit\r\n03/11/2026;CB MONOPRIX;42,50;\r\n10/11/2026;VIR SALAIRE;;2500,00\r\n";
    let (status, guessed) = upload(&app, &user, "releve.csv", french.into(), &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{guessed}");
    assert_eq!((guessed["format"].as_str(), guessed["added"].as_i64()), (Some("csv"), Some(2)));
    assert_eq!(guessed["accounts"][0]["balance"].as_f64(), Some(2457.5), "no balance in the file: what it added");
    let bare = "2026-11-12|-850.00|PRLV LOYER\n";
    let mapping =
        r#"{"delimiter": "|", "has_header": false, "date_format": "%Y-%m-%d", "date": 0, "amount": 1, "wording": [2]}"#;
    let id = guessed["connection"]["id"].to_string();
    let (status, given) =
        upload(&app, &user, "export.txt", bare.into(), &[("format", "csv"), ("csv", mapping), ("id_connection", &id)])
            .await;
    assert_eq!((status, given["added"].as_i64()), (StatusCode::CREATED, Some(1)), "{given}");
    let wrong = upload(&app, &user, "export.txt", bare.into(), &[("format", "csv"), ("csv", r#"{"date": 0}"#)]).await;
    assert_error(&wrong, StatusCode::BAD_REQUEST, "invalidValue");
}

/// A camt.052 report of one account: `entries` are (day of November 2026, amount, status, reference).
fn camt(entries: &[(u32, &str, &str, &str)]) -> String {
    let entries: String = entries
        .iter()
        .map(|(day, amount, status, reference)| {
            format!(
                "<Ntry><Amt Ccy=\"EUR\">{}</Amt><CdtDbtInd>{}</CdtDbtInd><Sts>{status}</Sts>\
                 <BookgDt><Dt>2026-11-{day:02}</Dt></BookgDt><AcctSvcrRef>{reference}</AcctSvcrRef>\
                 <AddtlNtryInf>CB CAFE</AddtlNtryInf></Ntry>",
                amount.trim_start_matches('-'),
                if amount.starts_with('-') { "DBIT" } else { "CRDT" },
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.052.001.08\">\
         <BkToCstmrAcctRpt><Rpt><Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id><Ccy>EUR</Ccy></Acct>\
         {entries}</Rpt></BkToCstmrAcctRpt></Document>"
    )
}

#[tokio::test]
async fn pending_entries_turn_booked_and_vanish_only_within_the_dates_a_file_covers() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let report = camt(&[(20, "-20.00", "PDNG", "P1"), (21, "-7.00", "PDNG", "P2"), (28, "-5.00", "PDNG", "P3")]);
    let first = imported(&app, &user, report).await;
    assert_eq!(first["added"], 3);
    // The statement books P1 under its own reference, no longer lists P2 (within its dates), and
    // stops before P3's date.
    let statement = camt(&[(20, "-3.00", "BOOK", "B0"), (21, "-20.00", "BOOK", "B1"), (22, "-1.00", "BOOK", "B2")]);
    let second = imported(&app, &user, statement).await;
    assert_eq!((second["added"].as_i64(), second["updated"].as_i64()), (Some(2), Some(1)), "{second}");
    let (_, listed) = app.get("/2.0/users/me/transactions?limit=100", &user.token).await;
    let rows: Vec<(f64, bool)> = listed["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["value"].as_f64().unwrap(), t["coming"].as_bool().unwrap()))
        .collect();
    assert_eq!(rows, [(-5.0, true), (-1.0, false), (-20.0, false), (-3.0, false)], "{listed}");
}

/// A QIF file of `n` card payments, identical ones on each day (so their webids are ranked
/// fingerprints), followed by `tail`.
pub fn payments(n: usize, tail: &str) -> String {
    let mut qif = String::from("!Type:Bank\n");
    for i in 0..n {
        qif += &format!("D{:02}/11/2026\nT-{}.50\nPCB CAFE\n^\n", 13 + i % 17, i % 3);
    }
    qif + tail
}

#[tokio::test]
async fn a_file_of_several_batches_reimports_to_nothing_and_fails_whole() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    // More entries than one written batch (10,000).
    let first = imported(&app, &user, payments(12_345, "")).await;
    assert_eq!((first["format"].as_str(), first["added"].as_i64()), (Some("qif"), Some(12_345)));
    let again = imported(&app, &user, payments(12_346, "")).await;
    assert_eq!((again["added"].as_i64(), again["unchanged"].as_i64()), (Some(1), Some(12_345)), "{again}");

    // An error after the first batch was written: the whole file is refused, nothing stays.
    let broken = payments(12_400, "D30/11/2026\nTbroken\n^\n");
    let refused = upload(&app, &user, "late.qif", broken.clone(), &[]).await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "invalidStatement");
    let (_, listed) = app.get("/2.0/users/me/transactions?limit=1", &user.token).await;
    assert_eq!(listed["total"], 12_346, "{listed}");
    let path = format!("/2.0/users/me/connections/{}/logs", first["connection"]["id"]);
    assert_eq!(app.get(&path, &user.token).await.1["total"], 2, "a refused file leaves no log row");
    // A first import that fails leaves no empty connection behind.
    let newcomer = app.create_user().await;
    assert_error(&upload(&app, &newcomer, "late.qif", broken, &[]).await, StatusCode::BAD_REQUEST, "invalidStatement");
    let (_, connections) = app.get("/2.0/users/me/connections", &newcomer.token).await;
    assert_eq!(connections["connections"], serde_json::json!([]), "{connections}");
}

#[tokio::test]
async fn one_file_uploaded_twice_at_once_is_added_once() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    imported(&app, &user, ofx(&NOVEMBER[..1], "1.00", 3)).await;
    let file = || upload(&app, &user, "s.qif", payments(500, ""), &[]);
    let ((one, a), (two, b)) = tokio::join!(file(), file());
    assert_eq!((one, two), (StatusCode::CREATED, StatusCode::CREATED), "{a} {b}");
    let mut added = [a["added"].as_i64().unwrap(), b["added"].as_i64().unwrap()];
    added.sort();
    assert_eq!(added, [0, 500]);
}

#[tokio::test]
async fn files_that_bend_their_standard_are_read_with_warnings_kept_in_the_log() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    // An MT940 amount without its decimal comma (as Knab writes some): whole units.
    let mt940 = ":20:STMT1\n:25:NL91ABNA0417164300\n:28C:1/1\n:60F:C261102EUR100,00\n\
                 :61:261103C500NTRFNONREF//B1\n:86:Refund\n:62F:C261103EUR600,00\n-\n";
    let (status, answer) = upload(&app, &user, "knab.sta", mt940.into(), &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["added"], 1);
    assert_eq!(
        answer["warnings"],
        serde_json::json!([{"where": "line 5", "what": "amount `500` without its decimal comma",
                            "assumed": "500,00: whole units"}])
    );
    assert!(answer.get("warnings_omitted").is_none(), "nothing was dropped: {answer}");
    // A camt.053.001.08 balance without CdtDbtInd: a credit.
    let camt = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><GrpHdr><MsgId>M1</MsgId></GrpHdr>
<Stmt><Id>S1</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">1234.56</Amt><Dt><Dt>2026-11-30</Dt></Dt></Bal>
</Stmt></BkToCstmrStmt></Document>"#;
    let (status, answer) = upload(&app, &user, "statement.xml", camt.into(), &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["accounts"][0]["balance"].as_f64(), Some(1234.56));
    assert_eq!(
        answer["warnings"],
        serde_json::json!([{"where": "Document/BkToCstmrStmt/Stmt[1]/Bal[1]", "what": "balance without CdtDbtInd",
                            "assumed": "CRDT: a credit balance of 1234.56"}])
    );
    // A file read as written has none.
    let clean = imported(&app, &user, ofx(&NOVEMBER[..1], "1.00", 3)).await;
    assert_eq!(clean["warnings"], serde_json::json!([]));

    // Each import's log row keeps its warnings; the clean one shows none.
    let path = format!("/2.0/users/me/connections/{}/logs", answer["connection"]["id"]);
    let (_, logs) = app.get(&path, &user.token).await;
    let logs = logs["connectionlogs"].as_array().unwrap();
    let [ofx_log, camt_log, mt940_log] = logs.as_slice() else { panic!("three imports: {logs:?}") };
    assert!(ofx_log.get("warnings").is_none(), "{ofx_log}");
    assert_eq!(camt_log["warnings"][0]["what"], "balance without CdtDbtInd", "{camt_log}");
    assert_eq!(mt940_log["warnings"][0]["where"], "line 5", "{mt940_log}");
    assert_eq!(mt940_log["warnings"][0]["assumed"], "500,00: whole units");
    assert!(mt940_log.get("warnings_omitted").is_none());
}
