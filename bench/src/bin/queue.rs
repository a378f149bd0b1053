//! Job queue throughput: 10,000 no-op jobs claimed and finished by 4 workers in 2 connection pools
//! (two "processes"), on each backend. Prints jobs/s beside the target of shared/targets.md.
//!
//! cargo run --release -p bankd-bench --bin queue
//! (PostgreSQL too when BANKD_BENCH_DATABASE_URL or BANKD_TEST_DATABASE_URL is set.)

use std::time::Instant;

use bankd::store::Store;
use bankd_bench::{Backend, fresh_store, header, row};

const JOBS: usize = 10_000;
const POOLS: usize = 2;
const WORKERS_PER_POOL: usize = 2;

async fn worker(store: Store, name: String) -> usize {
    let mut ran = 0;
    while let Some(job) = store.claim_job(&name, chrono::Duration::minutes(1), 8, 8).await.expect("claim") {
        assert!(store.finish_job(job.id, &name, "ok").await.expect("finish"));
        ran += 1;
    }
    ran
}

#[tokio::main]
async fn main() {
    if std::env::var_os("BANKD_BENCH_NO_HEADER").is_none() {
        header();
    }
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let dir = tempfile::tempdir().expect("temp dir");
        let Some((store, url)) = fresh_store(backend, &dir).await else {
            row(&format!("{backend:?}: job queue"), "skipped (set BANKD_BENCH_DATABASE_URL)", "", "", "");
            continue;
        };
        let started = Instant::now();
        store.enqueue_noops(JOBS).await.expect("enqueue");
        let enqueue = started.elapsed();

        // One pool per simulated process.
        let mut pools = Vec::new();
        for _ in 0..POOLS {
            pools.push(Store::connect(&url).await.expect("connect"));
        }
        let started = Instant::now();
        let tasks = pools.into_iter().enumerate().flat_map(|(p, pool)| {
            (0..WORKERS_PER_POOL).map(move |w| tokio::spawn(worker(pool.clone(), format!("p{p}-w{w}"))))
        });
        let ran: usize = futures::future::join_all(tasks).await.into_iter().map(|r| r.expect("worker")).sum();
        let elapsed = started.elapsed();
        assert_eq!(ran, JOBS, "every job ran exactly once");
        row(
            &format!("{backend:?}: {JOBS} no-op jobs, {POOLS} pools x {WORKERS_PER_POOL} workers, each once"),
            &format!(
                "{:.0} jobs/s claimed+finished; enqueue {:.0} jobs/s",
                JOBS as f64 / elapsed.as_secs_f64(),
                JOBS as f64 / enqueue.as_secs_f64()
            ),
            "",
            "",
            ">= 1,000 jobs/s (PostgreSQL)",
        );
    }
}
