//! Logging through `tracing`, in the shapes container engines read.
//!
//! `--log FILE --log-format json` writes one JSON object a line with runc's keys
//! (`{"level":"error","msg":"…","time":"…"}`): conmon and the containerd shim read the last
//! error record from that file and show its `msg` to the user. Without `--log`, records go to
//! stderr as text; libcontainer's own records are then kept to `--debug`, so a failing command
//! prints one clear line and not libcontainer's trail of intermediate errors.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context as _, Result};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

enum Sink {
    Stderr,
    File(Mutex<File>),
}

struct RecordLayer {
    sink: Sink,
    format: LogFormat,
}

impl LogFormat {
    /// `--log-format`'s value: `text` (the default) or `json`.
    pub fn parse(value: Option<&str>) -> Result<LogFormat> {
        match value {
            None | Some("text") => Ok(LogFormat::Text),
            Some("json") => Ok(LogFormat::Json),
            Some(other) => {
                anyhow::bail!("--log-format: unknown format {other:?} (use text or json)")
            }
        }
    }
}

/// Logging as obsbox's global options ask for it (`--log`, `--log-format`, `--debug`): the
/// one set-up every command and the worker programs go through.
pub fn init_from(global: &liboci_cli::GlobalOpts) -> Result<()> {
    let format = LogFormat::parse(global.log_format.as_deref())?;
    init(global.log.as_deref(), format, global.debug)
}

/// Installs the global subscriber. `OBSBOX_LOG` (directives such as `debug` or
/// `warn,obsbox=trace`) overrides the level chosen by `--debug`.
pub fn init(log: Option<&Path>, format: LogFormat, debug: bool) -> Result<()> {
    let sink = match log {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("--log {}: cannot open", path.display()))?;
            Sink::File(Mutex::new(file))
        }
        None => Sink::Stderr,
    };
    let default = match (debug, &sink) {
        (true, _) => "debug",
        (false, Sink::File(_)) => "warn",
        (false, Sink::Stderr) => "warn,libcontainer=off,libcgroups=off",
    };
    let directives = Directives::parse(&std::env::var("OBSBOX_LOG").unwrap_or(default.into()));
    // The final error of a command is always recorded, whatever the directives say.
    let layer = RecordLayer { sink, format }.with_filter(tracing_subscriber::filter::filter_fn(
        move |meta| meta.target() == ERROR_TARGET || directives.allows(meta),
    ));
    crate::runtime::init_cause::prepare();
    let causes = CauseLayer.with_filter(tracing_subscriber::filter::filter_fn(|meta| {
        *meta.level() == Level::ERROR && meta.target().starts_with("libcontainer")
    }));
    tracing_subscriber::registry()
        .with(layer)
        .with(causes)
        .try_init()
        .context("cannot install the log subscriber")?;
    Ok(())
}

/// The target of the one record that reports a command's failure.
pub const ERROR_TARGET: &str = "obsbox::error";

/// `level[,target=level…]`: a global level and per-target levels (`off` silences).
struct Directives {
    global: Option<Level>,
    targets: Vec<(String, Option<Level>)>,
}

impl Directives {
    fn parse(spec: &str) -> Self {
        let mut directives = Directives {
            global: Some(Level::WARN),
            targets: Vec::new(),
        };
        for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            match directive.split_once('=') {
                Some((target, level)) => directives
                    .targets
                    .push((target.to_string(), parse_level(level))),
                None => directives.global = parse_level(directive),
            }
        }
        // Longest target first, so the most specific directive wins.
        directives
            .targets
            .sort_by_key(|(target, _)| std::cmp::Reverse(target.len()));
        directives
    }

    fn allows(&self, meta: &tracing::Metadata<'_>) -> bool {
        let target = meta.target();
        let limit = self
            .targets
            .iter()
            .find(|(t, _)| {
                target == t
                    || (target.starts_with(t.as_str()) && target[t.len()..].starts_with("::"))
            })
            .map_or(self.global, |(_, level)| *level);
        limit.is_some_and(|limit| *meta.level() <= limit)
    }
}

fn parse_level(s: &str) -> Option<Level> {
    match s.to_ascii_lowercase().as_str() {
        "off" => None,
        other => other.parse().ok(),
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.rest.push((field.name(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.rest.push((field.name(), format!("{value:?}")));
        }
    }
}

impl<S: Subscriber> Layer<S> for RecordLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let line = match self.format {
            LogFormat::Json => {
                let mut record = serde_json::Map::new();
                record.insert("level".into(), level.into());
                record.insert("msg".into(), fields.message.into());
                record.insert("time".into(), time.into());
                for (key, value) in fields.rest {
                    record.insert(key.into(), value.into());
                }
                let mut line = serde_json::Value::Object(record).to_string();
                line.push('\n');
                line
            }
            LogFormat::Text => {
                let mut line = format!("{time} {level:>5} {}", fields.message);
                for (key, value) in fields.rest {
                    let _ = write!(line, " {key}={value}");
                }
                line.push('\n');
                line
            }
        };
        match &self.sink {
            Sink::Stderr => {
                // The final error is printed by the caller as its one line; do not print twice.
                if event.metadata().target() != ERROR_TARGET {
                    let _ = std::io::stderr().write_all(line.as_bytes());
                }
            }
            Sink::File(file) => {
                if let Ok(mut file) = file.lock() {
                    let _ = file.write_all(line.as_bytes());
                }
            }
        }
    }
}

/// Keeps the first error record of libcontainer's forked processes (see
/// [`crate::runtime::init_cause`]).
struct CauseLayer;

impl<S: Subscriber> Layer<S> for CauseLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let err = fields
            .rest
            .iter()
            .find(|(key, _)| *key == "err")
            .map(|(_, value)| value.as_str());
        crate::runtime::init_cause::record(&crate::runtime::init_cause::describe(
            &fields.message,
            err,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Metadata;
    use tracing::callsite::{Callsite, Identifier};
    use tracing::field::FieldSet;
    use tracing::metadata::Kind;

    struct Site;
    impl Callsite for Site {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unreachable!()
        }
    }
    static SITE: Site = Site;

    fn meta(target: &'static str, level: Level) -> Metadata<'static> {
        Metadata::new(
            "e",
            target,
            level,
            None,
            None,
            None,
            FieldSet::new(&[], Identifier(&SITE)),
            Kind::EVENT,
        )
    }

    #[test]
    fn directives_pick_the_most_specific_target() {
        let d = Directives::parse("warn,libcontainer=off");
        assert!(d.allows(&meta("obsbox::cli", Level::WARN)));
        assert!(!d.allows(&meta("obsbox::cli", Level::INFO)));
        assert!(!d.allows(&meta("libcontainer::hooks", Level::ERROR)));
        assert!(d.allows(&meta("libcontainerx", Level::ERROR)));
        assert!(Directives::parse("debug").allows(&meta("libcontainer", Level::DEBUG)));
        assert!(Directives::parse("off,obsbox=trace").allows(&meta("obsbox::x", Level::TRACE)));
        assert!(!Directives::parse("off").allows(&meta("obsbox", Level::ERROR)));
    }
}
