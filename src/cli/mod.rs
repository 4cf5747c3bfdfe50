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

use crate::logging;

pub use obs_build::worker_entry;

pub use crate::config::{DEFAULT_CACHE, DEFAULT_ROOT};

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

/// Parses `argv` (with the program name); clap prints help and usage errors and exits.
pub fn parse(argv: Vec<OsString>) -> Opts {
    let mut matches = command().get_matches_from(argv);
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

/// Global flags that take a value, so the worker programs' command word can be found
/// before clap parses (see [`obs_build::worker_entry`]).
pub(crate) const GLOBAL_FLAGS_WITH_VALUE: &[&str] =
    &["--root", "-r", "--log", "-l", "--log-format", "--cache"];

impl Command {
    /// Whether the command forks a process into a container and so must run from a sealed
    /// copy of the binary (CVE-2019-5736 class, see [`crate::runtime::seal`]). The others
    /// only read state or signal processes, as `runc` (which clones itself only for its
    /// `init`) does. The match names every command: a new one cannot be added without
    /// deciding.
    pub fn needs_seal(&self) -> bool {
        match self {
            Command::Standard(cmd) => match **cmd {
                StandardCmd::Create(_) => true,
                StandardCmd::Start(_)
                | StandardCmd::State(_)
                | StandardCmd::Kill(_)
                | StandardCmd::Delete(_) => false,
            },
            Command::Common(cmd) => match **cmd {
                CommonCmd::Run(_) | CommonCmd::Exec(_) => true,
                CommonCmd::List(_)
                | CommonCmd::Ps(_)
                | CommonCmd::Pause(_)
                | CommonCmd::Resume(_)
                | CommonCmd::Spec(_)
                | CommonCmd::Features(_)
                | CommonCmd::Checkpointt(_)
                | CommonCmd::Events(_)
                | CommonCmd::Update(_) => false,
            },
            // `rootfs` is not among them: a root from the cache runs nothing, and an
            // install's containers are made by the creating process
            // ([`crate::runtime::creator`]), which seals itself before it forks.
            Command::Build(_)
            | Command::Bundle(_)
            | Command::Callback(_)
            | Command::CreateForRun { .. } => true,
            // The worker programs seal themselves once they know they build
            // (`obs_build::worker_entry`); the clap path only refuses.
            Command::ObsBuild(_) | Command::Hostcheck(_) => false,
            Command::Rootfs(_)
            | Command::Cache(_)
            | Command::Gc
            | Command::Worker(_)
            | Command::Allocate(_) => false,
        }
    }

    /// The exit code when the command fails: OBS's "failed setup" for a build, 255 for
    /// `exec` (as runc, so callers tell a failed exec from a process that exited 1), the
    /// bad-input code of `allocate`, bad host for the worker programs, 1 otherwise.
    pub fn failure_code(&self) -> i32 {
        match self {
            Command::Common(cmd) if matches!(**cmd, CommonCmd::Exec(_)) => 255,
            Command::Build(_) => crate::lifecycle::Outcome::SetupFailed.exit_code(),
            Command::Allocate(_) => allocate::BAD_INPUT,
            Command::ObsBuild(_) | Command::Hostcheck(_) => obs_build::UNUSABLE,
            _ => 1,
        }
    }
}

/// The whole command line of the `obsbox` binary, `argv` with the program name: bs_worker's
/// programs (their own command lines), else obsbox's parsed once by clap, sealed when the
/// command enters a container, then run. Returns the exit code.
pub fn main(argv: Vec<OsString>) -> i32 {
    if let Some(code) = worker_entry(&argv) {
        return code;
    }
    let early = seals_early(&argv);
    if early {
        if let Err(code) = seal() {
            return code;
        }
    }
    let opts = parse(argv);
    if !early && opts.command.needs_seal() {
        if let Err(code) = seal() {
            return code;
        }
    }
    dispatch(opts)
}

/// Runs on from a sealed copy of the binary (re-executing it when not yet), or returns the
/// exit code of the failure, reported.
fn seal() -> Result<(), i32> {
    if crate::runtime::seal::is_sealed() {
        return Ok(());
    }
    // These commands put processes into cgroups: start the kernel's wait for that now,
    // once (not again in the sealed re-execution).
    crate::runtime::attach_warmup::start();
    crate::runtime::seal::ensure_sealed().map_err(|err| {
        eprintln!("obsbox: error: {err:#}");
        1
    })
}

/// The runtime commands that enter a container, by their command word: sealed before clap
/// parses, as building clap's parser for every command costs about as much as the sealed
/// re-execution spends parsing again. Only a shortcut: a command that enters a container
/// and is missing here is sealed after parsing ([`Command::needs_seal`] decides), and a
/// test checks that every word here names a command that needs it.
const SEALED_BEFORE_PARSING: &[&str] = &["create", "run", "exec"];

/// Whether `argv` names one of [`SEALED_BEFORE_PARSING`] and asks for no help or version
/// (which clap answers without sealing) anywhere.
fn seals_early(argv: &[OsString]) -> bool {
    let Some((_, args)) = argv.split_first() else {
        return false;
    };
    let informational =
        |a: &OsString| matches!(a.to_str(), Some("-h" | "--help" | "-V" | "--version"));
    command_word(args).is_some_and(|(_, word)| SEALED_BEFORE_PARSING.contains(&word))
        && !args.iter().any(informational)
}

/// The command word of `args` (the arguments after the program's name) and its index: the
/// first argument that is neither a global option nor the value of one. `None` when there
/// is none or an argument before it is not text.
pub(crate) fn command_word(args: &[OsString]) -> Option<(usize, &str)> {
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].to_str()?;
        if GLOBAL_FLAGS_WITH_VALUE.contains(&arg) {
            i += 2;
        } else if arg.starts_with('-') {
            i += 1;
        } else {
            return Some((i, arg));
        }
    }
    None
}

/// Runs the parsed command and returns the process exit code. Errors are printed as one line
/// on stderr and, with `--log`, recorded in the log (as `{"level":"error","msg":…}` with
/// `--log-format json`, which podman and containerd show to their users).
pub fn dispatch(opts: Opts) -> i32 {
    if let Err(err) = logging::init_from(&opts.global) {
        eprintln!("obsbox: error: {err:#}");
        return 1;
    }
    tracing::debug!(args = ?std::env::args().collect::<Vec<_>>(), "obsbox started");

    let ctx = Context {
        // Absolute: the state directory also reaches hooks' command lines (`obsbox --root
        // STATE callback hook …`), which run from the bundle's directory.
        root: opts
            .global
            .root
            .clone()
            .map(|root| std::path::absolute(&root).unwrap_or(root))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT)),
        systemd_cgroup: opts.global.systemd_cgroup,
        cache: opts.cache.clone(),
    };

    let failure_code = opts.command.failure_code();
    match run_command(opts.command, &ctx) {
        Ok(code) => code,
        Err(err) => {
            let line = crate::text::clip(&format!("{err:#}"), MAX_ERROR_LINE);
            tracing::error!(target: crate::logging::ERROR_TARGET, "{line}");
            eprintln!("obsbox: error: {line}");
            failure_code
        }
    }
}

/// The longest error line printed: an error quoting hostile input (a dependency with 100,000
/// alternatives) says where it is and stops.
const MAX_ERROR_LINE: usize = 8 << 10;

/// Runs the command; its exit code, or the error that ends it (see [`Command::failure_code`]).
fn run_command(command: Command, ctx: &Context) -> Result<i32> {
    let done = |r: Result<()>| r.map(|()| 0);
    match command {
        Command::Standard(cmd) => match *cmd {
            StandardCmd::Create(args) => done(create::create(args, ctx)),
            StandardCmd::Start(args) => done(start::start(args, ctx)),
            StandardCmd::State(args) => done(state::state(args, ctx)),
            StandardCmd::Kill(args) => done(kill::kill(args, ctx)),
            StandardCmd::Delete(args) => done(delete::delete(args, ctx)),
        },
        Command::Common(cmd) => match *cmd {
            CommonCmd::Run(args) => run::run(args, ctx),
            CommonCmd::Exec(args) => exec::exec(args, ctx),
            CommonCmd::List(args) => done(list::list(args, ctx)),
            CommonCmd::Ps(args) => done(ps::ps(args, ctx)),
            CommonCmd::Pause(args) => done(pause::pause(args, ctx)),
            CommonCmd::Resume(args) => done(pause::resume(args, ctx)),
            CommonCmd::Spec(args) => done(spec::spec(args)),
            CommonCmd::Features(_) => done(features::features()),
            CommonCmd::Checkpointt(_) => unsupported("checkpoint"),
            CommonCmd::Events(_) => unsupported("events"),
            CommonCmd::Update(_) => unsupported("update"),
        },
        Command::Rootfs(cmd) => done(rootfs::rootfs(cmd, ctx)),
        Command::Cache(cmd) => done(cache::cache(cmd, ctx)),
        Command::Build(args) => build::build(args, ctx),
        Command::Bundle(args) => done(build::bundle(args, ctx)),
        Command::Gc => done(build::gc(ctx)),
        Command::Callback(cmd) => callback::callback(cmd, ctx),
        Command::Worker(cmd) => done(worker::worker(cmd)),
        Command::Allocate(args) => allocate::allocate(args),
        Command::ObsBuild(_) | Command::Hostcheck(_) => obs_build::not_understood(),
        Command::CreateForRun {
            bundle,
            container_id,
        } => Ok(crate::runtime::creator::serve(
            &ctx.root,
            &bundle,
            &container_id,
        )),
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
        let argv = std::iter::once("obsbox").chain(args.iter().copied());
        let mut matches = command().try_get_matches_from(argv).unwrap();
        Opts::from_arg_matches_mut(&mut matches)
            .unwrap()
            .command
            .needs_seal()
    }

    #[test]
    fn the_words_sealed_before_parsing_name_commands_that_need_sealing() {
        for word in SEALED_BEFORE_PARSING {
            let argv = match *word {
                "exec" => vec!["obsbox", "exec", "id", "true"],
                other => vec!["obsbox", other, "id"],
            };
            assert!(sealed(&argv[1..]), "{word}");
        }
        let os = |args: &[&str]| args.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            command_word(&os(&[
                "--root",
                "/r",
                "--log-format=json",
                "-l",
                "f",
                "run",
                "x"
            ])),
            Some((5, "run"))
        );
        assert_eq!(command_word(&os(&["--debug"])), None);
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
        assert!(sealed(&["build", "job.toml", "--out", "r"]));
        assert!(!sealed(&["--root", "/run/x", "state", "id"]));
        assert!(!sealed(&["--root", "exec", "state", "id"]));
        assert!(!sealed(&["features"]));
        assert!(!sealed(&["delete", "--force", "id"]));
        assert!(sealed(&["create-for-run", "--bundle", "b", "id"]));
        assert!(!sealed(&[
            "--cache",
            "/c",
            "rootfs",
            "create",
            "--out",
            "o",
            "--arch",
            "amd64",
            "--repo",
            "r",
            "--install",
            "p"
        ]));
    }
}
