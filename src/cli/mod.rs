//! The command line: one file per command. This module only parses, sets up logging and
//! dispatches; the work is done by library code.

mod allocate;
mod build;
mod cache;
mod callback;
mod create;
mod delete;
mod exec;
mod features;
mod kill;
mod list;
mod obs_build;
mod pause;
mod ps;
mod rootfs;
mod run;
mod spec;
mod start;
mod state;
mod worker;

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use liboci_cli::{CommonCmd, GlobalOpts, StandardCmd};

use crate::logging::{self, LogFormat};

pub use obs_build::worker_entry;

/// Where container state lives unless `--root` says otherwise.
pub const DEFAULT_ROOT: &str = "/run/obsbox";

/// Where unpacked packages and assembled roots are kept unless `--cache` says otherwise.
pub const DEFAULT_CACHE: &str = "/var/cache/obsbox";

/// obsbox: an OCI runtime for openSUSE Build Service workers (runc-compatible).
#[derive(Parser, Debug)]
#[command(name = "obsbox", version, about, long_about = None)]
pub struct Opts {
    #[command(flatten)]
    pub global: GlobalOpts,

    /// The package and rootfs cache.
    #[arg(long, global = true, default_value = DEFAULT_CACHE)]
    pub cache: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    #[command(flatten)]
    Standard(Box<StandardCmd>),
    #[command(flatten)]
    Common(Box<CommonCmd>),
    /// Assemble root file systems from package repositories.
    #[command(subcommand)]
    Rootfs(rootfs::RootfsCmd),
    /// Inspect or trim the package and rootfs cache.
    #[command(subcommand)]
    Cache(cache::CacheCmd),
    /// Run a build job: toolbox and buildroot, phase bundles, results in OBS's layout.
    /// Exits with OBS's codes: 0 succeeded, 1 failed, 2 unchanged, 3 badhost, 4 setup failed.
    Build(build::BuildArgs),
    /// Write a job's phase bundles (and its buildroot) for inspection with OCI tools.
    Bundle(build::BundleArgs),
    /// The callbacks of a project: list them with their origins; `hook` is the OCI hook
    /// entry of the build phase.
    #[command(subcommand)]
    Callback(callback::CallbackCmd),
    /// Remove what crashed obsbox runs left: their containers, work directories, unfinished
    /// cache entries and phase cgroups.
    Gc,
    /// Describe this machine as an OBS worker (capabilities for the dispatcher and Kubernetes).
    #[command(subcommand)]
    Worker(worker::WorkerCmd),
    /// Place a job on a fleet of workers by its constraints, the OBS dispatcher's way.
    /// Exits 0 when placed, 1 when no worker complies, 2 on bad input, 3 when waiting.
    Allocate(allocate::AllocateArgs),
    /// bs_worker's `$statedir/build/build`: obs-build's command line (also when obsbox is
    /// run as a file or link named `build`). Exits 0, 1 failed, 2 unchanged, 3 bad host.
    #[command(name = "obs-build")]
    ObsBuild(obs_build::RawArgs),
    /// bs_worker's `--hostcheck`: `[--srcserver URL] JOBFILE precheck|succeeded|failed PATH`
    /// (also as a file or link named `hostcheck`). Exits 0, 1 not this package, 2 not this
    /// repository, 3 nothing.
    Hostcheck(obs_build::RawArgs),
    /// Internal: creates one of obsbox's own containers in a fresh process (see
    /// `runtime::creator`).
    #[command(name = "create-for-run", hide = true)]
    CreateForRun {
        #[arg(long)]
        bundle: PathBuf,
        container_id: String,
    },
}

/// obsbox's own descriptions of the runc-compatible commands and options, which come from
/// liboci-cli's argument types with texts written for youki.
const RUNTIME_ABOUT: &[(&str, &str)] = &[
    (
        "create",
        "Create a container from a bundle; its process waits for `start`",
    ),
    ("start", "Start the process of a created container"),
    ("state", "Print a container's state as JSON"),
    (
        "kill",
        "Send a signal (a name such as KILL or SIGKILL, or a number) to a container's process",
    ),
    (
        "delete",
        "Delete a stopped container (with --force also a running one)",
    ),
    (
        "run",
        "Create and start a container; in the foreground, wait and return its exit code",
    ),
    ("exec", "Run another process in a running container"),
    ("list", "List the containers in the state directory"),
    ("ps", "List the processes of a container"),
    ("pause", "Freeze every process of a container"),
    ("resume", "Thaw the processes of a paused container"),
    (
        "spec",
        "Write a default config.json (runc's defaults) into the bundle directory",
    ),
    (
        "features",
        "Print what this runtime supports (the runtime-spec features document)",
    ),
];

/// Options whose liboci-cli texts are youki's or wrong: (command or "" for global, id, text).
const ARG_HELP: &[(&str, &str, &str)] = &[
    (
        "",
        "log",
        "Write log records to this file (default: stderr)",
    ),
    ("", "log_format", "Format of log records: text or json"),
    ("", "debug", "Log at debug level"),
    (
        "",
        "root",
        "State directory of the containers (default: /run/obsbox)",
    ),
    (
        "",
        "systemd_cgroup",
        "Accepted for runc compatibility; cgroups are managed directly",
    ),
    (
        "create",
        "console_socket",
        "Unix socket that receives the pty master of a terminal process",
    ),
    (
        "create",
        "no_pivot",
        "Do not use pivot_root to enter the root file system",
    ),
    ("create", "container_id", "Id of the new container"),
    (
        "run",
        "console_socket",
        "Unix socket that receives the pty master of a terminal process",
    ),
    ("run", "container_id", "Id of the new container"),
    (
        "exec",
        "console_socket",
        "Unix socket that receives the pty master of a terminal process",
    ),
    (
        "exec",
        "process_label",
        "Accepted for runc compatibility; SELinux labels are not set",
    ),
    (
        "exec",
        "cap",
        "Add a capability (CAP_KILL, KILL) to the process's bounding, effective and permitted sets",
    ),
    (
        "delete",
        "force",
        "Kill the container first when it still runs",
    ),
    ("list", "format", "Output format: table or json"),
    ("ps", "format", "Output format: table or json"),
    ("ps", "ps_options", "Options passed to ps(1)"),
];

/// liboci-cli's commands obsbox does not implement: parsed (so they fail with a clear
/// line) but not shown.
const HIDDEN: &[&str] = &["checkpointt", "events", "update"];

/// obsbox's command line, with its own help texts.
pub fn command() -> clap::Command {
    let mut cmd = Opts::command();
    for (name, about) in RUNTIME_ABOUT {
        cmd = cmd.mut_subcommand(*name, |c| c.about(*about).long_about(None));
    }
    for name in HIDDEN {
        cmd = cmd.mut_subcommand(*name, |c| c.hide(true));
    }
    for (sub, id, help) in ARG_HELP {
        if sub.is_empty() {
            cmd = cmd.mut_arg(*id, |a| a.help(*help).long_help(None));
        } else {
            cmd = cmd.mut_subcommand(*sub, |c| c.mut_arg(*id, |a| a.help(*help).long_help(None)));
        }
    }
    cmd
}

/// Parses the process's arguments (clap prints help and usage errors and exits).
pub fn parse() -> Opts {
    let mut matches = command().get_matches();
    Opts::from_arg_matches_mut(&mut matches).unwrap_or_else(|err| err.exit())
}

/// What every command gets besides its own arguments.
#[derive(Debug, Clone)]
pub struct Context {
    /// The state directory (`--root`), one subdirectory per container.
    pub root: PathBuf,
    /// `--systemd-cgroup`: accepted for runc compatibility; on cgroup v1 and hybrid hosts
    /// libcontainer always uses cgroupfs.
    pub systemd_cgroup: bool,
    /// The package and rootfs cache (`--cache`).
    pub cache: PathBuf,
}

/// Commands that fork a process into a container and so must run from a sealed copy of the
/// binary. The others only read state or signal processes, as `runc` (which clones itself
/// only for its `init`) does. `rootfs` is not among them: a root from the cache runs nothing,
/// and an install's containers are made by the creating process
/// ([`crate::runtime::creator`]), which seals itself before it forks.
const SEALED_COMMANDS: &[&str] = &[
    "create",
    "run",
    "exec",
    "build",
    "bundle",
    "callback",
    crate::runtime::creator::COMMAND,
];

/// Global flags that take a value, so the subcommand can be found without a full parse.
pub(crate) const GLOBAL_FLAGS_WITH_VALUE: &[&str] =
    &["--root", "-r", "--log", "-l", "--log-format", "--cache"];

/// Decides from the raw arguments (program name skipped) whether to seal `/proc/self/exe`.
pub fn needs_sealed_exe(args: impl IntoIterator<Item = OsString>) -> bool {
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(arg) = arg.to_str() else {
            return true;
        };
        if GLOBAL_FLAGS_WITH_VALUE.contains(&arg) {
            args.next();
            continue;
        }
        if arg.starts_with('-') {
            continue;
        }
        return SEALED_COMMANDS.contains(&arg);
    }
    false
}

/// Runs the parsed command and returns the process exit code. Errors are printed as one line
/// on stderr and, with `--log`, recorded in the log (as `{"level":"error","msg":…}` with
/// `--log-format json`, which podman and containerd show to their users).
pub fn dispatch(opts: Opts) -> i32 {
    let format = match opts.global.log_format.as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            eprintln!("obsbox: error: --log-format: unknown format {other:?} (use text or json)");
            return 1;
        }
    };
    if let Err(err) = logging::init(opts.global.log.as_deref(), format, opts.global.debug) {
        eprintln!("obsbox: error: {err:#}");
        return 1;
    }
    tracing::debug!(args = ?std::env::args().collect::<Vec<_>>(), "obsbox started");

    let ctx = Context {
        root: opts
            .global
            .root
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT)),
        systemd_cgroup: opts.global.systemd_cgroup,
        cache: opts.cache.clone(),
    };

    let (result, failure_code) = run_command(opts.command, &ctx);
    match result {
        Ok(code) => code,
        Err(err) => {
            let line = format!("{err:#}");
            tracing::error!(target: crate::logging::ERROR_TARGET, "{line}");
            eprintln!("obsbox: error: {line}");
            failure_code
        }
    }
}

/// Returns the command's result and the exit code to use when it fails (255 for `exec`, as
/// runc does, so callers can tell a failed exec from a process that exited 1).
fn run_command(command: Command, ctx: &Context) -> (Result<i32>, i32) {
    match command {
        Command::Standard(cmd) => match *cmd {
            StandardCmd::Create(args) => (create::create(args, ctx).map(|_| 0), 1),
            StandardCmd::Start(args) => (start::start(args, ctx).map(|_| 0), 1),
            StandardCmd::State(args) => (state::state(args, ctx).map(|_| 0), 1),
            StandardCmd::Kill(args) => (kill::kill(args, ctx).map(|_| 0), 1),
            StandardCmd::Delete(args) => (delete::delete(args, ctx).map(|_| 0), 1),
        },
        Command::Common(cmd) => match *cmd {
            CommonCmd::Run(args) => (run::run(args, ctx), 1),
            CommonCmd::Exec(args) => (exec::exec(args, ctx), 255),
            CommonCmd::List(args) => (list::list(args, ctx).map(|_| 0), 1),
            CommonCmd::Ps(args) => (ps::ps(args, ctx).map(|_| 0), 1),
            CommonCmd::Pause(args) => (pause::pause(args, ctx).map(|_| 0), 1),
            CommonCmd::Resume(args) => (pause::resume(args, ctx).map(|_| 0), 1),
            CommonCmd::Spec(args) => (spec::spec(args).map(|_| 0), 1),
            CommonCmd::Features(_) => (features::features().map(|_| 0), 1),
            CommonCmd::Checkpointt(_) => (unsupported("checkpoint"), 1),
            CommonCmd::Events(_) => (unsupported("events"), 1),
            CommonCmd::Update(_) => (unsupported("update"), 1),
        },
        Command::Rootfs(cmd) => (rootfs::rootfs(cmd, ctx).map(|_| 0), 1),
        Command::Cache(cmd) => (cache::cache(cmd, ctx).map(|_| 0), 1),
        Command::Build(args) => (
            build::build(args, ctx),
            crate::lifecycle::codes::SETUP_FAILED,
        ),
        Command::Bundle(args) => (build::bundle(args, ctx).map(|_| 0), 1),
        Command::Gc => (build::gc(ctx).map(|_| 0), 1),
        Command::Callback(cmd) => (callback::callback(cmd, ctx), 1),
        Command::Worker(cmd) => (worker::worker(cmd).map(|_| 0), 1),
        Command::Allocate(args) => (allocate::allocate(args), allocate::BAD_INPUT),
        Command::ObsBuild(raw) => (
            Ok(obs_build::run(
                crate::obsworker::Invocation::Build,
                raw,
                ctx.root.clone(),
                ctx.cache.clone(),
            )),
            3,
        ),
        Command::CreateForRun {
            bundle,
            container_id,
        } => (
            Ok(crate::runtime::creator::serve(
                &ctx.root,
                &bundle,
                &container_id,
            )),
            1,
        ),
        Command::Hostcheck(raw) => (
            Ok(obs_build::run(
                crate::obsworker::Invocation::Hostcheck,
                raw,
                ctx.root.clone(),
                ctx.cache.clone(),
            )),
            3,
        ),
    }
}

/// Left-aligned columns, two spaces apart (the shape of runc's `list`).
pub(crate) fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn unsupported(what: &str) -> Result<i32> {
    anyhow::bail!("{what} is not supported by obsbox")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(args: &[&str]) -> bool {
        needs_sealed_exe(args.iter().map(OsString::from))
    }

    #[test]
    fn seals_only_commands_that_enter_a_container() {
        assert!(sealed(&["create", "--bundle", "b", "id"]));
        assert!(sealed(&["--root", "/r", "--log-format=json", "run", "id"]));
        assert!(sealed(&[
            "--log",
            "/tmp/l",
            "--log-format",
            "json",
            "exec",
            "id",
            "true"
        ]));
        assert!(!sealed(&["--root", "/run/x", "state", "id"]));
        assert!(!sealed(&["--root", "exec", "state", "id"]));
        assert!(!sealed(&["features"]));
        assert!(sealed(&["create-for-run", "b", "id"]));
        assert!(!sealed(&[
            "--cache", "/c", "rootfs", "create", "--out", "o"
        ]));
        assert!(!sealed(&[]));
    }
}
