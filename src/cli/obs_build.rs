//! `obsbox obs-build ARGS…` and `obsbox hostcheck ARGS…`: the programs bs_worker runs, its
//! `$statedir/build/build` and its `--hostcheck`. The same happens when obsbox is run
//! through a file or link named `build` or `hostcheck` (how bs_worker finds them).
//!
//! Their arguments are obs-build's and bs_worker's, not obsbox's (obs-build's `--root` is
//! the build root, obsbox's the state directory), so they are taken apart here, before clap
//! parses obsbox's own options, which may come before the command word.

use std::ffi::OsString;

use clap::{Args, Parser};

use super::Opts;
use crate::logging;
use crate::obsworker::{self, Invocation, Settings, args, hostcheck};

/// The command's arguments, untouched.
#[derive(Args, Debug)]
pub struct RawArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

const BUILD_HELP: &str = "\
bs_worker's `$statedir/build/build`, answered by obsbox: runs one OBS build job with
obsbox's toolbox, buildroot, phases and callbacks, and leaves the results where obs-build
would.

Usage: obsbox [--root DIR] [--cache DIR] obs-build OBS-BUILD-OPTIONS... RECIPE
       build OBS-BUILD-OPTIONS... RECIPE     (obsbox run as a file or link named `build`)

The options are obs-build's as bs_worker passes them: --root BUILDROOT, --dist CONFIG,
--rpmlist FILE, --logfile FILE, --arch ARCH, --jobs N, --release R, --clean,
--changelog, --norootforbuild, --baselibs-internal, --lint, --reason, --disturl ...

Exit codes: 0 succeeded, 1 failed, 2 unchanged, 3 bad host (OBS gives the job to another
worker).
";

const HOSTCHECK_HELP: &str = "\
bs_worker's `--hostcheck`, answered by obsbox: says whether this worker can build a job.

Usage: obsbox hostcheck [--srcserver URL] JOBFILE precheck|succeeded|failed PATH
       hostcheck ...                         (obsbox run as a file or link named `hostcheck`)

Exit codes: 0 yes, 1 not this package, 2 not this repository, 3 nothing.
";

/// Exit code for a call that cannot even be understood: for bs_worker's `build` that is a
/// bad host (OBS gives the job to another worker), for `--hostcheck` "cannot build
/// anything".
pub(super) const UNUSABLE: i32 = 3;

/// Runs obsbox as bs_worker's `build` or host check when `argv` (with the program name)
/// asks for it; `None` for every other command.
pub fn worker_entry(argv: &[OsString]) -> Option<i32> {
    let (invocation, globals, rest) = split(argv)?;
    let name = match invocation {
        Invocation::Build => "obs-build",
        Invocation::Hostcheck => "hostcheck",
    };
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        print!(
            "{}",
            match invocation {
                Invocation::Build => BUILD_HELP,
                Invocation::Hostcheck => HOSTCHECK_HELP,
            }
        );
        return Some(0);
    }
    let mut clap_args = vec![OsString::from("obsbox")];
    clap_args.extend(globals.iter().cloned());
    clap_args.push(name.into());
    let opts = match Opts::try_parse_from(&clap_args) {
        Ok(opts) => opts,
        Err(err) => {
            let text = err.to_string();
            eprintln!(
                "obsbox: error: {}",
                text.lines().next().unwrap_or("bad options")
            );
            return Some(UNUSABLE);
        }
    };
    if let Err(err) = logging::init_from(&opts.global) {
        eprintln!("obsbox: error: {err:#}");
        return Some(UNUSABLE);
    }
    let cache_given = globals
        .iter()
        .any(|g| g == "--cache" || g.to_string_lossy().starts_with("--cache="));
    let settings = Settings::from_env(opts.global.root.clone(), cache_given.then_some(opts.cache));
    let settings = match settings {
        Ok(s) => s,
        Err(err) => return Some(fail(name, &err)),
    };
    Some(match invocation {
        Invocation::Build => obs_build(rest, &settings),
        Invocation::Hostcheck => host_check(rest, &settings),
    })
}

/// `obs-build`/`hostcheck` reached clap's dispatch: only when [`worker_entry`] could not
/// read the command line (an argument that is not UTF-8).
pub(super) fn not_understood() -> anyhow::Result<i32> {
    anyhow::bail!("obs-build/hostcheck: the command line is not UTF-8")
}

fn fail(name: &str, err: &anyhow::Error) -> i32 {
    eprintln!("obsbox {name}: {err:#}");
    tracing::error!(target: crate::logging::ERROR_TARGET, "{err:#}");
    UNUSABLE
}

fn obs_build(rest: &[OsString], settings: &Settings) -> i32 {
    let call = match args::parse(rest) {
        Ok(call) => call,
        Err(err) => return fail("obs-build", &err),
    };
    if matches!(call.action, args::Action::Build(_)) {
        // The build forks into containers: from a sealed binary only (see runtime::seal).
        if let Err(err) = crate::runtime::seal::ensure_sealed() {
            return fail("obs-build", &err);
        }
    }
    obsworker::build::run(&call, settings)
}

fn host_check(rest: &[OsString], settings: &Settings) -> i32 {
    let call = match hostcheck::parse(rest) {
        Ok(call) => call,
        Err(err) => return fail("hostcheck", &err),
    };
    let verdict = hostcheck::check(&call, settings);
    if verdict.code == hostcheck::OK {
        println!("obsbox hostcheck: {}", verdict.message);
    } else {
        eprintln!("obsbox hostcheck: {}", verdict.message);
    }
    verdict.code
}

/// Which program `argv` asks for, obsbox's global options before the command word, and
/// the program's own arguments.
fn split(argv: &[OsString]) -> Option<(Invocation, &[OsString], &[OsString])> {
    let (argv0, args) = argv.split_first()?;
    if let Some(invocation) = obsworker::invoked_as(argv0) {
        return Some((invocation, &[], args));
    }
    let (i, word) = super::command_word(args)?;
    let invocation = match word {
        "obs-build" => Invocation::Build,
        "hostcheck" => Invocation::Hostcheck,
        _ => return None,
    };
    Some((invocation, &args[..i], &args[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn finds_the_worker_programs() {
        let argv = os(&["/w/build/build", "--root", "/w/root_1", "--kill"]);
        let (inv, globals, rest) = split(&argv).unwrap();
        assert_eq!(inv, Invocation::Build);
        assert!(globals.is_empty());
        assert_eq!(rest, &argv[1..]);

        let argv = os(&[
            "obsbox",
            "--root",
            "/run/x",
            "--cache=/c",
            "obs-build",
            "--root",
            "/w/r",
            "--wipe",
        ]);
        let (inv, globals, rest) = split(&argv).unwrap();
        assert_eq!(inv, Invocation::Build);
        assert_eq!(globals, &argv[1..4]);
        assert_eq!(rest, &argv[5..]);

        let argv = os(&[
            "obsbox",
            "hostcheck",
            "--srcserver",
            "u",
            "j",
            "precheck",
            "r",
        ]);
        assert_eq!(split(&argv).unwrap().0, Invocation::Hostcheck);

        assert!(split(&os(&["obsbox", "--root", "obs-build", "state", "x"])).is_none());
        assert!(split(&os(&["obsbox", "build", "job.toml", "--out", "r"])).is_none());
        assert!(split(&os(&["obsbox"])).is_none());
    }
}
