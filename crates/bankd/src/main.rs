//! The `bankd` command line.

use anyhow::Context;
use clap::{Parser, Subcommand};

use bankd::catalog::Catalog;
use bankd::config::Settings;
use bankd::crypto::{MasterKey, Rotation};
use bankd::directory::read_aspsp_list;
use bankd::doctor::Status as DoctorStatus;
use bankd::export::Format as ExportFormat;
use bankd::import::{ImportOptions, csv_mapping, import};
use bankd::sources::fints::directory::read_institute_list;
use bankd::sources::woob::helper::{Helper, UPDATES_SOURCES_LIST};
use bankd::startup::{
    App, FINTS_REGISTRATION, bank_timeouts, open_store, public_url, run_worker, shutdown_signal, woob_runtime,
};
use bankd::store::Store;
use bankd::store::outbox::Event;
use bankd::store::transactions::DateWindow;
use bankd::store::users::TokenKind;
use bankd::usecases::simplefin::setup_token;
use bankd::webhooks::safety::check_webhook_url;
use indicatif::{ProgressBar, ProgressStyle};
use statements::Format;

/// mimalloc rather than glibc's malloc: under the API's load, glibc's allocator (`_int_malloc`,
/// `malloc_consolidate`, `_int_free`) was a fifth to a third of the profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "bankd", version, about = "Self-hosted bank aggregation server (Powens API 2.0 compatible)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API, docs and sandbox banks, with sync workers and the scheduler.
    Serve {
        /// Serve the API only: syncs are run by `bankd worker` processes.
        #[arg(long)]
        no_worker: bool,
        #[command(flatten)]
        settings: Settings,
    },
    /// Run sync workers and the scheduler only (scale-out on PostgreSQL).
    Worker {
        #[command(flatten)]
        settings: Settings,
    },
    /// Check the configuration and what bankd needs (database, master key, catalog, woob, disk, …);
    /// one line per check, exit status 1 when one fails. Changes nothing.
    Doctor {
        #[command(flatten)]
        settings: Settings,
    },
    /// Seal every stored secret again under a new master key, while servers run or not. Servers
    /// sharing the data dir follow at once; killed half way, run it again with the same key.
    RotateKey {
        /// The new key: 32 random bytes, base64 (`openssl rand -base64 32`).
        #[arg(long)]
        new_key_file: std::path::PathBuf,
        #[command(flatten)]
        settings: Settings,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        settings: Settings,
    },
    /// Serve the simulated banks alone (under /sandbox), for a bankd elsewhere or a TPP under test
    /// to reach them at an absolute base_url.
    Sandbox {
        /// Address to serve on.
        #[arg(long, default_value = "127.0.0.1:3100")]
        listen: std::net::SocketAddr,
        /// Base of the links the banks hand out; default: `http://<listen>`.
        #[arg(long)]
        public_url: Option<String>,
        /// Serve the fault switches (`PUT /sandbox/faults/{bank}`): slow, 5xx, 429, cut bodies…
        #[arg(long, env = "BANKD_SANDBOX_FAULTS", default_value_t = false, action = clap::ArgAction::Set)]
        faults: bool,
    },
    /// Import statement files (OFX, camt, MT940, QIF, CSV) into a user's Statement-files connection;
    /// prints one summary line per file. Safe while a server runs on the same database.
    Import {
        /// The files to import, in order.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// The user they belong to.
        #[arg(long)]
        user: i64,
        /// The Statement-files connection to import into (default: the user's, created if needed).
        #[arg(long)]
        connection: Option<i64>,
        /// auto, ofx, camt, mt940, qif or csv.
        #[arg(long, default_value = "auto")]
        format: String,
        /// For CSV: the column mapping in JSON, e.g. '{"delimiter": ";", "date": "Date", "amount": "Montant"}'
        /// (guessed from the header otherwise).
        #[arg(long)]
        csv: Option<String>,
        #[command(flatten)]
        settings: Settings,
    },
    /// Write a consistent copy of the SQLite database to FILE (which must not exist), while the
    /// server runs and syncs. Restore: stop bankd, put the copy in the database's place. With
    /// PostgreSQL use pg_dump. The master key is not in the copy: back it up apart.
    Backup {
        file: std::path::PathBuf,
        #[command(flatten)]
        settings: Settings,
    },
    /// Manage client applications.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Manage client applications' webhooks, see their deliveries, send one again.
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
        #[command(flatten)]
        settings: Settings,
    },
    /// Manage users (for a person running bankd for their own money, with no client app of theirs).
    User {
        #[command(subcommand)]
        command: UserCommand,
        #[command(flatten)]
        settings: Settings,
    },
    /// Print a link to the Connect webview for a user (a single-use code inside, valid 30 minutes):
    /// open it in a browser to connect a bank.
    ConnectUrl {
        #[arg(long)]
        user: i64,
        /// en or fr.
        #[arg(long, default_value = "en")]
        lang: String,
        #[command(flatten)]
        settings: Settings,
    },
    /// Write a user's statements to stdout: OFX, camt.053, CSV, beancount or ledger.
    Export {
        #[arg(long)]
        user: i64,
        /// One account (default: all the user's enabled accounts; CSV needs one).
        #[arg(long)]
        account: Option<i64>,
        /// ofx, camt053, csv, beancount or ledger.
        #[arg(long)]
        format: String,
        /// First day (YYYY-MM-DD).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Last day (YYYY-MM-DD), included.
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        #[command(flatten)]
        settings: Settings,
    },
    /// SimpleFIN, for budgeting apps (Actual Budget, Firefly III, Home Assistant).
    Simplefin {
        #[command(subcommand)]
        command: SimplefinCommand,
        #[command(flatten)]
        settings: Settings,
    },
    /// What the operator adds to the connector catalog: the FinTS bank directory, the PSD2 bank directory.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
        #[command(flatten)]
        settings: Settings,
    },
    /// PSD2: bankd's registration as an AISP with STET banks.
    Psd2 {
        #[command(subcommand)]
        command: Psd2Command,
        #[command(flatten)]
        settings: Settings,
    },
    /// woob's bank modules: which ones bankd offers as connectors, and where they come from.
    Woob {
        #[command(subcommand)]
        command: WoobCommand,
        #[command(flatten)]
        settings: Settings,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; prints {"id_user", "auth_token"} (the permanent token, shown this once).
    Create {
        /// The client application the user belongs to, created (with no redirect URI) if there is
        /// none of that name.
        #[arg(long, default_value = "Personal")]
        client: String,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Import the FinTS institute list (the CSV the FinTS office sends registered products) as the
    /// directory where German banks' FinTS servers are, replacing the previous import. Prints how
    /// many banks were imported and how many skipped.
    ImportFints {
        /// The list: semicolon-separated, ISO-8859-1 as published or UTF-8.
        file: std::path::PathBuf,
    },
    /// Import a bank directory: a CSV of banks behind PSD2 hubs (columns name, bic, country,
    /// bank_code, base_url, profile), each becoming a connector on its catalog profile at the next
    /// start, replacing the previous import. A bad row refuses the whole file.
    ImportAspsps {
        /// The directory: UTF-8, comma- or semicolon-separated, a header row naming the columns.
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum Psd2Command {
    /// Register bankd with a STET bank's authorization server (OAuth2 dynamic client registration,
    /// RFC 7591, over mutual TLS with the catalog's certificate) and keep the client id, secret and
    /// registration token it returns (the secret parts sealed); prints the client id. The running
    /// bankd uses the registration at the source's next authorization.
    Register {
        /// The catalog source (`[[connector.source]]` id, driver stet, with `registration_url`).
        #[arg(long)]
        source: i64,
        /// Update the stored registration instead (RFC 7592), after a certificate rotation or a
        /// change of the public URL; the bank may issue a new secret.
        #[arg(long)]
        update: bool,
    },
}

#[derive(Subcommand)]
enum SimplefinCommand {
    /// Print a one-use setup token of the user (valid 24 hours), to paste into the budgeting app.
    SetupToken {
        #[arg(long)]
        user: i64,
    },
}

#[derive(Subcommand)]
enum WoobCommand {
    /// Every module of the modules folder, one per line: name, bank, offered (or why not), form
    /// fields, and its users failing in the last 24 hours.
    Modules {
        /// Read every module again instead of trusting the cache.
        #[arg(long)]
        refresh: bool,
    },
    /// Install or update woob's modules from woob's own repository, into bankd's data dir (the one
    /// command that lets woob reach the network); bankd offers them at its next start.
    Update,
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// Subscribe a URL to an event for a client application; prints the subscription as JSON, with
    /// the new signing secret (`secret_key`, shown this once) unless `--auth` names an existing one.
    Add {
        /// The `client_id` that `bankd client create` printed.
        #[arg(long)]
        client: String,
        /// USER_CREATED, CONNECTION_SYNCED, ACCOUNT_SYNCED, … (see the README).
        #[arg(long)]
        event: String,
        #[arg(long)]
        url: String,
        /// Sign with this existing auth provider of the client.
        #[arg(long)]
        auth: Option<i64>,
    },
    /// List subscriptions, one per line: id, client_id, event, url.
    List {
        /// Only this client application's (its `client_id`).
        #[arg(long)]
        client: Option<String>,
    },
    /// Remove a subscription and its pending deliveries.
    Remove { id: i64 },
    /// A subscription's latest deliveries, one per line: id, state, attempts, last status, event.
    Deliveries {
        id: i64,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Send a delivery's event again, now.
    Replay { id: i64 },
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register a client application; prints {"id", "client_id", "client_secret"} as JSON on stdout.
    Create {
        /// Name of the application.
        #[arg(long)]
        name: String,
        /// A redirect URI the application may use (exact match); repeatable.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        #[command(flatten)]
        settings: Settings,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bankd::telemetry::init();
    match Cli::parse().command {
        Command::Serve { no_worker, settings } => {
            let app = App::build(settings).await?;
            app.run_until_stopped(shutdown_signal(), !no_worker).await
        }
        Command::Worker { settings } => run_worker(settings, shutdown_signal()).await,
        Command::Doctor { settings } => doctor(&settings).await,
        Command::RotateKey { new_key_file, settings } => rotate_key(&new_key_file, &settings).await,
        Command::Migrate { settings } => {
            open_store(&settings).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Import { files, user, connection, format, csv, settings } => {
            let csv = csv.map(|json| csv_mapping(&json)).transpose().map_err(|why| anyhow::anyhow!("--csv: {why}"))?;
            let options = ImportOptions {
                format: match format.as_str() {
                    "auto" => None,
                    name => Some(Format::from_name(name).with_context(|| format!("unknown format {name}"))?),
                },
                id_connection: connection,
                parse: statements::Options { csv },
            };
            import_files(&files, user, options, &settings).await
        }
        Command::Sandbox { listen, public_url, faults } => {
            let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
            let public_url =
                public_url.unwrap_or_else(|| format!("http://{}", listener.local_addr().unwrap_or(listen)));
            let banks = axum::Router::new().nest("/sandbox", bankd::simulators::router(&public_url, faults));
            tracing::info!(%public_url, "simulated banks serving under /sandbox");
            axum::serve(listener, banks).with_graceful_shutdown(shutdown_signal()).await?;
            Ok(())
        }
        Command::Backup { file, settings } => backup(&file, &settings).await,
        Command::Webhook { command, settings } => webhook(command, &settings).await,
        Command::User { command: UserCommand::Create { client }, settings } => create_user(&client, &settings).await,
        Command::ConnectUrl { user, lang, settings } => connect_url(user, &lang, &settings).await,
        Command::Export { user, account, format, from, to, settings } => {
            let format = ExportFormat::parse(&format).with_context(|| format!("unknown format {format}"))?;
            let window = DateWindow { from, until: to.and_then(|last| last.succ_opt()) };
            export_to_stdout(user, account, format, window, &settings).await
        }
        Command::Simplefin { command: SimplefinCommand::SetupToken { user }, settings } => {
            let store = open_store(&settings).await?;
            store.user(user).await?.with_context(|| format!("no user {user}"))?;
            println!("{}", setup_token(&store, &public_url(&settings), user).await?);
            Ok(())
        }
        Command::Catalog { command: CatalogCommand::ImportFints { file }, settings } => {
            import_fints(&file, &settings).await
        }
        Command::Catalog { command: CatalogCommand::ImportAspsps { file }, settings } => {
            import_aspsps(&file, &settings).await
        }
        Command::Psd2 { command: Psd2Command::Register { source, update }, settings } => {
            let catalog = Catalog::load(settings.catalog.as_deref(), settings.sandbox)?;
            std::fs::create_dir_all(&settings.data_dir).context("creating the data dir")?;
            let store = open_store(&settings).await?;
            let key = MasterKey::load(std::env::var("BANKD_MASTER_KEY").ok().as_deref(), &settings.data_dir)?;
            let (own_url, timeouts) = (public_url(&settings), bank_timeouts(&settings));
            let registered =
                bankd::usecases::psd2::register(&catalog, &store, &key, &own_url, timeouts, source, update).await?;
            let done = if update { "registration updated" } else { "registered" };
            eprintln!(
                "{done} with catalog source {source}; the client secret and registration token are stored sealed"
            );
            println!("{}", registered.client_id);
            Ok(())
        }
        Command::Woob { command: WoobCommand::Modules { refresh }, settings } => woob_modules(refresh, &settings).await,
        Command::Woob { command: WoobCommand::Update, settings } => woob_update(&settings).await,
        Command::Client { command: ClientCommand::Create { name, redirect_uris, settings } } => {
            std::fs::create_dir_all(&settings.data_dir).context("creating the data dir")?;
            let store = open_store(&settings).await?;
            let created = store.create_client(&name, &redirect_uris).await?;
            let out = serde_json::json!({
                "id": created.client.id,
                "client_id": created.client.client_id,
                "client_secret": created.client_secret,
            });
            println!("{out}");
            Ok(())
        }
    }
}

/// `bankd doctor`: each check on one line, status first; a failed check fails the command.
async fn doctor(settings: &Settings) -> anyhow::Result<()> {
    let checks = bankd::doctor::run(settings).await;
    for check in &checks {
        let fix = check.fix.as_ref().map_or(String::new(), |fix| format!(" — fix: {fix}"));
        // One line per check, whatever the error said (a TOML error spans several).
        let detail = check.detail.split_whitespace().collect::<Vec<_>>().join(" ");
        println!("{:<4}  {:<11} {detail}{fix}", check.status.as_str(), check.name);
    }
    let failed = checks.iter().filter(|c| c.status == DoctorStatus::Fail).count();
    if failed > 0 {
        // The lines above are the report: an error's trace would only bury them.
        eprintln!("{failed} check(s) failed");
        std::process::exit(1);
    }
    Ok(())
}

/// `bankd backup FILE`: never creates a database where none is (a wrong data dir is an error).
async fn backup(file: &std::path::Path, settings: &Settings) -> anyhow::Result<()> {
    let url = settings.database_url();
    let store = Store::connect_existing(&url).await?.with_context(|| format!("no database at {url}"))?;
    store.backup_to(file).await?;
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    eprintln!("backup written: {} ({size} bytes)", file.display());
    Ok(())
}

/// `bankd webhook …`.
async fn webhook(command: WebhookCommand, settings: &Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir).context("creating the data dir")?;
    let store = open_store(settings).await?;
    let client_of = async |client_id: &str| {
        store.client_by_client_id(client_id).await?.with_context(|| format!("no client application {client_id}"))
    };
    match command {
        WebhookCommand::Add { client, event, url, auth } => {
            let client = client_of(&client).await?;
            let event = Event::parse(&event).with_context(|| format!("unknown event {event}"))?;
            let url = check_webhook_url(&url, settings.webhook_allow_private()).await.context("--url")?;
            let (id_auth, secret_key) = match auth {
                Some(id) => (id, None),
                None => {
                    let key = MasterKey::load(std::env::var("BANKD_MASTER_KEY").ok().as_deref(), &settings.data_dir)?;
                    let (provider, secret) = store.create_auth_provider(client.id, "cli", &key).await?;
                    (provider.id, Some(secret))
                }
            };
            let webhook = store.create_webhook(client.id, event, url.as_str(), Some(id_auth)).await?;
            let mut out =
                serde_json::json!({"id": webhook.id, "event": webhook.event, "url": webhook.url, "id_auth": id_auth});
            if let Some(secret_key) = secret_key {
                out["secret_key"] = secret_key.into();
            }
            println!("{out}");
        }
        WebhookCommand::List { client } => {
            let id_client = match client {
                Some(client) => Some(client_of(&client).await?.id),
                None => None,
            };
            for w in store.webhooks(id_client).await? {
                println!("{}\t{}\t{}\t{}", w.id, w.id_client, w.event, w.url);
            }
        }
        WebhookCommand::Remove { id } => {
            anyhow::ensure!(store.delete_webhook(id).await?, "no webhook {id}");
        }
        WebhookCommand::Deliveries { id, limit } => {
            for d in store.deliveries(id, limit).await? {
                let status = d.last_status.map_or("-".to_owned(), |s| s.to_string());
                println!("{}\t{}\t{}\t{}\t{}\t{}", d.id, d.state, d.attempts, status, d.event, d.created.to_rfc3339());
            }
        }
        WebhookCommand::Replay { id } => {
            store.delivery(id).await?.with_context(|| format!("no delivery {id}"))?;
            let replayed = store.replay_delivery(id).await?;
            println!("{}\t{}", replayed.id, replayed.state);
        }
    }
    Ok(())
}

/// `bankd user create`: a user of the named client app, the app made on first use.
async fn create_user(client: &str, settings: &Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir).context("creating the data dir")?;
    let store = open_store(settings).await?;
    let app = match store.client_by_name(client).await? {
        Some(app) => app,
        None => store.create_client(client, &[]).await?.client,
    };
    let user = store.create_user(Some(app.id), "cli").await?;
    let token = store.issue_token(user.id, TokenKind::Permanent, false, None).await?;
    println!("{}", serde_json::json!({"id_user": user.id, "auth_token": token.secret}));
    Ok(())
}

/// `bankd connect-url`: the webview's connect journey for the user, through their app; without a
/// redirect URI when the app has none (a person's own), so the journey ends on "you can close
/// this page".
async fn connect_url(user: i64, lang: &str, settings: &Settings) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let found = store.user(user).await?.with_context(|| format!("no user {user}"))?;
    let id_client = found.id_client.with_context(|| format!("user {user} belongs to no client app"))?;
    let app = store.client(id_client).await?.context("the user's client app is gone")?;
    let code = store.issue_token(user, TokenKind::Code, true, Some(chrono::Duration::minutes(30))).await?;
    let mut query = vec![("client_id", app.client_id), ("code", code.secret)];
    if let Some(uri) = store.client_redirect_uris(app.id).await?.into_iter().next() {
        query.push(("redirect_uri", uri));
    }
    println!("{}/webview/{lang}/connect?{}", public_url(settings), serde_urlencoded::to_string(&query)?);
    Ok(())
}

/// `bankd export`: the file as it is written, to stdout.
async fn export_to_stdout(
    user: i64,
    account: Option<i64>,
    format: ExportFormat,
    window: DateWindow,
    settings: &Settings,
) -> anyhow::Result<()> {
    use std::io::Write;
    let store = open_store(settings).await?;
    let catalog = bankd::startup::catalog(settings, &store, &woob_runtime(settings)).await?;
    let mut chunks = bankd::usecases::exports::export(&store, &catalog, user, account, format, window)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut stdout = std::io::stdout().lock();
    while let Some(chunk) = chunks.recv().await {
        stdout.write_all(&chunk?)?;
    }
    Ok(stdout.flush()?)
}

/// Warnings printed by `bankd catalog import-fints`: enough to see what the list does.
const LIST_WARNINGS_PRINTED: usize = 10;

/// `bankd catalog import-fints FILE`: the whole list read first, so a file refused leaves the
/// directory as it was; a list with no bank at all is refused too (it would empty the directory).
async fn import_fints(file: &std::path::Path, settings: &Settings) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let list = read_institute_list(&bytes).with_context(|| format!("reading {}", file.display()))?;
    for warning in list.warnings.iter().take(LIST_WARNINGS_PRINTED) {
        eprintln!("{}: {warning}", file.display());
    }
    if list.warnings.len() > LIST_WARNINGS_PRINTED {
        eprintln!("{}: … and {} more", file.display(), list.warnings.len() - LIST_WARNINGS_PRINTED);
    }
    anyhow::ensure!(
        !list.institutes.is_empty(),
        "{}: no bank with a PIN/TAN URL; the directory is left as it was",
        file.display()
    );
    std::fs::create_dir_all(&settings.data_dir).context("creating the data dir")?;
    let store = open_store(settings).await?;
    store.replace_fints_institutes(&list.institutes).await?;
    println!(
        "{} banks imported, {} skipped ({} without a PIN/TAN URL, {} listed twice)",
        list.institutes.len(),
        list.without_pintan + list.duplicates,
        list.without_pintan,
        list.duplicates
    );
    if settings.fints_product_id().is_none() {
        eprintln!("German banks (FinTS) are offered once BANKD_FINTS_PRODUCT_ID is set: {FINTS_REGISTRATION}");
    }
    Ok(())
}

/// `bankd catalog import-aspsps FILE`: the whole file read and checked against the catalog's
/// profiles first, so a file refused leaves the directory as it was.
async fn import_aspsps(file: &std::path::Path, settings: &Settings) -> anyhow::Result<()> {
    let catalog = Catalog::load(settings.catalog.as_deref(), settings.sandbox)?;
    let profiles = catalog.profiles.iter().map(|p| p.name.as_str()).collect();
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let banks = read_aspsp_list(&bytes, &profiles)
        .with_context(|| format!("{}: nothing imported, the directory is left as it was", file.display()))?;
    std::fs::create_dir_all(&settings.data_dir).context("creating the data dir")?;
    let store = open_store(settings).await?;
    let new = store.replace_directory_banks(&banks).await?;
    println!("{} banks imported ({new} new); offered as connectors from bankd's next start", banks.len());
    Ok(())
}

/// `bankd woob modules`.
async fn woob_modules(refresh: bool, settings: &Settings) -> anyhow::Result<()> {
    let woob = woob_runtime(settings);
    let Some((path, modules)) = bankd::startup::woob_modules(settings, &woob, refresh).await? else {
        anyhow::bail!("no woob modules: set BANKD_WOOB_MODULES_PATH, or run `bankd woob update`");
    };
    let store = open_store(settings).await?;
    let ids = store.woob_connector_ids(&[]).await?;
    let health = store.connector_health(bankd::store::now() - chrono::Duration::hours(24)).await?;
    println!("# {} ({} modules)", path.display(), modules.len());
    println!("module\tbank\toffered\tfields\tfailing users (24 h)");
    for module in modules.iter().filter(|m| m.bank) {
        let offered = match module.unusable() {
            None if module.selenium => "beta (needs Selenium and a browser)".to_owned(),
            None => "yes".to_owned(),
            Some(why) => format!("no: {}", why.replace('\n', " ")),
        };
        let fields: Vec<String> =
            module.fields().into_iter().map(|f| format!("{}:{}", f.name, f.kind.as_str())).collect();
        let h = ids.get(&module.name).and_then(|id| health.iter().find(|h| h.id_connector == *id));
        let failing = h.map_or("-".to_owned(), |h| {
            format!("{}/{}{}", h.broken, h.users, if h.is_broken() { " BROKEN" } else { "" })
        });
        println!("{}\t{}\t{offered}\t{}\t{failing}", module.name, module.bank_name(), fields.join(","));
    }
    Ok(())
}

/// `bankd woob update`: woob's repository in the `sources.list` of bankd's woob home, then woob's
/// own update, whose progress goes to the terminal.
async fn woob_update(settings: &Settings) -> anyhow::Result<()> {
    let mut woob = woob_runtime(settings);
    // Downloading a few hundred modules takes longer than a bank's call.
    woob.timeout = std::time::Duration::from_secs(3600);
    woob.prepare_home()?;
    std::fs::write(woob.sources_list(), UPDATES_SOURCES_LIST).context("writing woob's sources.list")?;
    let mut helper = Helper::start(&woob, "update").await?;
    let answer = helper.call("update", serde_json::json!({})).await;
    helper.close().await;
    let installed = answer?;
    println!("woob's modules are in {}; bankd offers them at its next start", installed["modules_path"]);
    Ok(())
}

/// `bankd rotate-key`: the next key first (every process seals with it from then on), then every
/// sealed value under it, pass after pass until one finds nothing left under the old key, then the
/// next key made the master key.
async fn rotate_key(new_key_file: &std::path::Path, settings: &Settings) -> anyhow::Result<()> {
    let new_key =
        std::fs::read_to_string(new_key_file).with_context(|| format!("reading {}", new_key_file.display()))?;
    let store = open_store(settings).await?;
    let env_key = std::env::var("BANKD_MASTER_KEY").ok();
    let (rotation, ring) = Rotation::begin(env_key.as_deref(), &settings.data_dir, &new_key)?;
    // A process seals with the ring it read just before; what it sealed under the old key before
    // the next key appeared is written within milliseconds. The passes start after that.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let mut total = 0;
    for _ in 0..MAX_ROTATION_PASSES {
        let pass = store.reseal_all(&ring).await?;
        tracing::info!(resealed = pass.resealed, current = pass.current, moved = pass.moved, "rotation pass");
        total += pass.resealed;
        if pass.is_complete() {
            return finish_rotation(rotation, total, settings);
        }
    }
    anyhow::bail!(
        "secrets are still being sealed under the old key after {MAX_ROTATION_PASSES} passes: a bankd that does not \
         share the data dir {} is running; give it the new key, or stop it, and run rotate-key again",
        settings.data_dir.display()
    )
}

/// Passes over every sealed value before a rotation gives up on a writer that keeps the old key.
const MAX_ROTATION_PASSES: usize = 10;

fn finish_rotation(rotation: Rotation, total: u64, settings: &Settings) -> anyhow::Result<()> {
    if rotation.finish()? {
        println!("{total} secrets sealed under the new key; it is now the master key, and the old one opens nothing");
    } else {
        println!(
            "{total} secrets sealed under the new key. Set BANKD_MASTER_KEY to the new key everywhere, restart, then \
             delete {}",
            settings.data_dir.join("master.key.next").display()
        );
    }
    Ok(())
}

/// `bankd import`: each file in turn, with a progress bar on large ones.
async fn import_files(
    files: &[std::path::PathBuf],
    user: i64,
    options: ImportOptions,
    settings: &Settings,
) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let catalog = Catalog::load(settings.catalog.as_deref(), settings.sandbox)?;
    let key = MasterKey::load(std::env::var("BANKD_MASTER_KEY").ok().as_deref(), &settings.data_dir)?;
    for path in files {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let size = file.metadata()?.len();
        let bar = if size > 4 << 20 { ProgressBar::new(size) } else { ProgressBar::hidden() };
        bar.set_style(ProgressStyle::with_template("{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec}")?);
        bar.set_message(path.display().to_string());
        let imported = import(&store, &catalog, &key, user, bar.wrap_read(file), options.clone())
            .await
            .with_context(|| format!("importing {}", path.display()))?;
        bar.finish_and_clear();
        println!(
            "{}: {} statement(s), {} account(s), {} added, {} updated, {} unchanged (connection {})",
            path.display(),
            imported.statements,
            imported.accounts.len(),
            imported.added,
            imported.updated,
            imported.unchanged,
            imported.connection.id
        );
        print_warnings(&imported.warnings);
    }
    Ok(())
}

/// Warnings printed by `bankd import`: enough to see what the file does, the rest is in the log row.
const WARNINGS_PRINTED: usize = 5;

/// How many deviations the file was read with, and the first few.
fn print_warnings(warnings: &statements::Warnings) {
    if warnings.is_empty() {
        return;
    }
    println!("  {} warning(s): read as assumed", warnings.total());
    for w in warnings.kept().iter().take(WARNINGS_PRINTED) {
        println!("  {}: {}; assumed {}", w.location, w.what, w.assumed);
    }
    let more = warnings.total() - warnings.kept().len().min(WARNINGS_PRINTED) as u64;
    if more > 0 {
        println!("  … and {more} more (GET /2.0/users/me/connections/{{id}}/logs shows the first 100)");
    }
}
