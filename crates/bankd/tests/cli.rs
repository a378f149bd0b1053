//! The `bankd` binary's commands, run as a user would.

use std::process::Command;

fn bankd(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bankd"));
    command.env("BANKD_DATA_DIR", data_dir).env_remove("BANKD_DATABASE_URL");
    command
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits (up to 5 s) for a spawned server to answer `/health`.
async fn wait_until_serving(http: &reqwest::Client, base: &str) {
    for _ in 0..100 {
        if http.get(format!("{base}/health")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{base} never answered /health");
}

#[test]
fn client_create_prints_exactly_one_json_object() {
    let dir = tempfile::tempdir().unwrap();
    let output = bankd(dir.path())
        .args(["client", "create", "--name", "My app", "--redirect-uri", "https://a.example/cb"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.trim().lines().count(), 1, "{stdout}");
    let created: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(created["id"].as_i64().unwrap() > 0);
    assert!(created["client_id"].as_str().unwrap().chars().all(|c| c.is_ascii_digit()));
    assert!(created["client_secret"].as_str().unwrap().len() >= 32);
    assert_eq!(created.as_object().unwrap().len(), 3);
}

#[test]
fn migrate_creates_the_embedded_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = bankd(dir.path()).arg("migrate").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(dir.path().join("bankd.db").exists());
}

#[test]
fn version_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let version = bankd(dir.path()).arg("--version").output().unwrap();
    assert!(String::from_utf8(version.stdout).unwrap().starts_with("bankd "));
    let commands = [&["--help"][..], &["serve", "--help"], &["migrate", "--help"], &["sandbox", "--help"]];
    for args in commands.into_iter().chain([&["client", "create", "--help"][..]]) {
        let help = bankd(dir.path()).args(args).output().unwrap();
        assert!(help.status.success(), "{args:?}");
        assert!(String::from_utf8(help.stdout).unwrap().contains("Usage"), "{args:?}");
    }
}

#[test]
fn serve_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = bankd(dir.path()).args(["serve", "--listen", &format!("127.0.0.1:{port}")]).spawn().unwrap();
    let mut healthy = false;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            stream.write_all(b"GET /health HTTP/1.0\r\n\r\n").unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            healthy = response.contains("\"status\":\"ok\"");
            break;
        }
    }
    assert!(healthy, "serve never answered /health");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
}

#[test]
fn sandbox_serves_the_simulated_banks_alone() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = bankd(dir.path()).args(["sandbox", "--listen", &format!("127.0.0.1:{port}")]).spawn().unwrap();
    let mut answer = String::new();
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            stream.write_all(b"GET /sandbox/xs2a/v1/accounts HTTP/1.0\r\nX-Request-ID: 1\r\n\r\n").unwrap();
            stream.read_to_string(&mut answer).unwrap();
            break;
        }
    }
    assert!(answer.starts_with("HTTP/1.0 400") && answer.contains("Consent-ID is missing"), "{answer}");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success());
}

/// A whole run of the real binary, at debug level: neither a good nor a refused password may
/// appear anywhere in what it logs.
#[test]
fn passwords_never_reach_the_logs() {
    const REFUSED: &str = "Marker-Secret-9f3b";
    let dir = tempfile::tempdir().unwrap();
    let client = bankd(dir.path()).args(["client", "create", "--name", "logs"]).output().unwrap();
    let client: serde_json::Value = serde_json::from_slice(&client.stdout).unwrap();
    let port = free_port();
    // To a file, not a pipe: nobody reads a pipe while the server runs, and a full one blocks it.
    let log_path = dir.path().join("serve.log");
    let mut child = bankd(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "debug")
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        wait_until_serving(&http, &base).await;
        let init: serde_json::Value =
            http.post(format!("{base}/2.0/auth/init")).json(&client).send().await.unwrap().json().await.unwrap();
        let token = init["auth_token"].as_str().unwrap();
        let connect = serde_json::json!({"id_connector": 1, "login": "demo", "password": "1234"});
        let created = http
            .post(format!("{base}/2.0/users/me/connections"))
            .bearer_auth(token)
            .json(&connect)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let connection: serde_json::Value = created.json().await.unwrap();
        let path = format!("{base}/2.0/users/me/connections/{}", connection["id"]);
        let refused = http.post(&path).bearer_auth(token).form(&[("password", REFUSED)]).send().await.unwrap();
        assert_eq!(refused.status(), 400);
        let body = refused.text().await.unwrap();
        assert!(!body.contains(REFUSED));
        let wrong = serde_json::json!({"id_connector": 1, "login": "demo", "password": REFUSED});
        http.post(format!("{base}/2.0/users/me/connections")).bearer_auth(token).json(&wrong).send().await.unwrap();
    });
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("sync done"), "the run was logged at all: {logs}");
    assert!(!logs.contains("\x1b["), "no colour codes in a file");
    let sync_done = logs.lines().find(|line| line.contains("sync done")).unwrap();
    for field in ["job{job=", "connection=", "request_id="] {
        assert!(sync_done.contains(field), "a sync's line carries {field}: {sync_done}");
    }
    assert!(!logs.contains(REFUSED), "a refused password reached the logs");
    for leak in ["\"1234\"", "=1234", "password: \"", "password=1"] {
        assert!(!logs.contains(leak), "{leak} in the logs");
    }
}

/// `bankd import` on the database a running server uses: the server serves what it imported,
/// and importing the same file again adds nothing.
#[test]
fn import_writes_beside_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let client = bankd(dir.path()).args(["client", "create", "--name", "import"]).output().unwrap();
    let client: serde_json::Value = serde_json::from_slice(&client.stdout).unwrap();
    let port = free_port();
    let mut server = bankd(dir.path()).args(["serve", "--listen", &format!("127.0.0.1:{port}")]).spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let statement = dir.path().join("november.sta");
    std::fs::write(
        &statement,
        ":20:STMT1\r\n:25:NL91ABNA0417164300\r\n:28C:1/1\r\n:60F:C261031EUR100,00\r\n\
         :61:2611031103D12,50NTRFREF1//BANKREF1\r\n:86:COFFEE SHOP\r\n\
         :61:2611041104C1000,NTRFREF2//BANKREF2\r\n:86:SALARY\r\n:62F:C261104EUR1087,50\r\n-\r\n",
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        wait_until_serving(&http, &base).await;
        let init: serde_json::Value =
            http.post(format!("{base}/2.0/auth/init")).json(&client).send().await.unwrap().json().await.unwrap();
        let user = init["id_user"].to_string();
        let import =
            || bankd(dir.path()).args(["import", statement.to_str().unwrap(), "--user", &user]).output().unwrap();
        let first = import();
        let summary = String::from_utf8(first.stdout).unwrap();
        assert!(first.status.success(), "{summary} {}", String::from_utf8_lossy(&first.stderr));
        assert!(summary.contains("1 statement(s), 1 account(s), 2 added, 0 updated, 0 unchanged"), "{summary}");
        let again = String::from_utf8(import().stdout).unwrap();
        assert!(again.contains("0 added, 0 updated, 2 unchanged"), "{again}");
        let token = init["auth_token"].as_str().unwrap();
        let accounts: serde_json::Value = http
            .get(format!("{base}/2.0/users/me/accounts"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let account = &accounts["accounts"][0];
        assert_eq!((account["iban"].as_str(), account["balance"].as_f64()), (Some("NL91ABNA0417164300"), Some(1087.5)));
    });
    Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    server.wait().unwrap();
    let broken = dir.path().join("broken.sta");
    std::fs::write(&broken, ":20:X\r\n:25:NL91ABNA0417164300\r\n:60F:C261031EUR1x0,00\r\n").unwrap();
    let refused = bankd(dir.path()).args(["import", broken.to_str().unwrap(), "--user", "1"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("mt940 statement, line 3"), "{refused:?}");
}

/// A person alone, as the README's SimpleFIN section goes: `bankd user create`, `bankd connect-url`
/// opened in a browser (here an HTTP client) to connect the Sandbox Bank, `bankd simplefin
/// setup-token` claimed as a budgeting app does, then the accounts read over SimpleFIN; and
/// `bankd export` writes a statement.
#[tokio::test]
async fn a_person_alone_goes_from_the_command_line_to_simplefin() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| -> String {
        let output = bankd(dir.path()).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let created: serde_json::Value = serde_json::from_str(run(&["user", "create"]).trim()).unwrap();
    let user = created["id_user"].to_string();
    assert!(created["auth_token"].as_str().unwrap().len() >= 32, "{created}");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let _server = KillOnDrop(bankd(dir.path()).args(["serve", "--listen", &listen]).spawn().unwrap());
    let http = reqwest::Client::builder().cookie_store(true).build().unwrap();
    wait_until_serving(&http, &base).await;

    let link = run(&["connect-url", "--user", &user, "--listen", &listen]);
    let banks = http.get(link.trim()).send().await.unwrap().text().await.unwrap();
    assert!(banks.contains("Sandbox Bank"), "{banks}");
    let form_path = format!("{base}/webview/en/banks/338178e6-3d01-564f-9a7b-52ca442459bf");
    let form = http.get(&form_path).send().await.unwrap().text().await.unwrap();
    let csrf = regex::Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap().captures(&form).unwrap()[1].to_owned();
    let fields = [("csrf", csrf.as_str()), ("login", "demo"), ("password", "1234")];
    let choose = http.post(&form_path).form(&fields).send().await.unwrap().text().await.unwrap();
    let accounts: Vec<String> = regex::Regex::new(r#"name="account" value="(\d+)""#)
        .unwrap()
        .captures_iter(&choose)
        .map(|c| c[1].to_owned())
        .collect();
    let share =
        regex::Regex::new(r#"action="(/webview/en/connections/\d+/accounts)""#).unwrap().captures(&choose).unwrap()[1]
            .to_owned();
    let csrf = regex::Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap().captures(&choose).unwrap()[1].to_owned();
    let mut ticked = vec![("csrf", csrf.as_str())];
    ticked.extend(accounts.iter().map(|id| ("account", id.as_str())));
    let done = http.post(format!("{base}{share}")).form(&ticked).send().await.unwrap().text().await.unwrap();
    assert!(done.contains("You can close this page"), "no app to return to: {done}");

    let token = run(&["simplefin", "--listen", &listen, "setup-token", "--user", &user]);
    let claim_url =
        String::from_utf8(base64::Engine::decode(&base64::engine::general_purpose::STANDARD, token.trim()).unwrap())
            .unwrap();
    let access = reqwest::Client::new().post(&claim_url).send().await.unwrap().text().await.unwrap();
    let access = reqwest::Url::parse(&access).unwrap();
    let sfin: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/simplefin/accounts"))
        .basic_auth(access.username(), access.password())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sfin["accounts"].as_array().unwrap().len(), 3, "{sfin}");
    assert!(!sfin["accounts"][0]["transactions"].as_array().unwrap().is_empty());

    let ledger = run(&["export", "--user", &user, "--format", "ledger"]);
    assert_eq!(ledger.matches("* Closing balance").count(), 3, "{ledger}");
}

/// A spawned server, stopped however the test ends (a panic included).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        _ = self.0.kill();
        _ = self.0.wait();
    }
}

/// A certificate for `localhost` and its key, as PEM.
fn certificate() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (made.cert.pem(), made.key_pair.serialize_pem())
}

/// An HTTPS client that trusts only `cert`.
fn trusting(cert: &str) -> reqwest::Client {
    let root = reqwest::Certificate::from_pem(cert.as_bytes()).unwrap();
    reqwest::Client::builder().tls_built_in_root_certs(false).add_root_certificate(root).build().unwrap()
}

/// `--tls-cert`/`--tls-key` serve HTTPS (with HSTS); a renewed certificate written over the files
/// is used after SIGHUP for new connections, while an open one carries on.
#[tokio::test]
async fn https_is_served_and_a_renewed_certificate_is_taken_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (first, first_key) = certificate();
    std::fs::write(&cert_path, &first).unwrap();
    std::fs::write(&key_path, &first_key).unwrap();
    let port = free_port();
    let server = KillOnDrop(
        bankd(dir.path())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--tls-cert", cert_path.to_str().unwrap(), "--tls-key", key_path.to_str().unwrap()])
            .spawn()
            .unwrap(),
    );
    let base = format!("https://localhost:{port}");
    let old = trusting(&first);
    wait_until_serving(&old, &base).await;
    let health = old.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.headers()["strict-transport-security"], "max-age=31536000");

    let (renewed, renewed_key) = certificate();
    std::fs::write(&cert_path, &renewed).unwrap();
    std::fs::write(&key_path, &renewed_key).unwrap();
    Command::new("kill").args(["-HUP", &server.0.id().to_string()]).status().unwrap();
    let new = trusting(&renewed);
    let mut served_new = false;
    for _ in 0..50 {
        if new.get(format!("{base}/health")).send().await.is_ok() {
            served_new = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(served_new, "the renewed certificate is served after SIGHUP");
    assert!(old.get(format!("{base}/health")).send().await.is_ok(), "the open connection carries on");
    assert!(
        trusting(&first).get(format!("{base}/health")).send().await.is_err(),
        "new connections: the new certificate"
    );
}

/// The database `bankd doctor` is pointed at: a fresh schema of `BANKD_TEST_DATABASE_URL` when it
/// is set (PostgreSQL), else the data dir's SQLite file.
fn test_database_url(dir: &std::path::Path) -> String {
    let Some(url) = std::env::var("BANKD_TEST_DATABASE_URL").ok().filter(|url| !url.is_empty()) else {
        return format!("sqlite://{}", dir.join("bankd.db").display());
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pool = sqlx::PgPool::connect(&url).await.expect("BANKD_TEST_DATABASE_URL unreachable");
        sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&pool).await.unwrap();
    });
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options[search_path]={schema}")
}

/// `bankd doctor`'s exit status and its lines by check name: (status, the rest of the line).
fn doctor(command: &mut Command) -> (bool, std::collections::HashMap<String, (String, String)>) {
    let output = command.arg("doctor").output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    eprintln!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let mut checks = std::collections::HashMap::new();
    for line in stdout.lines() {
        let (status, rest) = line.split_once(' ').unwrap();
        let (name, detail) = rest.trim_start().split_at(11);
        checks.insert(name.trim().to_owned(), (status.to_owned(), detail.to_owned()));
    }
    (output.status.success(), checks)
}

#[test]
fn doctor_is_content_with_a_migrated_setup() {
    let dir = tempfile::tempdir().unwrap();
    let url = test_database_url(dir.path());
    let migrated = bankd(dir.path()).env("BANKD_DATABASE_URL", &url).arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let (success, checks) = doctor(bankd(dir.path()).env("BANKD_DATABASE_URL", &url));
    assert!(success);
    assert!(checks.values().all(|(status, _)| status == "ok" || status == "warn"), "{checks:?}");
    for name in ["settings", "database", "migrations", "catalog", "public url", "webhooks", "disk space", "clock"] {
        assert_eq!(checks[name].0, "ok", "{name}: {checks:?}");
    }
    assert_eq!(checks["master key"].0, "warn", "none generated: doctor only looks");
    assert!(!dir.path().join("master.key").exists());
}

#[test]
fn doctor_fails_on_an_unreachable_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://postgres@127.0.0.1:{}/bankd", free_port());
    let (success, checks) = doctor(bankd(dir.path()).env("BANKD_DATABASE_URL", url));
    assert!(!success);
    assert_eq!(checks["database"].0, "fail", "{checks:?}");
    assert!(!checks.contains_key("migrations"), "nothing to read migrations from");
}

#[test]
fn doctor_tells_of_a_database_never_migrated_and_leaves_it_so() {
    let dir = tempfile::tempdir().unwrap();
    let url = test_database_url(dir.path());
    std::fs::write(dir.path().join("bankd.db"), b"").unwrap();
    for _ in 0..2 {
        let (success, checks) = doctor(bankd(dir.path()).env("BANKD_DATABASE_URL", &url));
        assert!(success, "a warning alone exits 0");
        assert_eq!(checks["migrations"].0, "warn", "{checks:?}");
        assert!(checks["migrations"].1.contains("run `bankd migrate`"), "{checks:?}");
    }
}

/// A connection made through the server under one master key: another key does not open it.
#[test]
fn doctor_fails_when_the_master_key_does_not_open_a_stored_secret() {
    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const OTHER: &str = "HxwdHh8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRo=";
    let dir = tempfile::tempdir().unwrap();
    let url = test_database_url(dir.path());
    let run = |key: &str| {
        let mut command = bankd(dir.path());
        command.env("BANKD_DATABASE_URL", &url).env("BANKD_MASTER_KEY", key);
        command
    };
    let client = run(KEY).args(["client", "create", "--name", "doctor"]).output().unwrap();
    let client: serde_json::Value = serde_json::from_slice(&client.stdout).unwrap();
    let port = free_port();
    let server = KillOnDrop(run(KEY).args(["serve", "--listen", &format!("127.0.0.1:{port}")]).spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let http = reqwest::Client::new();
        wait_until_serving(&http, &base).await;
        let init: serde_json::Value =
            http.post(format!("{base}/2.0/auth/init")).json(&client).send().await.unwrap().json().await.unwrap();
        let connect = serde_json::json!({"id_connector": 1, "login": "demo", "password": "1234"});
        let created = http
            .post(format!("{base}/2.0/users/me/connections"))
            .bearer_auth(init["auth_token"].as_str().unwrap())
            .json(&connect)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    });
    drop(server);
    let (success, checks) = doctor(&mut run(KEY));
    assert!(success);
    assert!(checks["master key"].1.contains("opens connection"), "{checks:?}");
    let (success, checks) = doctor(&mut run(OTHER));
    assert!(!success);
    assert_eq!(checks["master key"].0, "fail", "{checks:?}");
}

#[test]
fn doctor_fails_on_a_catalog_that_does_not_parse() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.toml");
    std::fs::write(&catalog, "[[connector]\nid = ").unwrap();
    let (success, checks) = doctor(bankd(dir.path()).env("BANKD_CATALOG", &catalog));
    assert!(!success);
    assert_eq!(checks["catalog"].0, "fail", "{checks:?}");
}

#[test]
fn doctor_fails_when_woob_cannot_be_imported() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.toml");
    std::fs::write(
        &catalog,
        format!(
            "[[connector]]\nid = 20\nuuid = \"9c76a8d8-b55d-5125-ad27-c814b9f77210\"\nname = \"Woob bank\"\n\
             [[connector.field]]\nname = \"login\"\nlabel = \"Login\"\ntype = \"text\"\n\
             [[connector.source]]\nid = 20\nname = \"directaccess\"\npriority = 1\ndriver = \"woob\"\n\
             module = \"bankdtest\"\nmodules_path = \"{}/tests/woob_modules\"\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .unwrap();
    let (success, checks) =
        doctor(bankd(dir.path()).env("BANKD_CATALOG", &catalog).env("BANKD_WOOB_PYTHON", "/nonexistent"));
    assert!(!success);
    assert_eq!(checks["catalog"].0, "ok", "{checks:?}");
    assert_eq!(checks["woob"].0, "fail", "{checks:?}");
}

/// An institute list laid out as the FinTS office's, in its ISO-8859-1, with made-up banks: `rows`
/// after the header, and `generated` more banks with a PIN/TAN URL.
fn institute_list(path: &std::path::Path, rows: &[&str], generated: u32) {
    let mut text = "Nr.;BLZ;BIC;Institut;Ort;RZ;Organisation;HBCI-Zugang DNS;HBCI-Version;PIN/TAN-Zugang URL;\
                    Version;Datum letzte Änderung\r\n"
        .to_owned();
    for row in rows {
        text += &format!("{row}\r\n");
    }
    for n in 0..generated {
        text += &format!("{n};{};;Bank {n};Stadt;;;;;https://fints{n}.example/;FinTS V3.0;\r\n", 50_000_000 + n);
    }
    let latin1: Vec<u8> = text.chars().map(|c| u8::try_from(u32::from(c)).unwrap()).collect();
    std::fs::write(path, latin1).unwrap();
}

#[test]
fn import_fints_fills_the_bank_directory_and_a_new_list_replaces_it() {
    use bankd::sources::fints::Directory;
    let dir = tempfile::tempdir().unwrap();
    let url = test_database_url(dir.path());
    let import = |rows: &[&str], generated| {
        let file = dir.path().join("fints_institute.csv");
        institute_list(&file, rows, generated);
        let mut command = bankd(dir.path());
        command.env("BANKD_DATABASE_URL", &url).args(["catalog", "import-fints"]).arg(&file).output().unwrap()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = || runtime.block_on(bankd::store::Store::connect(&url)).unwrap();
    let lookup = |bank_code: &str| runtime.block_on(store().fints_url(bank_code)).unwrap();
    let count = || runtime.block_on(store().fints_institute_count()).unwrap();

    let koeln = "1;10020030;TESTDEFFXXX;Musterbank Köln;Köln;;;;;https://fints.musterbank.example/;FinTS V3.0;";
    let chip = "2;20030040;;Chipkartenbank;Essen;;;hbci.example;300;;;";
    let again = "3;10020030;;Musterbank Köln (alt);Köln;;;;;https://old.example/;FinTS V3.0;";
    // More banks than one INSERT takes.
    let output = import(&[koeln, chip, again], 1200);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.trim(), "1201 banks imported, 2 skipped (1 without a PIN/TAN URL, 1 listed twice)");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("line 4: bank code 10020030 listed again"), "{stderr}");
    assert!(stderr.contains("BANKD_FINTS_PRODUCT_ID"), "how to get the banks offered: {stderr}");
    assert_eq!(count(), 1201);
    assert_eq!(lookup("10020030").as_deref(), Some("https://fints.musterbank.example/"));
    let stored = runtime.block_on(store().fints_institute("10020030")).unwrap().unwrap();
    assert_eq!((stored.name.as_str(), stored.city.as_deref()), ("Musterbank Köln", Some("Köln")));
    assert_eq!(lookup("50001199").as_deref(), Some("https://fints1199.example/"));
    assert_eq!(lookup("20030040"), None, "no PIN/TAN URL");

    // The next list is the whole directory: a bank it does not list is gone.
    let output = import(&[koeln], 0);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(count(), 1);
    assert_eq!(lookup("50001199"), None);

    // A list refused at one line changes nothing.
    let output = import(&[koeln, "4;1234567;;Kurz;Ulm;;;;;https://kurz.example/;;"], 5);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("line 3: bank code \"1234567\" is not 8 digits"), "{stderr}");
    assert_eq!(count(), 1);
    assert_eq!(lookup("10020030").as_deref(), Some("https://fints.musterbank.example/"));

    let (_, checks) =
        doctor(bankd(dir.path()).env("BANKD_DATABASE_URL", &url).env("BANKD_FINTS_PRODUCT_ID", "0123ABCD"));
    assert_eq!(checks["fints"].0, "ok", "{checks:?}");
    assert_eq!(checks["fints"].1.trim(), "product id set; 1 banks in the directory");
}

#[test]
fn import_aspsps_stores_the_directory_and_a_bad_row_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = test_database_url(dir.path());
    let import = |text: &str| {
        let file = dir.path().join("banks.csv");
        std::fs::write(&file, text).unwrap();
        let mut command = bankd(dir.path());
        command.env("BANKD_DATABASE_URL", &url).env("BANKD_SANDBOX", "true");
        command.args(["catalog", "import-aspsps"]).arg(&file).output().unwrap()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let banks = || {
        let store = runtime.block_on(bankd::store::Store::connect(&url)).unwrap();
        runtime.block_on(store.directory_banks()).unwrap().into_iter().map(|b| b.name).collect::<Vec<_>>()
    };
    let good = "name;bic;country;bank_code;base_url;profile\n\
                Sparkasse A;SPKADEAAXXX;DE;10020030;/sandbox/xs2a;sandbox-xs2a\n\
                Banque B;BNPBFRPP;FR;;/sandbox/xs2a;sandbox-xs2a\n";
    let output = import(good);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        "2 banks imported (2 new); offered as connectors from bankd's next start"
    );
    assert_eq!(banks(), ["Sparkasse A", "Banque B"]);

    let output = import(&format!("{good}Bank C;;DE;30040050;/sandbox/xs2a;no-such-profile\n"));
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("nothing imported"), "{stderr}");
    assert!(
        stderr.contains("line 4: profile \"no-such-profile\" is not in the catalog (it has: sandbox-xs2a)"),
        "{stderr}"
    );
    assert_eq!(banks(), ["Sparkasse A", "Banque B"], "the directory as it was");
}
