//! Logging: JSON lines for containers and functions, pretty output on a terminal.

use std::io::IsTerminal;

use tracing_subscriber::{filter::Targets, fmt, prelude::*};

use crate::config::{LogFormat, LogSettings};

/// `RUST_LOG`'s `target=level` list (a bare level is the default), read with
/// `Targets` rather than `EnvFilter`: the span and field directives it adds
/// bring a regex engine into every function binary, for nothing we use.
/// Configuration validation refuses a filter this cannot read.
pub fn filter(text: &str) -> Result<Targets, String> {
    let text = if text.trim().is_empty() { "info" } else { text };
    text.parse::<Targets>().map_err(|e| e.to_string())
}

/// Installs the global subscriber once; later calls are ignored (tests).
pub fn init(settings: &LogSettings) {
    let filter = filter(&settings.filter)
        .unwrap_or_else(|_| Targets::new().with_default(tracing::Level::INFO));
    let json = match settings.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            )
            .try_init()
    } else {
        registry.with(fmt::layer().compact()).try_init()
    };
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    #[test]
    fn a_default_level_and_per_target_levels_are_read() {
        let targets = filter("warn,sync_core::outbound::in_process_bus=debug").unwrap();
        assert!(targets.would_enable("sync_core::outbound::in_process_bus", &Level::DEBUG));
        assert!(!targets.would_enable("lapin", &Level::INFO));
        assert!(targets.would_enable("lapin", &Level::WARN));
        assert!(filter("").unwrap().would_enable("anything", &Level::INFO));
    }

    #[test]
    fn a_filter_it_cannot_read_is_an_error() {
        assert!(filter("sync_core=loud").is_err());
    }
}
