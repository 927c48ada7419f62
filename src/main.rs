//! The `errata` command: parses arguments, dispatches, nothing else.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use errata::api::serialize;
use errata::app::Server;
use errata::config::Config;
use errata::store::{NewProject, NewToken, Store};

#[derive(Parser)]
#[command(name = "errata", version, about = "A self-hosted, Sentry-compatible error tracker")]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct GlobalArgs {
    /// Optional TOML configuration file.
    #[arg(long, env = "ERRATA_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Directory holding the SQLite database.
    #[arg(long, env = "ERRATA_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL database shared by several nodes (postgres://user:pass@host/db); unset = SQLite.
    #[arg(long, env = "ERRATA_DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// Base URL clients use to reach the server (DSNs, links).
    #[arg(long, env = "ERRATA_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// Address to listen on (also used to form DSNs when no public URL is set).
    #[arg(long, env = "ERRATA_BIND", global = true)]
    bind: Option<std::net::SocketAddr>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server.
    Serve(ServeArgs),
    /// Manage projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the people who sign in to the web UI.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage alert rules: who hears about new and regressed issues.
    #[command(subcommand)]
    Alert(AlertCommand),
    /// Apply database migrations and exit.
    Migrate,
    /// Print the effective configuration (secrets masked).
    Config,
    /// Copy the database to FILE while the server runs (SQLite's online backup), then check the copy.
    /// On PostgreSQL this refuses: use pg_dump.
    Backup {
        /// Where to write the copy; must not exist yet.
        file: PathBuf,
    },
    /// Copy a SQLite database into a new, empty PostgreSQL database (resumable; verified by counts).
    CopyToPostgres(CopyArgs),
}

#[derive(Args)]
struct CopyArgs {
    /// The SQLite database file to copy (stop the server using it first).
    #[arg(long)]
    from: PathBuf,
    /// The PostgreSQL database to copy into (postgres://…); defaults to --database-url.
    #[arg(long, hide_env_values = true)]
    to: Option<String>,
    /// Most rows written per transaction.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
}

#[derive(Args)]
struct ServeArgs {
    /// Log as JSON lines.
    #[arg(long, env = "ERRATA_LOG_JSON")]
    log_json: bool,
    /// Events that may wait for the database writer before ingest answers 429.
    #[arg(long, env = "ERRATA_QUEUE_CAPACITY")]
    queue_capacity: Option<usize>,
    /// Power-loss durable commits (`synchronous=FULL`).
    #[arg(long, env = "ERRATA_SYNC_FULL")]
    sync_full: bool,
}

#[derive(Subcommand)]
enum ProjectCommand {
    /// Create a project and print its DSN.
    Create {
        slug: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        platform: Option<String>,
    },
    /// List projects: id, slug, DSN.
    List,
    /// Delete a project with its issues, events and keys.
    Delete { slug: String },
    /// Set a project's grouping rules (fingerprint and stack-trace rules) and print the settings in effect.
    Rules(errata::settings::RulesArgs),
    /// Change a project's scrubbing settings and print the settings in effect.
    Scrub(errata::settings::ScrubArgs),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token and print it (shown only this once).
    Create {
        name: String,
        /// read, write or admin.
        #[arg(long, default_value = "admin")]
        scope: String,
        /// Mint an organization token (`sntrys_…`, carries the URL and organization) for this org.
        #[arg(long)]
        org: Option<String>,
        /// Bind the token to this project (slug or id; repeatable): it sees nothing else.
        #[arg(long = "project")]
        projects: Vec<String>,
    },
    /// List tokens (never their values).
    List,
    /// Revoke a token by id.
    Revoke { id: i64 },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a person; reads the password from standard input (at least 8 characters) and prints the id.
    Create {
        email: String,
        /// admin, member or viewer.
        #[arg(long, default_value = "member")]
        role: errata::store::users::Role,
    },
    /// List people: id, e-mail, role.
    List,
    /// Change a person's role (by id or e-mail).
    SetRole {
        user: String,
        role: errata::store::users::Role,
    },
    /// Set a person's password (by id or e-mail), read from standard input as for `create`;
    /// ends their sessions.
    SetPassword { user: String },
    /// Remove a person with their sessions and API tokens (by id or e-mail).
    Delete { user: String },
}

impl From<UserCommand> for errata::web::manage::UserCommand {
    fn from(cmd: UserCommand) -> Self {
        use errata::web::manage::UserCommand as U;
        match cmd {
            UserCommand::Create { email, role } => U::Create { email, role },
            UserCommand::List => U::List,
            UserCommand::SetRole { user, role } => U::SetRole { user, role },
            UserCommand::SetPassword { user } => U::SetPassword { user },
            UserCommand::Delete { user } => U::Delete { user },
        }
    }
}

#[derive(Subcommand)]
enum AlertCommand {
    /// Create a rule (and its channels) for a project and print the rule's id.
    Create(Box<AlertCreateArgs>),
    /// List a project's rules: id, name, triggers, channels.
    List {
        /// The project's slug or id.
        project: String,
        #[arg(long)]
        org: Option<String>,
    },
    /// Send a test notification through each channel of a rule and print each status.
    Test {
        /// The rule's id.
        id: i64,
    },
}

#[derive(Args)]
struct AlertCreateArgs {
    /// The project's slug or id.
    project: String,
    /// The organization (needed only when there are several).
    #[arg(long)]
    org: Option<String>,
    /// When to notify: new-issue, regression, escalation:N/M (N events in M minutes), comma-separated.
    #[arg(long, default_value = "new-issue,regression")]
    on: String,
    /// A name for the rule.
    #[arg(long)]
    name: Option<String>,
    /// A Sentry-style issue webhook (signed with --secret, or a secret made up and printed to stderr).
    #[arg(long)]
    webhook: Option<String>,
    /// The webhook's signing secret.
    #[arg(long, requires = "webhook")]
    secret: Option<String>,
    /// A Slack incoming-webhook URL.
    #[arg(long)]
    slack: Option<String>,
    /// A Discord webhook URL.
    #[arg(long)]
    discord: Option<String>,
    /// A Microsoft Teams workflow webhook URL.
    #[arg(long)]
    teams: Option<String>,
    /// An ntfy topic URL (https://ntfy.sh/my-topic).
    #[arg(long)]
    ntfy: Option<String>,
    /// An ntfy access token.
    #[arg(long, requires = "ntfy")]
    ntfy_token: Option<String>,
    /// E-mail this address (repeatable) through the configured SMTP relay (smtp_* settings).
    #[arg(long)]
    email: Vec<String>,
    /// At most one notification per issue within this many seconds.
    #[arg(long)]
    interval: Option<u32>,
}

fn load_config(global: &GlobalArgs) -> anyhow::Result<Config> {
    let config = match &global.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    let mut config = config.with_env(std::env::vars())?;
    if let Some(dir) = &global.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(url) = &global.database_url {
        config.database_url = Some(url.clone());
    }
    if let Some(url) = &global.public_url {
        config.public_url = Some(url.clone());
    }
    if let Some(bind) = global.bind {
        config.bind = bind;
    }
    config.validate()?;
    Ok(config)
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("errata: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = load_config(&cli.global)?;
    match cli.command {
        Command::Serve(args) => {
            config.log_json |= args.log_json;
            config.sync_full |= args.sync_full;
            if let Some(q) = args.queue_capacity {
                config.queue_capacity = q;
            }
            config.validate()?;
            serve(config)
        }
        Command::Project(cmd) => with_store(&config, true, |store| project(store, &config, cmd)),
        Command::Token(cmd) => with_store(&config, true, |store| token(store, &config, cmd)),
        Command::User(cmd) => with_store(&config, true, |store| errata::web::manage::run(store, cmd.into())),
        Command::Alert(cmd) => with_store(&config, true, |store| {
            errata::notify::manage::run(store, &config, cmd.into())
        }),
        Command::Migrate => {
            let location = config.database_location().describe();
            with_store(&config, true, |store| async move {
                println!("database at {location} is at schema version {}", store.schema_version());
                Ok(())
            })
        }
        Command::Config => {
            print!("{}", config.to_masked_toml());
            Ok(())
        }
        Command::CopyToPostgres(args) => copy_to_postgres(&config, args),
        Command::Backup { file } => {
            let location = config.database_location().describe();
            with_store(&config, false, |store| async move {
                let report = store
                    .backup(&file)
                    .await
                    .with_context(|| format!("backing up {location} to {}", file.display()))?;
                eprintln!(
                    "backup written: {} ({} bytes, {} events, integrity ok)",
                    file.display(),
                    report.bytes,
                    report.events
                );
                Ok(())
            })
        }
    }
}

/// Runs the copy, showing progress on stderr and each table's counts at the end.
fn copy_to_postgres(config: &Config, args: CopyArgs) -> anyhow::Result<()> {
    let Some(to) = args.to.or_else(|| config.database_url.clone()) else {
        bail!("name the PostgreSQL database to copy into with --to postgres://… (or --database-url)");
    };
    if !errata::store::postgres::is_postgres_url(&to) {
        bail!("--to must be a PostgreSQL URL (postgres://…)");
    }
    let target = errata::store::postgres::redact_url(&to);
    let opts = errata::store::copy::CopyOptions {
        batch_rows: args.batch_size.max(1),
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut last_shown = std::time::Instant::now();
    let report = runtime
        .block_on(errata::store::copy::sqlite_to_postgres(&args.from, &to, opts, |p| {
            if p.copied == p.total || last_shown.elapsed() >= std::time::Duration::from_secs(1) {
                last_shown = std::time::Instant::now();
                eprintln!("{}: {} of {} rows", p.table, p.copied, p.total);
            }
        }))
        .with_context(|| format!("copying {} into {target}", args.from.display()))?;
    eprintln!("{:<20} {:>12} {:>12}", "table", "sqlite", "postgresql");
    for c in &report.counts {
        eprintln!("{:<20} {:>12} {:>12}", c.table, c.sqlite, c.postgres);
    }
    eprintln!(
        "copied {} into {target}{}: every table's counts match",
        args.from.display(),
        if report.resumed {
            " (continued an interrupted copy)"
        } else {
            ""
        }
    );
    Ok(())
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
        // The PostgreSQL driver logs every statement with its parameter values at debug:
        // keys, token hashes and event data, which logs must never hold.
        .add_directive("tokio_postgres=info".parse().expect("a constant directive"));
    // Logs go to stderr; stdout carries only what commands print (DSNs, tokens, values).
    // Colours only for a terminal, so files and log collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    init_logging(config.log_json);
    errata::ops::tune_allocator();
    let metrics = errata::ops::metrics::install().context("installing the metrics recorder")?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let (server, bootstrap) = Server::start(config, Some(metrics)).await?;
        // Handlers first: a SIGTERM sent as soon as "listening" is printed must drain, not kill.
        let shutdown = shutdown_signal()?;
        let base = server.state.base_url();
        tracing::info!(address = %server.addr, data = %server.state.config.data_dir.display(), "errata is listening");
        println!("Errata is listening on http://{}", server.addr);
        if let Some(b) = bootstrap {
            println!();
            println!(
                "  Errata is ready. Created organization '{}' and project '{}'.",
                b.organization.slug, b.project.slug
            );
            println!();
            println!("  DSN (point your Sentry SDK here):");
            println!("    {}", serialize::dsn(&base, &b.key.public_key, None, b.project.id));
            println!();
            println!("  API token (shown only this once; store it now):");
            println!("    {}", b.token);
            println!();
            println!(
                "  Try: curl -H 'Authorization: Bearer {}' {base}/api/0/projects/{}/{}/issues/",
                b.token, b.organization.slug, b.project.slug
            );
            println!();
        }
        if server.state.store.users().await.map(|u| u.is_empty()).unwrap_or(false) {
            println!("  No one can sign in to the web UI yet. Create the first admin (it asks for a password):");
            println!("    errata user create you@example.com --role admin");
            println!();
        }
        server.run_until(shutdown).await
    })
}

/// Installs the SIGINT and SIGTERM handlers now (inside the runtime) and returns the future
/// that completes on the first of them.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    })
}

/// Runs a CLI command against the store (works while the server runs; `bootstrap` creates
/// the first organization, project and token on an empty database, as the server does),
/// then lets the store's writer finish before returning.
fn with_store<F, Fut>(config: &Config, bootstrap: bool, command: F) -> anyhow::Result<()>
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let store = Store::connect(&config.database_location(), config.store_options()).await?;
        let result = async {
            if bootstrap {
                store.bootstrap_if_empty().await?;
            }
            command(store.clone()).await
        }
        .await;
        let closing = store.clone();
        tokio::task::spawn_blocking(move || closing.shutdown()).await?;
        result
    })
}

async fn project(store: Store, config: &Config, cmd: ProjectCommand) -> anyhow::Result<()> {
    let base = config.base_url();
    match cmd {
        ProjectCommand::Create { slug, name, platform } => {
            let org = store
                .organizations()
                .await?
                .into_iter()
                .next()
                .context("no organization")?;
            let name = name.unwrap_or_else(|| slug.clone());
            let (project, key) = store
                .create_project(NewProject {
                    organization_id: org.id,
                    slug,
                    name,
                    platform,
                    key_label: "Default".into(),
                })
                .await?;
            println!("{}", serialize::dsn(&base, &key.public_key, None, project.id));
        }
        ProjectCommand::List => {
            for p in store.projects(None).await? {
                let dsn = store
                    .keys(p.id)
                    .await?
                    .into_iter()
                    .find(|k| k.is_active)
                    .map(|k| serialize::dsn(&base, &k.public_key, None, p.id))
                    .unwrap_or_else(|| "-".into());
                println!("{}\t{}\t{}", p.id, p.slug, dsn);
            }
        }
        ProjectCommand::Delete { slug } => {
            let org = store
                .organizations()
                .await?
                .into_iter()
                .next()
                .context("no organization")?;
            let project = store.project(org.id, &slug).await?;
            store.delete_project(project.id).await?;
            println!("deleted project {}", project.slug);
        }
        ProjectCommand::Rules(args) => {
            let effective = errata::settings::run_rules(&store, &args).await?;
            println!("{}", serde_json::to_string_pretty(&effective.to_json())?);
        }
        ProjectCommand::Scrub(args) => {
            let effective = errata::settings::run_scrub(&store, &args).await?;
            println!("{}", serde_json::to_string_pretty(&effective.to_json())?);
        }
    }
    Ok(())
}

async fn token(store: Store, config: &Config, cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            name,
            scope,
            org,
            projects,
        } => {
            if !errata::api::auth::valid_level(&scope) {
                bail!("invalid scope {scope:?}: use read, write or admin");
            }
            // Project slugs are per organization: without --org, the only one there is.
            let bound_org = match (&org, projects.is_empty()) {
                (Some(slug), _) => Some(store.organization(slug).await?),
                (None, true) => None,
                (None, false) => {
                    let mut orgs = store.organizations().await?;
                    if orgs.len() != 1 {
                        bail!("there are {} organizations: name one with --org", orgs.len());
                    }
                    orgs.pop()
                }
            };
            let project_ids = match &bound_org {
                Some(o) if !projects.is_empty() => {
                    let mut ids = Vec::with_capacity(projects.len());
                    for p in &projects {
                        let project = store
                            .project(o.id, p)
                            .await
                            .map_err(|_| anyhow::anyhow!("no project {p:?} in organization {}", o.slug))?;
                        ids.push(project.id);
                    }
                    Some(ids)
                }
                _ => None,
            };
            let org_claims = match (&org, &bound_org) {
                (Some(_), Some(o)) => Some((config.base_url(), o.slug.clone())),
                _ => None,
            };
            let token = store
                .create_bound_token(NewToken {
                    name,
                    scopes: vec![scope],
                    org_claims,
                    binding: bound_org.map(|o| (o.id, project_ids)),
                })
                .await?;
            println!("{token}");
        }
        TokenCommand::List => {
            for t in store.tokens().await? {
                let last = t.last_used.map(serialize::iso).unwrap_or_else(|| "never".into());
                let bound = match (&t.organization_id, &t.projects) {
                    (None, _) => "all organizations".to_string(),
                    (Some(o), None) => format!("organization {o}"),
                    (Some(o), Some(ps)) => format!(
                        "organization {o}, projects {}",
                        ps.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
                    ),
                };
                println!(
                    "{}\t{}\t{}\t{bound}\tcreated {}\tlast used {}",
                    t.id,
                    t.name,
                    t.scopes.join(","),
                    serialize::iso(t.date_created),
                    last
                );
            }
        }
        TokenCommand::Revoke { id } => {
            store.revoke_token(id).await?;
            println!("revoked token {id}");
        }
    }
    Ok(())
}

impl From<AlertCommand> for errata::notify::manage::AlertCommand {
    fn from(cmd: AlertCommand) -> Self {
        use errata::notify::manage::{AlertCommand as C, Destinations};
        match cmd {
            AlertCommand::Create(a) => C::Create {
                project: a.project,
                org: a.org,
                on: a.on,
                name: a.name,
                interval: a.interval,
                to: Box::new(Destinations {
                    webhook: a.webhook,
                    secret: a.secret,
                    slack: a.slack,
                    discord: a.discord,
                    teams: a.teams,
                    ntfy: a.ntfy,
                    ntfy_token: a.ntfy_token,
                    email: a.email,
                }),
            },
            AlertCommand::List { project, org } => C::List { project, org },
            AlertCommand::Test { id } => C::Test { id },
        }
    }
}
