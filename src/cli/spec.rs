//! `obsbox spec [--bundle DIR] [--rootless]`: write a default `config.json`.

use std::fs::OpenOptions;
use std::io::Write;

use anyhow::{Context as _, Result};
use liboci_cli::Spec;

pub fn spec(args: Spec) -> Result<()> {
    let dir = args.bundle.unwrap_or_else(|| ".".into());
    let path = dir.join("config.json");
    let spec = crate::runtime::spec::default_spec(args.rootless)?;
    let json = serde_json::to_string_pretty(&spec)?;
    // Like runc: never overwrite an existing config.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("{}: cannot create (does it exist already?)", path.display()))?;
    file.write_all(json.as_bytes())
        .and_then(|_| file.write_all(b"\n"))
        .with_context(|| format!("{}: cannot write", path.display()))
}
