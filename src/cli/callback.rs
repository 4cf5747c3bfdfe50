//! `obsbox callback list` (the effective callbacks of a job and where each setting came
//! from) and `obsbox callback hook` (the entry the build phase's OCI hooks call).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Subcommand, ValueEnum};

use super::Context;
use crate::callbacks::config::{self, Action, Selector};
use crate::model::Arch;

#[derive(Subcommand, Debug)]
pub enum CallbackCmd {
    /// Print the callbacks of a project (package, arch) with every setting's origin.
    List {
        #[arg(long)]
        project: String,
        #[arg(long, default_value = "")]
        package: String,
        #[arg(long)]
        arch: Option<Arch>,
        /// The runtime configuration directory (callbacks/, projects/); default: OBSBOX_CONFIG, else /etc/obsbox, else the sources' runtime-config/
        #[arg(long)]
        config: Option<PathBuf>,
        /// Also list the callbacks that are defined but not enabled.
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Run the callback of a bundle (what the build phase's OCI hooks call).
    Hook {
        /// The callback bundle (holds config.json with org.openbuildservice.callback.*).
        bundle: PathBuf,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Text,
    Json,
}

pub fn callback(cmd: CallbackCmd, ctx: &Context) -> Result<i32> {
    match cmd {
        CallbackCmd::List {
            project,
            package,
            arch,
            config,
            all,
            format,
        } => {
            let dir = crate::config::require(config.as_deref())?;
            let selector = Selector {
                project,
                package,
                arch,
            };
            let callbacks: Vec<_> = config::resolve(&dir, &selector)?
                .into_iter()
                .filter(|c| all || c.enabled)
                .collect();
            match format {
                ListFormat::Json => println!("{}", serde_json::to_string_pretty(&callbacks)?),
                ListFormat::Text => print!("{}", describe(&callbacks)),
            }
            Ok(0)
        }
        CallbackCmd::Hook { bundle } => crate::callbacks::hook::run(&bundle, &ctx.root),
    }
}

/// One block per callback: its settings, each with the file and table it came from.
fn describe(callbacks: &[config::Callback]) -> String {
    let mut out = String::new();
    for c in callbacks {
        let state = if c.enabled { "enabled" } else { "disabled" };
        out.push_str(&format!("{} ({}, {state})\n", c.name, c.hook.as_str()));
        let what = match &c.action {
            Action::Command(_) => (
                "command",
                shorten(&format!("{:?}", c.argv(&Default::default()))),
            ),
            Action::Builtin(name) => ("builtin", name.name().to_string()),
        };
        let mut rows = vec![
            [
                "".to_string(),
                what.0.to_string(),
                what.1,
                origin(c, what.0),
            ],
            row(c, "runs-in", name_of(&c.runs_in)),
            row(c, "gating", c.gating.to_string()),
            row(c, "timeout", format!("{}s", c.timeout.as_secs())),
        ];
        if !c.packages.is_empty() {
            rows.push(row(c, "packages", c.packages.join(" ")));
        }
        for (place, mode) in &c.mounts {
            rows.push(row(c, &format!("mounts.{place}"), name_of(mode)));
        }
        for (field, dirs) in [("tmpfs", &c.tmpfs), ("scratch", &c.scratch)] {
            if !dirs.is_empty() {
                rows.push(row(c, field, dirs.join(" ")));
            }
        }
        for (k, v) in &c.env {
            rows.push(row(c, &format!("env.{k}"), v.clone()));
        }
        for (field, value) in [("privileged", c.privileged), ("network", c.network)] {
            if value {
                rows.push(row(c, field, "true".to_string()));
            }
        }
        out.push_str(&super::table(&rows));
    }
    out
}

/// The name a setting has in the TOML files.
fn name_of<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Long values (inline scripts) are cut for the table; `--format json` has them whole.
fn shorten(text: &str) -> String {
    crate::text::ellipsis(text, 90)
}

fn row(c: &config::Callback, field: &str, value: String) -> [String; 4] {
    ["".to_string(), field.to_string(), value, origin(c, field)]
}

fn origin(c: &config::Callback, field: &str) -> String {
    c.origin
        .get(field)
        .map(|o| format!("# {o}"))
        .unwrap_or_else(|| "# default".to_string())
}
