//! `wbots-load`: the end-to-end load harness. Starts a fake Chatwoot and a fake Graph API
//! on loopback, the real `wbots serve` on SQLite (and/or PostgreSQL, one replica and two),
//! the bare relay and the durable relay, offers each the same signed Meta webhooks, runs the
//! backlog scenario against a throttling Chatwoot, and prints the tables of BENCHMARKS.md.
//!
//! `cargo run --release -p wbots-benches --bin wbots-load` (see `--help`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use tokio::net::TcpListener;
use wbots_benches::backlog::{AGENT_CUSTOMERS, BacklogRow, agent_reply};
use wbots_benches::fakes::{FakeChatwoot, FakeGraph, INBOX};
use wbots_benches::http::client;
use wbots_benches::journal::Journal;
use wbots_benches::load::{APP_SECRET, PAGE, Pace, offer, webhooks, webhooks_from};
use wbots_benches::process::{Target, Usage};
use wbots_benches::relay::serve_relay;
use wbots_benches::report::{Percentiles, Row, table};
use wbots_benches::server_cpu::ServerCpu;
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
    /// Leave the bare relay and the durable relay out.
    #[arg(long)]
    no_relay: bool,
    /// Replica counts to run on PostgreSQL, comma-separated: each is that many `wbots serve`
    /// on one fresh database, the webhooks offered to them in turn.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    replicas: Vec<usize>,
    /// Inbound messages queued in the backlog scenario (0: no backlog scenario).
    #[arg(long, default_value_t = 100_000)]
    backlog: u64,
    /// Conversations the backlog is spread over.
    #[arg(long, default_value_t = 100)]
    backlog_conversations: u64,
    /// The backlog scenario's measuring window (agents reply meanwhile); the backlog is not
    /// drained to the end.
    #[arg(long, default_value_t = 30)]
    backlog_seconds: u64,
    /// Agent replies a second during the window (spread over 20 other conversations).
    #[arg(long, default_value_t = 5.0)]
    reply_rate: f64,
    /// The bridge's `chatwoot.max_requests_per_minute` in the backlog scenario, comma-separated:
    /// one run each (the shipped default, and Chatwoot's own limit).
    #[arg(long, value_delimiter = ',', default_value = "2400,3000")]
    budget: Vec<u64>,
    /// The fake Chatwoot's throttle in the backlog scenario, requests a minute (Chatwoot's
    /// default `RACK_ATTACK_LIMIT`).
    #[arg(long, default_value_t = 3000)]
    chatwoot_limit: u64,
}

/// Conversations agents reply in during the backlog scenario.
const AGENT_CONVERSATIONS: u64 = 20;
/// The bridge's path token for Chatwoot's webhooks (`chatwoot.webhook_token`).
const WEBHOOK_TOKEN: &str = "load-webhook-token";

#[derive(Subcommand, Debug)]
enum Sub {
    /// Runs the bare relay (the harness starts it as its own process).
    Relay {
        /// The fake Chatwoot's messages URL.
        #[arg(long)]
        to: String,
        /// Append each webhook to this journal (group-committed, fsync'd) before forwarding
        /// it: the durable relay.
        #[arg(long)]
        journal: Option<PathBuf>,
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
            Some(Sub::Relay { to, journal }) => relay(to, journal).await,
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

async fn relay(to: String, journal: Option<PathBuf>) -> Result<(), String> {
    let journal = match journal {
        Some(path) => Some(Journal::open(&path).map_err(|e| e.to_string())?),
        None => None,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("relay listening on http://{addr}");
    serve_relay(listener, to, journal).await.map_err(|e| e.to_string())
}

/// What one target is.
enum Kind {
    /// `replicas` × `wbots serve` on one store.
    Bridge { store: StoreChoice, replicas: usize },
    /// The bare relay; `durable`: with its journal.
    Relay { durable: bool },
}

impl Kind {
    fn on_postgres(&self) -> bool {
        matches!(self, Self::Bridge { store: StoreChoice::Postgres, .. })
    }

    fn label(&self) -> String {
        match self {
            Self::Bridge { store: StoreChoice::Postgres, replicas: 1 } => {
                "bridge (postgres)".to_owned()
            }
            Self::Bridge { store: StoreChoice::Postgres, replicas } => {
                format!("bridge (postgres ×{replicas})")
            }
            Self::Bridge { .. } => "bridge (sqlite)".to_owned(),
            Self::Relay { durable: false } => "bare relay".to_owned(),
            Self::Relay { durable: true } => "durable relay".to_owned(),
        }
    }
}

struct Harness {
    cli: Cli,
    wbots: PathBuf,
    chatwoot: FakeChatwoot,
    graph: FakeGraph,
    http: wbots_benches::http::Client,
    /// The PostgreSQL server's CPU, when it runs on this machine.
    server: Option<ServerCpu>,
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
        server: match &cli.postgres_url {
            Some(url) if stores.contains(&StoreChoice::Postgres) => ServerCpu::of(url).await,
            _ => None,
        },
        cli,
    };
    println!("{}\n", machine());
    let mut rows = Vec::new();
    for store in &stores {
        let replicas = match store {
            StoreChoice::Postgres => h.cli.replicas.clone(),
            _ => vec![1],
        };
        for replicas in replicas.into_iter().filter(|&r| r > 0) {
            for &n in &h.cli.conversations {
                rows.extend(h.run(Kind::Bridge { store: *store, replicas }, n).await?);
            }
        }
    }
    if !h.cli.no_relay {
        let n = h.cli.conversations.first().copied().unwrap_or(1000);
        rows.extend(h.run(Kind::Relay { durable: false }, n).await?);
        rows.extend(h.run(Kind::Relay { durable: true }, n).await?);
    }
    let mut backlogs = Vec::new();
    if h.cli.backlog > 0 {
        if let Some(store) = stores.first() {
            for &budget in &h.cli.budget {
                backlogs.push(h.backlog(*store, budget).await?);
            }
        }
    }
    println!("{}", table(&rows));
    if !backlogs.is_empty() {
        println!("{}", wbots_benches::backlog::table(&backlogs));
    }
    println!("{}", summary(&rows, &backlogs, &h.cli));
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

/// The usage of a target's processes together: memory of the largest, CPU of all.
fn usage_of(targets: &[Target]) -> Result<Usage, String> {
    let mut all = Usage::default();
    for t in targets {
        let u = t.usage()?;
        all.rss = all.rss.max(u.rss);
        all.peak_rss = all.peak_rss.max(u.peak_rss);
        all.cpu += u.cpu;
    }
    Ok(all)
}

impl Harness {
    /// Starts the target's processes (its replicas) with Chatwoot request budget `budget`
    /// (bridges only; 0: none).
    async fn start(&self, kind: &Kind, dir: &Path, budget: u64) -> Result<Vec<Target>, String> {
        // (program, arguments, replicas, whether it is `wbots`)
        let (program, args, replicas, bridge): (PathBuf, Vec<std::ffi::OsString>, usize, bool) =
            match kind {
                Kind::Bridge { store, replicas } => {
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
                    std::fs::write(&config, self.config(&url, budget))
                        .map_err(|e| e.to_string())?;
                    let args = vec!["serve".into(), "--config".into(), config.into_os_string()];
                    (self.wbots.clone(), args, *replicas, true)
                }
                Kind::Relay { durable } => {
                    let me = std::env::current_exe().map_err(|e| e.to_string())?;
                    let mut args: Vec<std::ffi::OsString> =
                        vec!["relay".into(), "--to".into(), self.chatwoot.messages_url().into()];
                    if *durable {
                        args.extend(["--journal".into(), dir.join("journal").into_os_string()]);
                    }
                    (me, args, 1, false)
                }
            };
        let mut targets = Vec::new();
        for i in 0..replicas.max(1) {
            let mut cmd = Command::new(&program);
            cmd.args(&args);
            if bridge {
                let log = std::fs::File::create(dir.join(format!("wbots-{i}.log")))
                    .map_err(|e| e.to_string())?;
                cmd.env_remove("RUST_LOG").stderr(Stdio::from(log));
            }
            targets.push(Target::start(cmd).await?);
        }
        Ok(targets)
    }

    fn config(&self, store: &str, budget: u64) -> String {
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
# 0 in the throughput phases, whose fake Chatwoot does not throttle; the backlog
# scenario's budget against its throttling one.
max_requests_per_minute = {budget}
webhook_token = "{WEBHOOK_TOKEN}"
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
        let label = kind.label();
        let fixed = (self.cli.rate * self.cli.seconds as f64).round() as u64;
        let tracker = Arc::new(Tracker::new(n + self.cli.messages + fixed));
        self.chatwoot.track(tracker.clone());
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let targets = self.start(&kind, dir.path(), 0).await?;
        let urls: Vec<String> =
            targets.iter().map(|t| format!("{}/webhooks/meta", t.url)).collect();
        // Idle: started, migrated, workers polling, nothing to do.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle_rss = usage_of(&targets)?.rss;
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
            let server = self.server.filter(|_| kind.on_postgres());
            let server_before = server.map(|s| s.used()).transpose()?;
            let before = usage_of(&targets)?;
            let dup_before = tracker.duplicates();
            let offered = offer(&self.http, &urls, hooks, pace, &tracker).await;
            let limit = Duration::from_secs(60 + count / 100);
            let delivered = tracker.wait_for(seqs.clone(), limit).await;
            let after = usage_of(&targets)?;
            let server_cpu = match (server, server_before) {
                (Some(s), Some(before)) => Some(s.used()?.saturating_sub(before)),
                _ => None,
            };
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
                server_cpu,
                duplicates: tracker.duplicates() - dup_before,
                failed_acks: offered.failed_attempts,
            });
        }
        drop(targets);
        Ok(rows)
    }

    /// The backlog scenario on `store`: agents' conversations first, then `--backlog`
    /// inbound messages queued as fast as the bridge acknowledges them while Chatwoot
    /// throttles at `--chatwoot-limit` and the bridge keeps to `budget`; then, for
    /// `--backlog-seconds`, agents reply in their conversations and each reply is timed
    /// from its webhook to its arrival at the Graph API. The backlog is left undrained.
    async fn backlog(&self, store: StoreChoice, budget: u64) -> Result<BacklogRow, String> {
        let cli = &self.cli;
        let kind = Kind::Bridge { store, replicas: 1 };
        let label = kind.label();
        let (agents, queued) = (AGENT_CONVERSATIONS, cli.backlog);
        let tracker = Arc::new(Tracker::new(agents + queued));
        self.chatwoot.track(tracker.clone());
        let reply_count = (cli.reply_rate * cli.backlog_seconds as f64).round() as u64;
        let replies = Arc::new(Tracker::new(reply_count));
        self.graph.track(replies.clone());
        let throttled_before = self.chatwoot.throttled();
        self.chatwoot.limit(cli.chatwoot_limit);
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let targets = self.start(&kind, dir.path(), budget).await?;
        let base = targets.first().map(|t| t.url.clone()).ok_or("no target")?;
        let meta = vec![format!("{base}/webhooks/meta")];
        let run = format!("{}-backlog", std::process::id());

        eprintln!("{label}, backlog: {agents} agents' conversations…");
        let seeds = webhooks_from(0..agents, &run, |seq| AGENT_CUSTOMERS + seq);
        offer(&self.http, &meta, seeds, Pace::Max { concurrency: 4 }, &tracker).await;
        if tracker.wait_for(0..agents, Duration::from_secs(120)).await < agents {
            return Err("the agents' conversations never reached Chatwoot".into());
        }
        let conversations: Vec<(u64, u64)> = (0..agents)
            .filter_map(|seq| Some((self.chatwoot.conversation_of(seq)?, AGENT_CUSTOMERS + seq)))
            .collect();

        eprintln!("{label}, backlog: queueing {queued} inbound messages…");
        let backlog = agents..agents + queued;
        let spread = cli.backlog_conversations.max(1);
        let hooks = webhooks_from(backlog.clone(), &run, |seq| seq % spread);
        let max = Pace::Max { concurrency: cli.concurrency };
        let offered = offer(&self.http, &meta, hooks, max, &tracker).await;
        if offered.abandoned > 0 {
            return Err(format!("{} backlog webhooks were never accepted", offered.abandoned));
        }
        let at_open = tracker.delivered_in(backlog.clone());

        eprintln!("{label}, backlog: agents reply for {} s…", cli.backlog_seconds);
        let hooks: Vec<_> = (0..reply_count)
            .filter_map(|seq| {
                let (conversation, customer) =
                    conversations.get(seq as usize % conversations.len().max(1))?;
                Some(agent_reply(seq, *conversation, *customer))
            })
            .collect();
        let chatwoot = vec![format!("{base}/webhooks/chatwoot/{WEBHOOK_TOKEN}")];
        let opened = Instant::now();
        let sent = offer(&self.http, &chatwoot, hooks, Pace::Rate(cli.reply_rate), &replies).await;
        let window = opened.elapsed();
        let at_close = tracker.delivered_in(backlog);
        if sent.failed_attempts > 0 {
            eprintln!("{label}, backlog: {} agent webhooks refused", sent.failed_attempts);
        }
        let replied = replies.wait_for(0..reply_count, Duration::from_secs(30)).await;
        let (latencies, _) = replies.latencies(0..reply_count);
        let reply_max = latencies.iter().copied().max().unwrap_or(0);
        let row = BacklogRow {
            target: label,
            budget,
            limit: cli.chatwoot_limit,
            offered: queued,
            queued: queued - at_open,
            conversations: spread,
            window,
            drained: at_close - at_open,
            replies: reply_count,
            replied,
            reply: Percentiles::of(latencies),
            reply_max,
            throttled: self.chatwoot.throttled() - throttled_before,
            duplicates: tracker.duplicates() + replies.duplicates(),
        };
        drop(targets);
        self.chatwoot.limit(0);
        Ok(row)
    }
}

/// The targets of the performance issue (#19), against what was measured.
fn summary(rows: &[Row], backlogs: &[BacklogRow], cli: &Cli) -> String {
    let mut out = String::from("targets:\n");
    let rate_label = format!("{}/s", cli.rate);
    let find = |target: &str| rows.iter().find(|r| r.target == target && r.load == "max");
    let (relay, durable) = (find("bare relay"), find("durable relay"));
    let bridges: Vec<&Row> = rows.iter().filter(|r| r.target.starts_with("bridge")).collect();
    for r in bridges.iter().filter(|r| r.load == "max") {
        for (name, reference) in [("bare relay", relay), ("durable relay", durable)] {
            let Some(reference) = reference else { continue };
            let ratio = r.throughput() / reference.throughput().max(f64::MIN_POSITIVE);
            let cost = r.cpu_per_thousand() / reference.cpu_per_thousand().max(f64::MIN_POSITIVE);
            out += &format!(
                "- {} at {} conversations: {:.0} msg/s = {:.2}× the {name}'s {:.0} (target ≥ 0.25× the bare relay's); CPU {:.3} s / 1k msgs = {:.1}× its {:.3} (target ≤ 5×)\n",
                r.target,
                r.conversations,
                r.throughput(),
                ratio,
                reference.throughput(),
                r.cpu_per_thousand(),
                cost,
                reference.cpu_per_thousand(),
            );
        }
    }
    // On one machine the PostgreSQL server's work competes with the bridge's for the same
    // cores: the whole cost of a message is both.
    for r in bridges.iter().filter(|r| r.load == "max") {
        let Some(server) = r.server_cpu_per_thousand() else { continue };
        out += &format!(
            "- {} at {} conversations: the PostgreSQL server's CPU {:.3} s / 1k msgs besides the bridge's {:.3} (together {:.3})\n",
            r.target,
            r.conversations,
            server,
            r.cpu_per_thousand(),
            server + r.cpu_per_thousand(),
        );
    }
    for r in bridges.iter().filter(|r| r.load == rate_label) {
        let target = if r.target.contains("postgres") { 20 } else { 10 };
        out += &format!(
            "- {} at {} conversations, {} offered: {:.0} msg/s delivered, ack p99 {:.2} ms (target ≤ {target} ms)\n",
            r.target,
            r.conversations,
            rate_label,
            r.throughput(),
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
    for b in backlogs {
        out += &format!(
            "- {} with {} inbound messages queued, {}/min budget, Chatwoot throttling at {}/min: agent reply → Meta p99 {:.0} ms (target ≤ 1,000 ms), {} 429s (target 0)\n",
            b.target,
            b.queued,
            b.budget,
            b.limit,
            b.reply.p99 as f64 / 1000.0,
            b.throttled
        );
    }
    out
}
