//! `install` mode for Debian roots: the unpacked set is registered in the root's dpkg
//! database as "unpacked", then the root's own maintainer scripts run inside a container of
//! that root (obsbox's runtime, no network): every `preinst install`, then
//! `dpkg --configure -a`, which configures in dependency order. This is how OBS's
//! init_buildsystem works too: unpack natively, let the root's dpkg do the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{ProcessBuilder, RootBuilder};

use super::store::Unpacked;
use crate::packages::deb;
use crate::runtime;

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Registers `packages` (already laid down in `tree`) and runs their maintainer scripts.
/// `work` is a scratch directory for the bundle; `state_root` the runtime's state dir;
/// the scripts' output goes to `log`.
pub fn install_deb(
    tree: &Path,
    packages: &[Unpacked],
    work: &Path,
    state_root: &Path,
    log: &Path,
) -> Result<()> {
    let order = write_dpkg_database(tree, packages)?;
    break_shared_links(tree, &["etc", "var"])?;
    let script = format!(
        "set -e\n\
         for p in {order}; do\n\
           f=/var/lib/dpkg/info/$p.preinst\n\
           if [ -x \"$f\" ]; then DPKG_MAINTSCRIPT_PACKAGE=${{p%%:*}} DPKG_MAINTSCRIPT_NAME=preinst \"$f\" install; fi\n\
         done\n\
         dpkg --configure -a\n",
        order = order.join(" ")
    );
    let code = run_in_root(tree, &["/bin/sh", "-c", &script], work, state_root, log)?;
    if code != 0 {
        bail!(
            "installing into the root failed: the maintainer scripts exited with {code} (log: {})",
            log.display()
        );
    }
    Ok(())
}

/// Registers `packages` (laid down in `tree`, a root of an arch this machine does not run)
/// and runs their maintainer scripts with the toolbox's host-arch dpkg: a container of the
/// read-only toolbox, the root mounted at `/buildroot`, where `dpkg --root` runs natively
/// and chroots into the root only for the scripts, which qemu runs. The preinst scripts
/// run the same way, through the toolbox's `chroot`.
///
/// The host's dpkg reads the unqualified dependencies of an `Architecture: all` package as
/// ones on packages of its own (host) arch, which a foreign root does not have: it would
/// leave every such package unconfigured. obsbox's resolver has already checked the set,
/// so `--force-depends` (with `--force-architecture`) lets dpkg go on; it still configures
/// a package's dependencies first wherever it can tell them.
pub fn install_deb_foreign(
    tree: &Path,
    packages: &[Unpacked],
    work: &Path,
    state_root: &Path,
    log: &Path,
    foreign: &super::Foreign,
) -> Result<()> {
    let order = write_dpkg_database(tree, packages)?;
    break_shared_links(tree, &["etc", "var"])?;
    for tool in ["bin/sh", "usr/bin/dpkg", "usr/sbin/chroot"] {
        if fs::symlink_metadata(foreign.toolbox.join(tool)).is_err() {
            bail!(
                "the toolbox {} has no /{tool}, which installing a foreign root needs \
                 (packages dash, dpkg and coreutils)",
                foreign.toolbox.display()
            );
        }
    }
    let script = format!(
        "set -e\n\
         for p in {order}; do\n\
           f=/var/lib/dpkg/info/$p.preinst\n\
           if [ -x \"/buildroot$f\" ]; then DPKG_MAINTSCRIPT_PACKAGE=${{p%%:*}} DPKG_MAINTSCRIPT_NAME=preinst chroot /buildroot \"$f\" install; fi\n\
         done\n\
         dpkg --root=/buildroot --force-architecture --force-depends --force-bad-path --configure -a\n",
        order = order.join(" ")
    );
    let spec = toolbox_spec(&foreign.toolbox, tree, &script, Some(&foreign.emulation))?;
    let code = run_spec(spec, work, state_root, log, Some(&foreign.emulation))?;
    if code != 0 {
        bail!(
            "installing into the {} root failed: dpkg or the maintainer scripts (through {}) \
             exited with {code} (log: {})",
            foreign.emulation.target.deb,
            foreign.emulation.interpreter.display(),
            log.display()
        );
    }
    Ok(())
}

/// Which rpm registers an rpm root, and where its scriptlets run.
pub enum RpmVia<'a> {
    /// The root's own rpm, in a container of the root.
    Own,
    /// The toolbox's host-arch rpm (`rpm --root /buildroot --ignorearch`) in a container
    /// of the read-only toolbox; the scriptlets run chrooted into the root, through qemu
    /// when the root is of a foreign arch.
    Toolbox {
        toolbox: &'a Path,
        emulation: Option<&'a crate::binfmt::Emulation>,
    },
}

/// The directory in a root where the headers and scriptlets wait while it is installed;
/// removed afterwards.
const RPM_STAGING: &str = ".obsbox-install";

/// `install` mode for rpm roots, the way OBS's init_buildsystem treats its preinstall
/// set: the files are laid down already (from the store), so `rpm --justdb` registers
/// every package in the root's rpm database from its header (lead and headers without the
/// payload, kept in the store), and then the `%pre` scriptlets and the `%post` scriptlets
/// run in dependency order with `$1 = 1`, as rpm runs them (`PROG [ARGS] FILE 1`; a
/// scriptlet without a body, such as `%post -p /sbin/ldconfig`, gets no arguments).
/// A failing scriptlet fails the install. Lua scriptlets (`<lua>`) run inside rpm's own
/// transaction only: they are reported in the log and skipped.
pub fn install_rpm(
    tree: &Path,
    packages: &[Unpacked],
    work: &Path,
    state_root: &Path,
    log: &Path,
    via: RpmVia,
) -> Result<()> {
    break_shared_links(tree, &["etc", "var"])?;
    let staging = tree.join(RPM_STAGING);
    let result = (|| {
        let script = rpm_install_script(tree, packages, &staging, &via)?;
        let code = match &via {
            RpmVia::Own => {
                if fs::symlink_metadata(tree.join("usr/bin/rpm")).is_err() {
                    bail!("the root has no /usr/bin/rpm to register its packages with");
                }
                run_in_root(tree, &["/bin/sh", "-c", &script], work, state_root, log)?
            }
            RpmVia::Toolbox { toolbox, emulation } => {
                for tool in ["bin/sh", "usr/bin/rpm", "usr/sbin/chroot"] {
                    if fs::symlink_metadata(toolbox.join(tool)).is_err() {
                        bail!(
                            "the toolbox {} has no /{tool}, which installing an rpm root needs \
                             (packages dash, rpm and coreutils)",
                            toolbox.display()
                        );
                    }
                }
                let spec = toolbox_spec(toolbox, tree, &script, *emulation)?;
                run_spec(spec, work, state_root, log, *emulation)?
            }
        };
        if code != 0 {
            bail!(
                "installing into the rpm root failed: rpm or a scriptlet exited with {code} \
                 (log: {})",
                log.display()
            );
        }
        Ok(())
    })();
    let cleaned = super::store::remove_tree(&staging);
    result?;
    cleaned.with_context(|| format!("cannot remove {}", staging.display()))
}

/// Stages the headers and scriptlets of `packages` under `staging` (inside the root) and
/// returns the shell script that registers them and runs the scriptlets.
fn rpm_install_script(
    tree: &Path,
    packages: &[Unpacked],
    staging: &Path,
    via: &RpmVia,
) -> Result<String> {
    use crate::packages::rpm::{RpmPackage, ScriptKind};
    let headers = staging.join("headers");
    let scripts = staging.join("scripts");
    fs::create_dir_all(&headers)?;
    fs::create_dir_all(&scripts)?;
    // What the scripts see of the root: `/` through the root's own rpm, `/buildroot`
    // from the toolbox.
    let root_in = match via {
        RpmVia::Own => "",
        RpmVia::Toolbox { .. } => "/buildroot",
    };
    let mut opened = Vec::new();
    let mut names = BTreeMap::new();
    let mut provider: BTreeMap<String, String> = BTreeMap::new();
    for (i, p) in packages.iter().enumerate() {
        let file = headers.join(format!("{i}.rpm"));
        fs::copy(p.rpm_header(), &file)
            .with_context(|| format!("{}: no rpm header in the store", p.info.name))?;
        let package = RpmPackage::open(&file)?;
        names.insert(package.name.clone(), package.name.clone());
        for cap in package.provides.iter().map(|r| r.name.clone()) {
            provider.entry(cap).or_insert_with(|| package.name.clone());
        }
        for f in &package.files {
            provider
                .entry(f.path.clone())
                .or_insert_with(|| package.name.clone());
        }
        opened.push(package);
    }
    let depends: BTreeMap<String, Vec<String>> = opened
        .iter()
        .map(|p| {
            let deps = p
                .requires
                .iter()
                .filter_map(|r| provider.get(&r.name))
                .filter(|d| **d != p.name)
                .cloned()
                .collect();
            (p.name.clone(), deps)
        })
        .collect();
    let order = topological(&names, &depends);

    // The root's database where its rpm looks: the sysimage location of newer
    // distributions when the root has it, else the classic one.
    let dbpath = if tree.join("usr/lib/sysimage/rpm").is_dir() {
        "/usr/lib/sysimage/rpm"
    } else {
        "/var/lib/rpm"
    };
    let rpm = match via {
        RpmVia::Own => format!("rpm --dbpath {dbpath}"),
        RpmVia::Toolbox { .. } => format!("rpm --root /buildroot --dbpath {dbpath}"),
    };
    let chroot = match via {
        RpmVia::Own => String::new(),
        RpmVia::Toolbox { .. } => "chroot /buildroot ".to_string(),
    };
    let mut out = format!(
        "set -e\n\
         {rpm} --initdb\n\
         {rpm} -i --justdb --nodeps --nodigest --nosignature --ignorearch --ignoreos \
         --noscripts --notriggers {root_in}/{RPM_STAGING}/headers/*.rpm\n"
    );
    for kind in [ScriptKind::PreIn, ScriptKind::PostIn] {
        let tag = if kind == ScriptKind::PreIn {
            "pre"
        } else {
            "post"
        };
        for name in &order {
            let Some(package) = opened.iter().find(|p| &p.name == name) else {
                continue;
            };
            let Some(s) = package.scripts.iter().find(|s| s.kind == kind) else {
                continue;
            };
            if s.interpreter.first().is_some_and(|i| i == "<lua>") {
                out.push_str(&format!(
                    "echo 'obsbox: %{tag} of {name} is a lua scriptlet, which only rpm's own \
                     transaction runs: skipped'\n"
                ));
                continue;
            }
            let mut argv: Vec<String> = s.interpreter.clone();
            if !s.body.is_empty() {
                let file = format!("{name}.{tag}");
                fs::write(scripts.join(&file), &s.body)?;
                argv.push(format!("/{RPM_STAGING}/scripts/{file}"));
                argv.push("1".to_string());
            }
            let argv: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
            out.push_str(&format!(
                "echo 'obsbox: %{tag} of {name}'\n{chroot}{}\n",
                argv.join(" ")
            ));
        }
    }
    Ok(out)
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A container of the read-only `toolbox` running `script` with `tree` mounted at
/// `/buildroot` (read-write) and a private `/tmp`; adapted for `emulation` when the root is
/// of a foreign arch.
fn toolbox_spec(
    toolbox: &Path,
    tree: &Path,
    script: &str,
    emulation: Option<&crate::binfmt::Emulation>,
) -> Result<oci_spec::runtime::Spec> {
    let mut spec = install_spec(toolbox, true, &["/bin/sh", "-c", script])?;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(
        oci_spec::runtime::MountBuilder::default()
            .destination("/buildroot")
            .typ("bind")
            .source(tree.to_path_buf())
            .options(vec!["rbind".to_string(), "rw".to_string()])
            .build()?,
    );
    mounts.push(
        oci_spec::runtime::MountBuilder::default()
            .destination("/tmp")
            .typ("tmpfs")
            .source("tmpfs")
            .options(vec![
                "nosuid".to_string(),
                "nodev".to_string(),
                "mode=1777".to_string(),
            ])
            .build()?,
    );
    spec.set_mounts(Some(mounts));
    if let Some(emulation) = emulation {
        emulation.adapt_spec(&mut spec)?;
    }
    Ok(spec)
}

/// Writes `/var/lib/dpkg/status` (every package `install ok unpacked`) and the `info/`
/// files; returns the dpkg names (`name` or `name:arch` for Multi-Arch: same) with
/// dependencies before their dependents.
fn write_dpkg_database(tree: &Path, packages: &[Unpacked]) -> Result<Vec<String>> {
    let admin = tree.join("var/lib/dpkg");
    let info = admin.join("info");
    fs::create_dir_all(&info).with_context(|| format!("cannot create {}", info.display()))?;
    for f in ["available", "diversions", "statoverride"] {
        if !admin.join(f).exists() {
            fs::write(admin.join(f), "")?;
        }
    }
    let mut status = String::new();
    let mut names = BTreeMap::new();
    let mut depends: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in packages {
        let control = fs::read_to_string(p.control_dir().join("control"))
            .with_context(|| format!("{}: no control file in the store", p.info.name))?;
        let multi_same = deb::field(&control, "Multi-Arch") == Some("same");
        let dpkg_name = if multi_same {
            format!("{}:{}", p.info.name, p.info.arch)
        } else {
            p.info.name.clone()
        };
        status.push_str(&status_paragraph(&control, p)?);
        status.push('\n');
        // info/<pkg>.list: every path the package owns, "/." first, as dpkg writes it.
        let files = fs::read(p.dir.join("files")).unwrap_or_default();
        let mut list = b"/.\n".to_vec();
        list.extend_from_slice(&files);
        fs::write(info.join(format!("{dpkg_name}.list")), list)?;
        for member in fs::read_dir(p.control_dir())? {
            let member = member?;
            let name = member.file_name().to_string_lossy().into_owned();
            if name == "control" {
                continue;
            }
            let dest = info.join(format!("{dpkg_name}.{name}"));
            fs::copy(member.path(), &dest)?;
            let executable = matches!(
                name.as_str(),
                "preinst" | "postinst" | "prerm" | "postrm" | "config"
            );
            fs::set_permissions(
                &dest,
                fs::Permissions::from_mode(if executable { 0o755 } else { 0o644 }),
            )?;
        }
        let deps: Vec<String> = ["Pre-Depends", "Depends"]
            .iter()
            .filter_map(|f| deb::field(&control, f))
            .flat_map(|v| v.split([',', '|']))
            .filter_map(|d| d.split_whitespace().next())
            .map(|d| d.split(':').next().unwrap_or(d).to_string())
            .collect();
        depends.insert(p.info.name.clone(), deps);
        names.insert(p.info.name.clone(), dpkg_name);
    }
    let status_path = admin.join("status");
    fs::write(&status_path, status)
        .with_context(|| format!("cannot write {}", status_path.display()))?;
    Ok(topological(&names, &depends))
}

/// The control paragraph with `Status:` after `Package:` and, for packages with conffiles,
/// a `Conffiles:` field marking them new (dpkg computes their hashes on configure).
fn status_paragraph(control: &str, p: &Unpacked) -> Result<String> {
    let mut out = String::new();
    for line in control.lines().filter(|l| !l.trim().is_empty()) {
        out.push_str(line);
        out.push('\n');
        if line.starts_with("Package:") {
            out.push_str("Status: install ok unpacked\n");
        }
    }
    if let Ok(conffiles) = fs::read_to_string(p.control_dir().join("conffiles")) {
        let files: Vec<&str> = conffiles
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with('/'))
            .collect();
        if !files.is_empty() {
            out.push_str("Conffiles:\n");
            for f in files {
                out.push_str(&format!(" {f} newconffile\n"));
            }
        }
    }
    Ok(out)
}

/// Dependencies first; ties and cycles broken by name, so the order is stable.
fn topological(
    names: &BTreeMap<String, String>,
    depends: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut done = BTreeSet::new();
    let mut order = Vec::new();
    fn visit(
        name: &str,
        names: &BTreeMap<String, String>,
        depends: &BTreeMap<String, Vec<String>>,
        done: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) {
        if !names.contains_key(name) || !done.insert(name.to_string()) {
            return;
        }
        for dep in depends.get(name).into_iter().flatten() {
            visit(dep, names, depends, done, order);
        }
        order.push(names[name].clone());
    }
    for name in names.keys() {
        visit(name, names, depends, &mut done, &mut order);
    }
    order
}

/// Replaces hard-linked regular files under `dirs` with private copies, so scripts that edit
/// files in place there (configuration, state) cannot change the shared package store.
fn break_shared_links(tree: &Path, dirs: &[&str]) -> Result<()> {
    fn walk(dir: &Path) -> Result<()> {
        let Ok(entries) = fs::read_dir(dir) else {
            return Ok(());
        };
        for entry in entries {
            let entry = entry?;
            let meta = fs::symlink_metadata(entry.path())?;
            if meta.is_dir() {
                walk(&entry.path())?;
            } else if meta.is_file() && meta.nlink() > 1 {
                unshare_file(&entry.path(), &meta)?;
            }
        }
        Ok(())
    }
    for d in dirs {
        walk(&tree.join(d))?;
    }
    Ok(())
}

fn unshare_file(path: &Path, meta: &fs::Metadata) -> Result<()> {
    let tmp = path.with_extension("obsbox-unshare");
    fs::copy(path, &tmp).with_context(|| format!("cannot copy {}", path.display()))?;
    std::os::unix::fs::lchown(&tmp, Some(meta.uid()), Some(meta.gid()))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    let mtime = nix::sys::time::TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    nix::sys::stat::utimensat(
        None,
        &tmp,
        &mtime,
        &mtime,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )?;
    fs::rename(&tmp, path)?;
    Ok(())
}

/// Runs `args` as root inside a container of `tree` (no network, runc's default mounts and
/// capabilities) and returns its exit code. Output goes to `log`.
pub fn run_in_root(
    tree: &Path,
    args: &[&str],
    work: &Path,
    state_root: &Path,
    log: &Path,
) -> Result<i32> {
    run_spec(
        install_spec(tree, false, args)?,
        work,
        state_root,
        log,
        None,
    )
}

/// The spec of an install container: `args` as root in `tree`, no network, runc's default
/// mounts, the capabilities maintainer scripts need.
fn install_spec(tree: &Path, readonly: bool, args: &[&str]) -> Result<oci_spec::runtime::Spec> {
    let mut spec = runtime::spec::default_spec(false)?;
    let process = ProcessBuilder::default()
        .terminal(false)
        .args(args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
        .env(vec![
            format!("PATH={PATH}"),
            "DEBIAN_FRONTEND=noninteractive".to_string(),
            "DEBCONF_NONINTERACTIVE_SEEN=true".to_string(),
            "LC_ALL=C".to_string(),
            "HOME=/root".to_string(),
        ])
        .cwd("/")
        .user(
            spec.process()
                .as_ref()
                .map(|p| p.user().clone())
                .unwrap_or_default(),
        )
        .capabilities(runtime::spec::root_capabilities()?)
        .rlimits(
            spec.process()
                .as_ref()
                .and_then(|p| p.rlimits().clone())
                .unwrap_or_default(),
        )
        .no_new_privileges(true)
        .build()?;
    spec.set_process(Some(process));
    spec.set_root(Some(
        RootBuilder::default()
            .path(PathBuf::from(tree))
            .readonly(readonly)
            .build()?,
    ));
    spec.set_hostname(Some("obsbox-install".to_string()));
    Ok(spec)
}

/// Runs `spec` as a bundle under `work` and returns its exit code; output goes to `log`.
fn run_spec(
    mut spec: oci_spec::runtime::Spec,
    work: &Path,
    state_root: &Path,
    log: &Path,
    emulation: Option<&crate::binfmt::Emulation>,
) -> Result<i32> {
    let bundle = work.join("bundle");
    fs::create_dir_all(&bundle)?;
    // Its cgroup is named after this process, below /obsbox, so `obsbox gc` collects it
    // if this process dies before it is deleted.
    let mut linux = spec.linux().clone().unwrap_or_default();
    linux.set_cgroups_path(Some(PathBuf::from(format!(
        "/obsbox/install-{}",
        std::process::id()
    ))));
    spec.set_linux(Some(linux));
    spec.save(bundle.join("config.json"))?;
    let mut log_file =
        fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let id = format!("obsbox-install-{}", std::process::id());
    let options = runtime::oneshot::RunOptions {
        emulation: emulation.cloned(),
        ..Default::default()
    };
    let outcome = runtime::oneshot::run_with(&bundle, &id, state_root, &options, |line| {
        let _ = writeln!(log_file, "{line}");
    })?;
    let mut log = fs::OpenOptions::new().append(true).open(log)?;
    writeln!(
        log,
        "obsbox: maintainer scripts exited with {}",
        outcome.code
    )?;
    if let Some(sig) = outcome.interrupted {
        bail!("installing into the root was interrupted by {sig}");
    }
    Ok(outcome.code)
}
