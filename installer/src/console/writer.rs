//! The thin writer: redraws the screen on `/dev/console` (or any sink) when the state changes, at most
//! every couple of seconds for progress alone, and logs each step as one line (see `crate::log`).

use std::io::Write;
use std::time::{Duration, Instant};

use super::{Progress, ScreenState, StepState, render_ansi};

/// Minimum time between redraws caused by progress alone, so a serial log is not flooded.
const PROGRESS_REDRAW: Duration = Duration::from_secs(2);

pub struct Console {
    pub state: ScreenState,
    sink: Option<Box<dyn Write + Send>>,
    width: usize,
    last_progress_draw: Option<Instant>,
}

impl Console {
    /// A console that draws on `sink` (the screen) and logs to stderr.
    pub fn new(sink: Box<dyn Write + Send>, width: usize) -> Self {
        Self { state: ScreenState::default(), sink: Some(sink), width, last_progress_draw: None }
    }

    /// `/dev/console` when it can be opened for writing, else no screen (log lines only).
    pub fn system() -> Self {
        let sink = std::fs::OpenOptions::new().write(true).open("/dev/console").ok();
        Self {
            state: ScreenState::default(),
            sink: sink.map(|f| Box::new(f) as Box<dyn Write + Send>),
            width: 80,
            last_progress_draw: None,
        }
    }

    /// Log lines only: for `installer run` outside PID 1 and for tests.
    pub fn log_only() -> Self {
        Self { state: ScreenState::default(), sink: None, width: 80, last_progress_draw: None }
    }

    pub fn draw(&mut self) {
        if let Some(sink) = &mut self.sink {
            let _ = sink.write_all(render_ansi(&self.state, self.width).as_bytes());
            let _ = sink.flush();
        }
    }

    /// Set a step's state, log it and redraw.
    pub fn step(&mut self, name: &str, state: StepState, detail: Option<String>) {
        match &detail {
            Some(d) => tracing::info!("step {name} {}: {d}", state.label().to_lowercase()),
            None => tracing::info!("step {name} {}", state.label().to_lowercase()),
        }
        self.state.set_step(name, state, detail);
        if state != StepState::Running {
            self.state.progress = None;
        }
        self.draw();
    }

    /// Update the progress bar; redraws (and logs) at most every [`PROGRESS_REDRAW`].
    pub fn progress(&mut self, progress: Progress) {
        let due = self.last_progress_draw.is_none_or(|t| t.elapsed() >= PROGRESS_REDRAW);
        let finished = progress.done >= progress.total;
        if due || finished {
            tracing::info!("progress {} {}/{} bytes", progress.label, progress.done, progress.total);
        }
        self.state.progress = Some(progress);
        if due || finished {
            self.last_progress_draw = Some(Instant::now());
            self.draw();
        }
    }

    pub fn footer(&mut self, text: &str) {
        tracing::info!("{text}");
        self.state.footer = Some(text.to_owned());
        self.draw();
    }
}
