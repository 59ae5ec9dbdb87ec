//! The installer's log: `tracing` events on stderr (the serial console when it runs as PID 1), one plain
//! line each: `rackhand: <message> <event fields> <span fields>`, e.g.
//! `rackhand: step bond done: bond0 … node=7 step=bond`.
//!
//! The line starts as the installer's log always has (the lab's end-to-end tests and technicians reading
//! a serial log look for `rackhand: step image`); the fields of the spans it happened in follow, so a
//! collected serial log can be filtered by node and step. No colours, no timestamps: the serial console
//! server stamps lines itself, and escape codes would garble it.

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// Send this process's log lines to stderr (once; later calls change nothing).
pub fn init() {
    let _ = tracing::subscriber::set_global_default(subscriber(std::io::stderr));
}

/// The subscriber [`init`] installs, writing to `writer` (a buffer in tests).
pub fn subscriber<W>(writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .event_format(RackhandLine)
        .with_writer(writer)
        .finish()
}

/// `rackhand: ` + the event's message and fields + each enclosing span's fields, outermost first.
struct RackhandLine;

impl<S, N> FormatEvent<S, N> for RackhandLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        writer.write_str("rackhand: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        for span in ctx.event_scope().into_iter().flat_map(|scope| scope.from_root()) {
            let extensions = span.extensions();
            if let Some(fields) = extensions.get::<FormattedFields<N>>().filter(|f| !f.is_empty()) {
                write!(writer, " {fields}")?;
            }
        }
        writeln!(writer)
    }
}

/// The lines `f` logs on this thread, as [`init`] would print them (for tests of what a run logs).
pub fn lines_logged_by(f: impl FnOnce()) -> String {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing::subscriber::with_default(subscriber(move || sink.clone()), f);
    let bytes = captured.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tracing::{info, info_span, warn};

    use super::*;

    #[test]
    fn a_line_keeps_its_words_first_and_names_its_node_and_step_after() {
        let text = lines_logged_by(|| {
            info!("selected profile qemu-lab");
            let _node = info_span!("node", node = 7).entered();
            info!("reporting to http://10.77.0.1:8080");
            let _step = info_span!("step", step = "bond").entered();
            warn!(leg = "eth1", "step bond failed: no carrier");
        });
        assert_eq!(
            text,
            "rackhand: selected profile qemu-lab\n\
             rackhand: reporting to http://10.77.0.1:8080 node=7\n\
             rackhand: step bond failed: no carrier leg=\"eth1\" node=7 step=\"bond\"\n"
        );
    }

    #[test]
    fn debug_events_are_left_out() {
        assert_eq!(lines_logged_by(|| tracing::debug!("chunk 3 verified")), "");
    }
}
