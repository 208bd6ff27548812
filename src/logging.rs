//! Log lines on stderr, filtered by `RUST_LOG` (default `info`), as text or JSON.
//!
//! Whatever `RUST_LOG` says, the `kube_client::client` module may only log errors: below that
//! level it prints whole API responses it failed to parse, and a Secret's response holds its
//! data. Tokens must not reach a log at any level.

use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

use crate::cli::LogFormat;

/// The module of kube-client that logs response bodies.
const BODY_LOGGING_TARGET: &str = "kube_client::client";

/// Installs the process-wide subscriber writing to stderr.
pub fn init(format: LogFormat) {
    // Colour codes only help a person at a terminal; they garble files and log collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    subscriber(format, filter, std::io::stderr, ansi).init();
}

/// The subscriber [`init`] installs: `filter` (from `RUST_LOG`) for `writer`.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let lines = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(writer);
    let lines = match format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines.json().boxed(),
    };
    Registry::default().with(lines.with_filter(filter).with_filter(no_response_bodies()))
}

/// Drops everything but errors of [`BODY_LOGGING_TARGET`].
fn no_response_bodies() -> FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    FilterFn::new(|meta: &tracing::Metadata<'_>| {
        !(meta.target() == BODY_LOGGING_TARGET && *meta.level() > Level::ERROR)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .expect("not poisoned")
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_response_body_kube_client_warns_about_never_reaches_the_log_even_at_trace() {
        let captured = Captured::default();
        let writer = captured.clone();
        // The strictest case: a user asks for everything (`RUST_LOG=trace`).
        let filter = EnvFilter::new("trace");
        let subscriber = subscriber(LogFormat::Text, filter, move || writer.clone(), false);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "kube_client::client", "{{\"data\":{{\"token\":\"c2VjcmV0\"}}}}, parse error");
            tracing::trace!(target: "kube_client::client", "Status from body-text");
            tracing::error!(target: "kube_client::client", "failed with status 500");
            tracing::warn!(target: "zis_operator::runtime", "an ordinary warning");
        });
        let text =
            String::from_utf8(captured.0.lock().expect("not poisoned").clone()).expect("utf-8");
        assert!(!text.contains("c2VjcmV0"), "{text}");
        assert!(!text.contains("body-text"), "{text}");
        assert!(text.contains("failed with status 500"), "{text}");
        assert!(text.contains("an ordinary warning"), "{text}");
    }
}
