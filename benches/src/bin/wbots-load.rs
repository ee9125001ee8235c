//! `wbots-load`: the end-to-end load harness. Starts a fake Chatwoot and a fake Graph API
//! on loopback, the real `wbots serve` on SQLite (and/or PostgreSQL), and the bare relay,
//! offers each the same signed Meta webhooks, and prints the table of BENCHMARKS.md.
//!
//! `cargo run --release -p wbots-benches --bin wbots-load` (see `--help`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use tokio::net::TcpListener;
use wbots_benches::fakes::{FakeChatwoot, FakeGraph, INBOX};
use wbots_benches::http::client;
use wbots_benches::load::{APP_SECRET, PAGE, Pace, offer, webhooks};
use wbots_benches::process::Target;
use wbots_benches::relay::serve_relay;
use wbots_benches::report::{Percentiles, Row, table};
use wbots_benches::tracker::Tracker;

#[derive(Parser, Debug)]
#[command(name = "wbots-load", about = "End-to-end load harness: wbots against a bare relay")]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    /// The `wbots` binary to measure; by default it is built (cargo, same profile as this
    /// harness) and taken from beside this executable.
    #[arg(long)]
    wbots: Option<PathBuf>,
    /// The bridge's store.
    #[arg(long, value_enum, default_value = "sqlite")]
    store: StoreChoice,
    /// A PostgreSQL URL whose user may create databases (each run gets a fresh one).
    #[arg(long, env = "WBOTS_BENCH_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// Conversation counts to run, comma-separated; each gets a fresh bridge and store.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000")]
    conversations: Vec<u64>,
    /// Messages in the as-fast-as-possible phase.
    #[arg(long, default_value_t = 20_000)]
    messages: u64,
    /// Concurrent senders in the as-fast-as-possible phases.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Offered rate (messages/s) of the fixed-rate phase.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Length of the fixed-rate phase.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Leave the bare relay out.
    #[arg(long)]
    no_relay: bool,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Runs the bare relay (the harness starts it as its own process).
    Relay {
        /// The fake Chatwoot's messages URL.
        #[arg(long)]
        to: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum StoreChoice {
    Sqlite,
    Postgres,
    Both,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wbots-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Some(Sub::Relay { to }) => relay(to).await,
            None => harness(cli).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wbots-load: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn relay(to: String) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("relay listening on http://{addr}");
    serve_relay(listener, to).await.map_err(|e| e.to_string())
}

/// What one target is.
enum Kind {
    Bridge { store: StoreChoice },
    Relay,
}

struct Harness {
    cli: Cli,
    wbots: PathBuf,
    chatwoot: FakeChatwoot,
    graph: FakeGraph,
    http: wbots_benches::http::Client,
}

async fn harness(cli: Cli) -> Result<(), String> {
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build measures nothing useful; add --release");
    }
    let wbots = match &cli.wbots {
        Some(p) => p.clone(),
        None => build_wbots()?,
    };
    let stores = match cli.store {
        StoreChoice::Both => vec![StoreChoice::Sqlite, StoreChoice::Postgres],
        s => vec![s],
    };
    if stores.contains(&StoreChoice::Postgres) && cli.postgres_url.is_none() {
        return Err("--store postgres needs --postgres-url (or WBOTS_BENCH_POSTGRES_URL)".into());
    }
    let h = Harness {
        wbots,
        chatwoot: FakeChatwoot::start().await.map_err(|e| e.to_string())?,
        graph: FakeGraph::start().await.map_err(|e| e.to_string())?,
        http: client(),
        cli,
    };
    println!("{}\n", machine());
    let mut rows = Vec::new();
    for store in &stores {
        for &n in &h.cli.conversations {
            rows.extend(h.run(Kind::Bridge { store: *store }, n).await?);
        }
    }
    if !h.cli.no_relay {
        let n = h.cli.conversations.first().copied().unwrap_or(1000);
        rows.extend(h.run(Kind::Relay, n).await?);
    }
    println!("{}", table(&rows));
    println!("{}", summary(&rows, &h.cli));
    Ok(())
}

/// Builds `wbots` with the harness's own profile and returns its path (beside this one).
fn build_wbots() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "-p", "wbots-bin", "--bin", "wbots", "--manifest-path"]);
    build.arg(&manifest);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    eprintln!("building wbots…");
    let status = build.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building wbots failed".into());
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let path = me.with_file_name(format!("wbots{}", std::env::consts::EXE_SUFFIX));
    if path.exists() { Ok(path) } else { Err(format!("no wbots at {}", path.display())) }
}

/// The machine, for the report.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "machine: {cores} cores ({model}), {mem_gib:.0} GiB; harness, fakes and target share them"
    )
}

impl Harness {
    /// Starts the target; it and the URL to post webhooks to.
    async fn start(&self, kind: &Kind, dir: &Path) -> Result<(Target, String), String> {
        let cmd = match kind {
            Kind::Bridge { store } => {
                let url = match store {
                    StoreChoice::Postgres => {
                        let admin = self.cli.postgres_url.as_deref().unwrap_or_default();
                        wbots_core::testkit::fresh_postgres_database(admin)
                            .await
                            .map_err(|e| e.to_string())?
                    }
                    _ => format!("sqlite://{}", dir.join("wbots.db").display()),
                };
                let config = dir.join("wbots.toml");
                std::fs::write(&config, self.config(&url)).map_err(|e| e.to_string())?;
                let log =
                    std::fs::File::create(dir.join("wbots.log")).map_err(|e| e.to_string())?;
                let mut cmd = Command::new(&self.wbots);
                cmd.args(["serve", "--config"]).arg(&config).env_remove("RUST_LOG");
                cmd.stderr(Stdio::from(log));
                cmd
            }
            Kind::Relay => {
                let me = std::env::current_exe().map_err(|e| e.to_string())?;
                let mut cmd = Command::new(me);
                cmd.args(["relay", "--to", &self.chatwoot.messages_url()]);
                cmd
            }
        };
        let target = Target::start(cmd).await?;
        let url = format!("{}/webhooks/meta", target.url);
        Ok((target, url))
    }

    fn config(&self, store: &str) -> String {
        format!(
            r#"[server]
listen = "127.0.0.1:0"
metrics_listen = ""
public_url = "http://bridge.invalid"
[store]
url = "{store}"
[meta]
app_secret = "{APP_SECRET}"
verify_token = "load-verify-token-0123"
graph_url = "{graph}"
instagram_graph_url = "{graph}"
[chatwoot]
url = "{chatwoot}"
api_access_token = "load-token"
account_id = 1
# The fake Chatwoot does not throttle: the throughput phases run unbudgeted.
max_requests_per_minute = 0
webhook_token = "load-webhook-token"
[[channels]]
kind = "messenger"
id = "{PAGE}"
access_token = "load-page-token"
inbox_id = {INBOX}
"#,
            graph = self.graph.url(),
            chatwoot = self.chatwoot.url(),
        )
    }

    /// All phases against one fresh target.
    async fn run(&self, kind: Kind, n: u64) -> Result<Vec<Row>, String> {
        let label = match &kind {
            Kind::Bridge { store: StoreChoice::Postgres } => "bridge (postgres)".to_owned(),
            Kind::Bridge { .. } => "bridge (sqlite)".to_owned(),
            Kind::Relay => "bare relay".to_owned(),
        };
        let fixed = (self.cli.rate * self.cli.seconds as f64).round() as u64;
        let tracker = Arc::new(Tracker::new(n + self.cli.messages + fixed));
        self.chatwoot.track(tracker.clone());
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (target, url) = self.start(&kind, dir.path()).await?;
        // Idle: started, migrated, workers polling, nothing to do.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle_rss = target.usage()?.rss;
        let run = format!("{}", std::process::id());
        let max = Pace::Max { concurrency: self.cli.concurrency };
        let mut rows = Vec::new();
        let mut next = 0;
        let mut phases = Vec::new();
        if matches!(kind, Kind::Bridge { .. }) {
            phases.push(("first contact".to_owned(), n, max));
        }
        phases.push(("max".to_owned(), self.cli.messages, max));
        phases.push((format!("{}/s", self.cli.rate), fixed, Pace::Rate(self.cli.rate)));
        for (load, count, pace) in phases {
            let seqs = next..next + count;
            next += count;
            eprintln!("{label}, {n} conversations: {load}, {count} messages…");
            let hooks = webhooks(seqs.clone(), n, &run);
            let before = target.usage()?;
            let dup_before = tracker.duplicates();
            let offered = offer(&self.http, &url, hooks, pace, &tracker).await;
            let limit = Duration::from_secs(60 + count / 100);
            let delivered = tracker.wait_for(seqs.clone(), limit).await;
            let after = target.usage()?;
            let (latencies, span) = tracker.latencies(seqs);
            rows.push(Row {
                target: label.clone(),
                conversations: n,
                load,
                messages: count,
                delivered,
                span,
                ack: Percentiles::of(offered.acks),
                end_to_end: Percentiles::of(latencies),
                idle_rss,
                peak_rss: after.peak_rss,
                cpu: after.cpu.saturating_sub(before.cpu),
                duplicates: tracker.duplicates() - dup_before,
                failed_acks: offered.failed_attempts,
            });
        }
        drop(target);
        Ok(rows)
    }
}

/// The targets of the benchmark issue, against what was measured.
fn summary(rows: &[Row], cli: &Cli) -> String {
    let mut out = String::from("targets:\n");
    let relay = rows.iter().find(|r| r.target == "bare relay" && r.load == "max");
    let rate_label = format!("{}/s", cli.rate);
    let bridges: Vec<&Row> = rows.iter().filter(|r| r.target.starts_with("bridge")).collect();
    for r in bridges.iter().filter(|r| r.load == "max") {
        if let Some(relay) = relay {
            let ratio = r.throughput() / relay.throughput().max(f64::MIN_POSITIVE);
            out += &format!(
                "- {} at {} conversations: {:.0} msg/s = {:.2}× the bare relay's {:.0} (target ≥ 0.5×)\n",
                r.target,
                r.conversations,
                r.throughput(),
                ratio,
                relay.throughput()
            );
        }
    }
    for r in bridges.iter().filter(|r| r.load == rate_label) {
        out += &format!(
            "- {} at {} conversations, {} offered: ack p99 {:.2} ms (target ≤ 10 ms)\n",
            r.target,
            r.conversations,
            rate_label,
            r.ack.p99 as f64 / 1000.0
        );
    }
    let mib = |b: u64| b as f64 / 1024.0 / 1024.0;
    let mut targets: Vec<&str> = bridges.iter().map(|r| r.target.as_str()).collect();
    targets.dedup();
    for t in targets {
        let of: Vec<&&Row> = bridges.iter().filter(|r| r.target == t).collect();
        let idle = of.iter().map(|r| r.idle_rss).max().unwrap_or(0);
        out += &format!("- {t}: idle RSS {:.1} MiB (target ≤ 64 MiB)\n", mib(idle));
        if let Some(big) = of.iter().max_by_key(|r| r.conversations) {
            let peak =
                of.iter().filter(|r| r.conversations == big.conversations).map(|r| r.peak_rss);
            out += &format!(
                "- {t}: peak RSS {:.1} MiB with {} conversations (target ≤ 150 MiB)\n",
                mib(peak.max().unwrap_or(0)),
                big.conversations
            );
        }
        let cost: Vec<String> = of
            .iter()
            .filter(|r| r.load == "max")
            .map(|r| format!("{:.3} at {}", r.cpu_per_thousand(), r.conversations))
            .collect();
        out += &format!(
            "- {t}: CPU s per 1,000 messages {} conversations (target: flat)\n",
            cost.join(" / ")
        );
    }
    out
}
