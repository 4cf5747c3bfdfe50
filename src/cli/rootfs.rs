//! `obsbox rootfs create`: assemble a root from repositories.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand, ValueEnum};

use super::Context;
use crate::model::Arch;
use crate::rootfs::{self, Mode, store::Store};

#[derive(Subcommand, Debug)]
pub enum RootfsCmd {
    /// Resolve packages from repositories and lay the root down in DIR.
    Create(CreateArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Target architecture (Debian or RPM name: amd64/x86_64, arm64/aarch64, …).
    #[arg(long)]
    pub arch: Arch,
    /// A repository: PATH, file://… or http://…, for a Debian archive followed by the suite
    /// and components ("http://host/debian bookworm main"). Repeatable.
    #[arg(long = "repo", required = true)]
    pub repos: Vec<String>,
    /// A package the root must contain (and with it its dependencies). Repeatable.
    #[arg(long = "install")]
    pub install: Vec<String>,
    /// A file with one package name per line (`#` comments allowed).
    #[arg(long)]
    pub packages_from: Option<PathBuf>,
    /// extract: files only; install: package database and maintainer scripts too.
    #[arg(long, value_enum, default_value_t = ModeArg::Extract)]
    pub mode: ModeArg,
    /// A host-arch toolbox root (e.g. made by `rootfs create --mode extract`) whose tools
    /// install the root: rpm registers an rpm root that has no rpm of its own, and for a
    /// root of a foreign arch dpkg or rpm run from it with its qemu-ARCH-static for the
    /// maintainer scripts.
    #[arg(long)]
    pub toolbox: Option<PathBuf>,
    /// Where the root goes (must not exist, or be empty): a private copy of the cached
    /// root.
    #[arg(long)]
    pub out: PathBuf,
    /// Mount the cached root at OUT instead of copying it: an overlay whose changes go to
    /// OUT.upper (work directory OUT.work). Remove it with `umount OUT`.
    #[arg(long)]
    pub mount: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ModeArg {
    Extract,
    Install,
}

pub fn rootfs(cmd: RootfsCmd, ctx: &Context) -> Result<()> {
    match cmd {
        RootfsCmd::Create(args) => create(args, ctx),
    }
}

fn create(args: CreateArgs, ctx: &Context) -> Result<()> {
    let mut names = args.install.clone();
    if let Some(file) = &args.packages_from {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if line.contains(char::is_whitespace) && !line.contains('(') {
                bail!(
                    "{}:{}: one package name per line, got {line:?}",
                    file.display(),
                    n + 1
                );
            }
            names.push(line.to_string());
        }
    }
    if names.is_empty() {
        bail!("nothing to install: give --install NAME or --packages-from FILE");
    }
    let mode = match args.mode {
        ModeArg::Extract => Mode::Extract,
        ModeArg::Install => Mode::Install,
    };
    let toolbox = match &args.toolbox {
        Some(dir) => Some(
            std::fs::canonicalize(dir)
                .with_context(|| format!("--toolbox {}: cannot open", dir.display()))?,
        ),
        None => None,
    };
    // A foreign install-mode root: qemu from the toolbox, registered for the install
    // container (privately where the kernel allows it, else a global entry of this
    // process, removed when it ends).
    let mut _global_entry = None;
    let foreign = match &toolbox {
        Some(toolbox)
            if mode == Mode::Install
                && crate::binfmt::needs_emulation(&Arch::native(), &args.arch)? =>
        {
            let binfmt = crate::binfmt::Mode::choose("auto")?;
            let emulation = crate::binfmt::Emulation::from_toolbox(&args.arch, toolbox, binfmt)
                .with_context(|| format!("--toolbox {}", toolbox.display()))?;
            if binfmt == crate::binfmt::Mode::Global {
                _global_entry = Some(crate::binfmt::GlobalEntry::register(&emulation)?);
            }
            Some(rootfs::Foreign {
                toolbox: toolbox.clone(),
                emulation,
            })
        }
        _ => None,
    };
    let request = rootfs::Request::new(mode, &args.arch, args.repos, names)
        .with_foreign(foreign)
        .with_toolbox(toolbox);
    let store = Store::open(&ctx.cache)?;
    let how = if args.mount {
        rootfs::Out::Mount
    } else {
        rootfs::Out::Copy
    };
    let built = rootfs::create(&request, &store, &ctx.root, &args.out, how)?;
    eprintln!(
        "obsbox: {} root of {} packages in {} ({}{})",
        request.mode.name(),
        built.packages.len(),
        args.out.display(),
        if built.cache_hit {
            "from the cache"
        } else {
            "built"
        },
        if args.mount {
            "; mounted, remove with umount"
        } else {
            ""
        }
    );
    Ok(())
}
