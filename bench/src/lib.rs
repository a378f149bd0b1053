//! Shared set-up of the benchmarks: a fresh database of each backend.

use bankd::store::Store;

/// A migrated, empty database and its URL: a SQLite file in `dir`, or a new schema of the
/// PostgreSQL database named by `BANKD_BENCH_DATABASE_URL` (else `BANKD_TEST_DATABASE_URL`).
pub async fn fresh_store(backend: Backend, dir: &tempfile::TempDir) -> Option<(Store, String)> {
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("bench.db").display()),
        Backend::Postgres => {
            let url =
                std::env::var("BANKD_BENCH_DATABASE_URL").or_else(|_| std::env::var("BANKD_TEST_DATABASE_URL")).ok()?;
            let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(&url).await.ok()?;
            sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&pool).await.ok()?;
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}options[search_path]={schema}")
        }
    };
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    Some((store, url))
}

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A binary of this workspace's release build (`cargo build --release` first).
pub fn release_binary(name: &str) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), std::path::PathBuf::from);
    target.join("release").join(name)
}

/// One row of the suite's table (`bench/run-all` prints its header): what was measured, the
/// figure, its anchor measured in the same run, their ratio, and the target.
pub fn row(what: &str, figure: &str, anchor: &str, ratio: &str, target: &str) {
    println!("| {what} | {figure} | {anchor} | {ratio} | {target} |");
}

/// The table's header, for a benchmark run alone.
pub fn header() {
    println!("| what | figure | anchor (same run) | ratio | target |\n|---|---|---|---|---|");
}

/// This process's peak resident memory so far (Linux), in MB.
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next()?.parse().ok());
    kb.unwrap_or(0.0) / 1024.0
}

/// A woob runtime for the benches whose catalogs name no woob module: never started.
pub fn no_woob() -> bankd::sources::woob::helper::WoobRuntime {
    let home = std::env::temp_dir().join("bankd-bench-woob");
    bankd::sources::woob::helper::WoobRuntime::new("python3", &home, std::time::Duration::from_secs(1), 1)
}
