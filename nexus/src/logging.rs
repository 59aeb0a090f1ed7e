//! Log output: human-readable lines (the default) or one JSON object per line for a log
//! collector (`--log-format json`, `NEXUS_LOG_FORMAT=json`). `RUST_LOG` filters either way.

/// How log lines are written.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber. Services log at info to stdout; user commands print their own
/// results on stdout, so their logs go to stderr and default to warnings.
pub fn init(format: LogFormat, user_command: bool) {
    use tracing_subscriber::fmt::writer::BoxMakeWriter;

    let default = if user_command { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let writer = if user_command { BoxMakeWriter::new(std::io::stderr) } else { BoxMakeWriter::new(std::io::stdout) };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
