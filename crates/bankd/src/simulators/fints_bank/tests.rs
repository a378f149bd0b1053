//! The bank served on a real listener, spoken to with real messages built by the `fints` crate.

use std::io::Cursor;

use axum::Router;
use chrono::{Days, NaiveDate, Utc};
use fints::message::{ONE_STEP, Signer, from_wire, request, to_wire};
use fints::{Message, Segment};
use statements::{Event, mt940};

use super::ledger::{self, CAMT_02, CAMT_08};

/// The whole sandbox (every bank) on a free port; the FinTS bank's URL.
async fn serve() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().nest("/sandbox", crate::simulators::router(&format!("http://{address}"), false));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/sandbox/fints")
}

fn today() -> NaiveDate {
    Utc::now().with_timezone(&chrono_tz::Europe::Berlin).date_naive()
}

fn ymd(day: NaiveDate) -> String {
    day.format("%Y%m%d").to_string()
}

/// A FinTS client as small as a test needs: one dialog at a time.
struct Client {
    http: reqwest::Client,
    url: String,
    login: String,
    pin: String,
    function: String,
    system_id: String,
    dialog: String,
    number: u32,
}

impl Client {
    fn new(url: &str, login: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            url: url.to_owned(),
            login: login.to_owned(),
            pin: "1234".into(),
            function: ONE_STEP.into(),
            system_id: "0".into(),
            dialog: "0".into(),
            number: 0,
        }
    }

    async fn post(&self, body: String) -> Message {
        let response = self.http.post(&self.url).body(body).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(content_type, "text/plain; charset=ISO-8859-1");
        Message::decode(&from_wire(&response.bytes().await.unwrap()).unwrap()).unwrap()
    }

    /// The next message of the dialog, signed with the PIN (and `tan`).
    async fn send(&mut self, segments: Vec<Segment>, tan: Option<&str>) -> Message {
        self.number += 1;
        let signer = Signer {
            bank_code: "99999999",
            user_id: &self.login,
            system_id: &self.system_id,
            security_function: &self.function,
            pin: &self.pin,
            tan,
            control_reference: "4711",
            date: "20260101",
            time: "120000",
        };
        let answer = self.post(to_wire(&request(&self.dialog, self.number, &signer, segments))).await;
        self.dialog = answer.dialog_id().unwrap().to_owned();
        answer
    }

    fn opening(&self) -> Vec<Segment> {
        let system_id = self.system_id.as_str();
        vec![
            Segment::new("HKIDN", 2).push(["280", "99999999"]).push(self.login.as_str()).push(system_id).push("1"),
            Segment::new("HKVVB", 3).push("0").push("0").push("0").push("BANKDTEST").push("1.0"),
        ]
    }

    /// The sync dialog: its first answer; the system id is kept and the dialog ended.
    async fn sync(&mut self) -> Message {
        (self.function, self.system_id, self.dialog, self.number) = (ONE_STEP.into(), "0".into(), "0".into(), 0);
        let mut segments = self.opening();
        segments.push(Segment::new("HKSYN", 3).push("0"));
        let answer = self.send(segments, None).await;
        if let Some(hisyn) = answer.find("HISYN") {
            self.system_id = hisyn.text(0, 0).unwrap().to_owned();
            let dialog = self.dialog.clone();
            assert_eq!(codes(&self.send(vec![Segment::new("HKEND", 1).push(dialog)], None).await), ["0010", "0100"]);
        }
        answer
    }

    /// A regular dialog start signed with TAN procedure `function`.
    async fn init(&mut self, function: &str) -> Message {
        (self.function, self.dialog, self.number) = (function.into(), "0".into(), 0);
        let mut segments = self.opening();
        segments.push(Segment::new("HKTAN", 7).push("4").push("HKIDN"));
        self.send(segments, None).await
    }

    async fn end(&mut self) {
        let dialog = self.dialog.clone();
        self.send(vec![Segment::new("HKEND", 1).push(dialog)], None).await;
    }

    async fn accounts(&mut self) -> Vec<Vec<String>> {
        let answer = self.send(vec![Segment::new("HKSPA", 1)], None).await;
        let hispa = answer.find("HISPA").unwrap();
        hispa.elements.iter().map(|e| e.texts_from(1).into_iter().map(str::to_owned).collect()).collect()
    }
}

fn codes(message: &Message) -> Vec<String> {
    message.feedback().into_iter().map(|f| f.code).collect()
}

fn feedback(message: &Message, wanted: &str) -> fints::Feedback {
    message.feedback().into_iter().find(|f| f.code == wanted).unwrap_or_else(|| panic!("no {wanted}: {message:?}"))
}

fn hkkaz(account: &[String], from: Option<NaiveDate>, touchdown: Option<&str>) -> Segment {
    Segment::new("HKKAZ", 7)
        .push(account.to_vec())
        .push("N")
        .push(from.map(ymd).unwrap_or_default())
        .push(ymd(today()))
        .push("")
        .push(touchdown.unwrap_or_default())
}

fn hkcaz(account: &[String], from: Option<NaiveDate>) -> Segment {
    Segment::new("HKCAZ", 1)
        .push(account.to_vec())
        .push([CAMT_08, CAMT_02])
        .push("N")
        .push(from.map(ymd).unwrap_or_default())
        .push(ymd(today()))
}

fn parse_mt940(bytes: &[u8]) -> Vec<Event> {
    let mut events = Vec::new();
    mt940::parse(Cursor::new(bytes), &mut |e| events.push(e)).unwrap();
    events
}

fn entries(events: &[Event]) -> Vec<&statements::Entry> {
    events.iter().filter_map(|e| if let Event::Entry(entry) = e { Some(entry) } else { None }).collect()
}

#[tokio::test]
async fn the_bank_answers_at_post_sandbox_fints_exactly() {
    let url = serve().await;
    let http = reqwest::Client::new();
    let slash = http.post(format!("{url}/")).body("").send().await.unwrap();
    assert_eq!(slash.status(), 404);
    let mut client = Client::new(&url, "demo");
    assert_eq!(client.sync().await.dialog_id().map(|d| d != "0"), Some(true));
}

#[tokio::test]
async fn each_login_starts_its_dialog_as_scripted() {
    let url = serve().await;
    for login in ["demo", "camt", "mt940", "oldtan"] {
        let mut client = Client::new(&url, login);
        let sync = client.sync().await;
        assert_eq!(codes(&sync), ["0010", "3060", "0020", "3920", "0020", "0020"], "{login}");
        assert_eq!(feedback(&sync, "3920").params, ["912"]);
        let kinds: Vec<&str> = sync.business().map(|s| s.kind.as_str()).filter(|k| !k.starts_with("HIRM")).collect();
        let (kaz, caz) = (kinds.contains(&"HIKAZS"), kinds.contains(&"HICAZS"));
        assert_eq!((kaz, caz), (login != "camt", login != "mt940"), "{login}: {kinds:?}");
        assert_eq!(sync.all("HITANS").map(|s| s.version).collect::<Vec<_>>(), [6, 7]);
        assert_eq!(sync.all("HITANS").map(|s| s.element(3).unwrap().0.len()).collect::<Vec<_>>(), [45, 55]);
        assert_eq!(sync.all("HIUPD").count(), 2);
        assert_eq!(sync.find("HIBPA").unwrap().text(2, 0), Some("Sandbox Bank (FinTS)"));
        let init = client.init("912").await;
        assert_eq!(codes(&init), ["0010", "3060", "0020", "3920", "0020", "3076"], "{login}");
        client.end().await;
    }

    // `tan`: two procedures; 912 asks for the TAN, a wrong one can be corrected; then exempt.
    let mut tan = Client::new(&url, "tan");
    assert_eq!(feedback(&tan.sync().await, "3920").params, ["912", "946"]);
    let init = tan.init("912").await;
    assert!(codes(&init).contains(&"0030".to_owned()), "{init:?}");
    let hitan = init.find("HITAN").unwrap();
    assert_eq!(hitan.text(0, 0), Some("4"));
    assert_eq!(hitan.text(3, 0), Some("Bitte geben Sie die TAN 123456 aus Ihrer Sandbox-TAN-Liste ein."));
    let task = hitan.text(2, 0).unwrap().to_owned();
    let before = tan.send(vec![Segment::new("HKSPA", 1)], None).await;
    assert_eq!(codes(&before), ["9050", "9075"], "no business before the SCA");
    let answer_tan =
        |task: &str| vec![Segment::new("HKTAN", 7).push("2").push("").push("").push("").push(task).push("N")];
    let wrong = tan.send(answer_tan(&task), Some("654321")).await;
    assert_eq!(feedback(&wrong, "9941").text, "TAN ungültig.");
    let right = tan.send(answer_tan(&task), Some("123456")).await;
    assert_eq!(codes(&right), ["0010", "0020"]);
    assert_eq!(tan.accounts().await.len(), 2);
    tan.end().await;
    assert!(codes(&tan.init("912").await).contains(&"3076".to_owned()), "exempt after an SCA");

    for (login, expected) in [
        ("locked", vec!["9050", "3938"]),
        ("unregistered", vec!["9078", "9078"]),
        ("busy", vec!["9999"]),
        ("stranger", vec!["9050", "9931"]),
    ] {
        let answer = Client::new(&url, login).sync().await;
        assert_eq!(codes(&answer), expected, "{login}");
        assert_eq!(answer.dialog_id(), Some("0"), "{login}: no dialog");
    }
    let locked = Client::new(&url, "locked").sync().await;
    assert_eq!(feedback(&locked, "3938").text, "Ihr Zugang ist vorläufig gesperrt - Bitte PIN-Sperre aufheben.");
}

#[tokio::test]
async fn a_wrong_pin_or_product_or_system_id_is_refused() {
    let url = serve().await;
    let mut client = Client::new(&url, "demo");
    client.pin = "0000".into();
    let answer = client.sync().await;
    assert_eq!(codes(&answer), ["9050", "9931"]);
    assert_eq!(feedback(&answer, "9931").text, "Anmeldename oder PIN ist falsch.");
    client.pin = "1234".into();
    client.system_id = "0123456789ABCDEF01234567".into();
    assert!(codes(&client.init("912").await).contains(&"9010".to_owned()), "a system id the bank never issued");
    client.sync().await;
    assert!(codes(&client.init("946").await).contains(&"9955".to_owned()), "demo may not use 946");
    let (wire, mut hkvvb) = (client.opening(), client.opening().remove(1));
    hkvvb.elements[3] = "".into();
    (client.dialog, client.number) = ("0".into(), 0);
    assert_eq!(codes(&client.send(vec![wire[0].clone(), hkvvb], None).await), ["9078", "9078"]);
}

#[tokio::test]
async fn message_numbers_must_follow_and_unknown_dialogs_are_aborted() {
    let url = serve().await;
    let mut client = Client::new(&url, "demo");
    client.sync().await;
    client.init("912").await;
    client.number += 1; // skips one
    assert_eq!(codes(&client.send(vec![Segment::new("HKSPA", 1)], None).await), ["9120"]);
    client.number -= 2;
    assert_eq!(client.accounts().await.len(), 2, "the dialog goes on with the right number");
    client.dialog = "NOSUCHDIALOG".into();
    assert_eq!(codes(&client.send(vec![Segment::new("HKSPA", 1)], None).await), ["9800"]);
}

#[tokio::test]
async fn decoupled_is_approved_at_the_second_poll() {
    let url = serve().await;
    let mut client = Client::new(&url, "decoupled");
    assert_eq!(feedback(&client.sync().await, "3920").params, ["946"]);
    let init = client.init("946").await;
    assert_eq!(feedback(&init, "3955").text, "Bitte bestätigen Sie den Vorgang in Ihrer Sandbox-App.");
    let task = init.find("HITAN").unwrap().text(2, 0).unwrap().to_owned();
    let poll = || vec![Segment::new("HKTAN", 7).push("S").push("").push("").push("").push(task.as_str()).push("N")];
    assert_eq!(codes(&client.send(poll(), None).await), ["0010", "3060", "3956"]);
    assert_eq!(codes(&client.send(poll(), None).await), ["0010", "0020"]);
    assert_eq!(client.accounts().await.len(), 2);
    client.end().await;
    assert!(codes(&client.init("946").await).contains(&"3076".to_owned()), "exempt after an SCA");
}

#[tokio::test]
async fn mt940_pages_are_cut_inside_86_and_join_into_one_statement() {
    let url = serve().await;
    let mut client = Client::new(&url, "mt940");
    client.sync().await;
    client.init("912").await;
    let account = client.accounts().await.remove(0);
    let from = today() - Days::new(120);
    let (mut booked, mut pending, mut touchdown, mut pages) = (Vec::new(), Vec::new(), None::<String>, 0);
    loop {
        let answer = client.send(vec![hkkaz(&account, Some(from), touchdown.as_deref())], None).await;
        let hikaz = answer.find("HIKAZ").unwrap();
        let page = hikaz.binary(0).unwrap();
        if let Some(mt942) = hikaz.binary(1) {
            pending.extend_from_slice(mt942);
        }
        touchdown = answer.feedback().into_iter().find(|f| f.code == "3040").map(|f| f.params[0].clone());
        if touchdown.is_some() {
            // The page stops inside a `:86:` field: its last field opened is `:86:`, unfinished.
            let text = String::from_utf8_lossy(page);
            let last_field = text.rfind("\r\n:").unwrap();
            assert!(text[last_field..].starts_with("\r\n:86:") && !text.ends_with("\r\n"), "{}", &text[last_field..]);
        }
        booked.extend_from_slice(page);
        pages += 1;
        if touchdown.is_none() {
            break;
        }
    }
    assert!(pages >= 3, "{pages} pages");
    let events = parse_mt940(&booked);
    let rows = entries(&events);
    assert_eq!(rows.len(), booked.windows(4).filter(|w| w == b":61:").count());
    assert!(rows.len() > 2 * super::MT940_PAGE);
    let balances: Vec<_> =
        events.iter().filter_map(|e| if let Event::Balance(b) = e { Some(b.amount) } else { None }).collect();
    assert_eq!(balances[0] + rows.iter().map(|r| r.amount).sum::<rust_decimal::Decimal>(), balances[1]);
    let pending = entries(&parse_mt940(&pending)).into_iter().cloned().collect::<Vec<_>>();
    assert_eq!(pending.len(), 3);
    assert!(pending.iter().any(|e| e.wording.contains("Bäckerei Köhler")), "{pending:?}");
    assert!(String::from_utf8(pending_bytes_of(&client, &account).await).is_err(), "MT942 is ISO-8859-1");

    // The next read books the three, same amounts and wordings, and has no pending entries.
    let answer = client.send(vec![hkkaz(&account, Some(today() - Days::new(3)), None)], None).await;
    let hikaz = answer.find("HIKAZ").unwrap();
    assert_eq!(hikaz.binary(1), None);
    let again = parse_mt940(hikaz.binary(0).unwrap());
    for was_pending in &pending {
        let booked = entries(&again).into_iter().find(|e| e.wording == was_pending.wording).unwrap();
        assert_eq!(booked.amount, was_pending.amount);
    }
}

/// The MT942 a fresh bank gives the login's account (a new server: its first read).
async fn pending_bytes_of(client: &Client, account: &[String]) -> Vec<u8> {
    let mut fresh = Client::new(&serve().await, &client.login);
    fresh.sync().await;
    fresh.init("912").await;
    let answer = fresh.send(vec![hkkaz(account, Some(today()), None)], None).await;
    answer.find("HIKAZ").unwrap().binary(1).unwrap().to_vec()
}

#[tokio::test]
async fn oldtan_needs_a_tan_for_old_history_only() {
    let url = serve().await;
    let mut client = Client::new(&url, "oldtan");
    client.sync().await;
    client.init("912").await;
    let account = client.accounts().await.remove(0);
    let hktan = Segment::new("HKTAN", 7).push("4").push("HKCAZ");

    let recent = client.send(vec![hkcaz(&account, Some(today() - Days::new(30))), hktan.clone()], None).await;
    assert_eq!(codes(&recent), ["0010", "3060", "0020", "3076"]);
    assert!(recent.find("HICAZ").is_some());

    for from in [Some(today() - Days::new(200)), None] {
        let old = client.send(vec![hkcaz(&account, from), hktan.clone()], None).await;
        assert_eq!(codes(&old), ["0010", "0030"], "{from:?}");
        assert!(old.find("HICAZ").is_none());
        let hitan = old.find("HITAN").unwrap();
        assert_eq!(hitan.text(0, 0), Some("4"));
        let task = hitan.text(2, 0).unwrap();
        let tan = Segment::new("HKTAN", 7).push("2").push("").push("").push("").push(task).push("N");
        let approved = client.send(vec![tan], Some("123456")).await;
        let hicaz = approved.find("HICAZ").unwrap();
        assert!(codes(&approved).contains(&"0020".to_owned()), "{approved:?}");
        let mut count = 0;
        statements::camt::parse(Cursor::new(hicaz.binary(2).unwrap()), &mut |e| {
            count += matches!(e, Event::Entry(_)) as usize
        })
        .unwrap();
        assert!(count > 100, "{count}");
    }
}

#[tokio::test]
async fn camt_pages_parse_and_pending_entries_are_booked_at_the_next_read() {
    let url = serve().await;
    let mut client = Client::new(&url, "camt");
    client.sync().await;
    client.init("912").await;
    let account = client.accounts().await.remove(1);
    let read = |message: &Message, element: usize| {
        let mut events = Vec::new();
        let bytes = message.find("HICAZ").unwrap().binary(element).map(<[u8]>::to_vec);
        if let Some(bytes) = bytes {
            statements::camt::parse(Cursor::new(bytes), &mut |e| events.push(e)).unwrap();
        }
        events
    };
    let first = client.send(vec![hkcaz(&account, Some(today() - Days::new(40)))], None).await;
    assert_eq!(first.find("HICAZ").unwrap().text(1, 0), Some(CAMT_08));
    let booked = read(&first, 2);
    assert!(matches!(&booked[0], Event::Statement(a) if a.iban.as_deref() == Some(account[0].as_str())));
    let pending = read(&first, 3);
    let pending = entries(&pending);
    assert_eq!(pending.len(), 3);
    assert!(pending.iter().all(|e| e.pending && e.payee.is_some()));
    let second = client.send(vec![hkcaz(&account, Some(today() - Days::new(40)))], None).await;
    assert!(second.find("HICAZ").unwrap().binary(3).is_none());
    let booked_now = read(&second, 2);
    let booked_now = entries(&booked_now);
    assert_eq!(booked_now.len(), entries(&booked).len() + 3);
    for entry in pending {
        assert!(booked_now.iter().any(|b| !b.pending && b.wording == entry.wording && b.amount == entry.amount));
    }
    let hkkaz = client.send(vec![hkkaz(&account, None, None)], None).await;
    assert_eq!(codes(&hkkaz), ["9050", "9010"], "camt offers no HKKAZ");
}

#[test]
fn ibans_have_valid_check_digits() {
    for login in ["demo", "tan", "x"] {
        for account in ledger::accounts(login) {
            let iban = &account.iban;
            let moved = format!("{}{}", &iban[4..], "1314") + &iban[2..4];
            let remainder = moved.bytes().fold(0u32, |r, d| (r * 10 + u32::from(d - b'0')) % 97);
            assert_eq!((remainder, iban.len()), (1, 22), "{iban}");
        }
    }
}
