//! Tracing setup: logs to stderr, filtered by `RUST_LOG`, as readable text
//! or one JSON object per line (`COMICS_LOG_FORMAT=json`). Colours only when
//! stderr is a terminal, so files and log collectors get plain text.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// `text` (the default) or `json`, from `COMICS_LOG_FORMAT`'s value.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(Self::Text),
            Some(v) if v.eq_ignore_ascii_case("text") => Ok(Self::Text),
            Some(v) if v.eq_ignore_ascii_case("json") => Ok(Self::Json),
            Some(v) => Err(format!(
                "COMICS_LOG_FORMAT={v:?} must be \"text\" or \"json\""
            )),
        }
    }
}

/// Installs the subscriber; a bad `COMICS_LOG_FORMAT` is an error (nothing
/// is installed then).
pub fn init() -> Result<(), String> {
    let format = LogFormat::parse(std::env::var("COMICS_LOG_FORMAT").ok().as_deref())?;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,async_nats=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    Ok(())
}

/// For tests: logs only when `TEST_LOG` is set.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_format_is_text_by_default_json_on_request_and_nothing_else() {
        assert_eq!(LogFormat::parse(None), Ok(LogFormat::Text));
        assert_eq!(LogFormat::parse(Some("")), Ok(LogFormat::Text));
        assert_eq!(LogFormat::parse(Some("JSON")), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse(Some(" text ")), Ok(LogFormat::Text));
        assert!(LogFormat::parse(Some("yaml")).unwrap_err().contains("yaml"));
    }
}
