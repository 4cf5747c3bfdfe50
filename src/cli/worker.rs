//! `obsbox worker describe`: this machine's capabilities for the OBS dispatcher and Kubernetes.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Subcommand, ValueEnum};

use crate::worker::{self, WorkerConfig};

#[derive(Subcommand, Debug)]
pub enum WorkerCmd {
    /// Print this machine's capabilities: OBS worker XML, JSON or Kubernetes node labels.
    Describe {
        #[arg(long, value_enum, default_value_t = DescribeFormat::Xml)]
        format: DescribeFormat,
        /// The runtime configuration directory (worker.toml: emulated_arches, hostlabels,
        /// jobs, work_dir); default: OBSBOX_CONFIG, else /etc/obsbox, else the sources' runtime-config/
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescribeFormat {
    Xml,
    Json,
    K8sLabels,
}

pub fn worker(cmd: WorkerCmd) -> Result<()> {
    match cmd {
        WorkerCmd::Describe { format, config } => {
            let dir = crate::config::find(config.as_deref())?;
            let config = match &dir {
                Some(d) => WorkerConfig::load(d)?,
                None => WorkerConfig::default(),
            };
            let detected = worker::detect(&config)?;
            for note in &detected.notes {
                tracing::warn!("{note}");
            }
            let w = detected.worker;
            match format {
                DescribeFormat::Xml => print!("{}", worker::to_xml(&w)),
                DescribeFormat::Json => println!("{}", serde_json::to_string_pretty(&w)?),
                DescribeFormat::K8sLabels => {
                    for l in w.k8s_labels() {
                        println!("{l}");
                    }
                }
            }
            Ok(())
        }
    }
}
