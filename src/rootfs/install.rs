//! `install` mode for Debian roots: the unpacked set is registered in the root's dpkg
//! database as "unpacked", then the root's own maintainer scripts run inside a container of
//! that root (obsbox's runtime, no network) in dpkg's order: in dependency order, each
//! `preinst install` before the package's own files are unpacked, then
//! `dpkg --configure -a`, which configures in dependency order. This is how OBS's
//! init_buildsystem works too: the base (what any script needs to run: the Essential
//! packages and what they depend on) is unpacked natively first, every other package is
//! then installed by dpkg, its preinst running before its files arrive.
//!
//! Packages without a preinst and the base are laid down in the farm before anything runs
//! (the fast path: links into the store); a package with a preinst outside the base is
//! left out of the farm ([`deb_deferred`]), and laid into the overlay, copied, right after
//! its preinst ran.
//!
//! The root given here is an overlay of the package farm (see [`super::overlay`]): whatever
//! the scripts change is copied up, never written into the store. Everything obsbox writes
//! into it goes through a [`RootDir`], and package names reach the scripts as arguments,
//! never as shell text.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{ProcessBuilder, RootBuilder};

use super::RootDir;
use super::store::Unpacked;
use crate::packages::deb;
use crate::runtime;

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The largest file of a package's control data obsbox copies into the dpkg database.
const MAX_CONTROL_FILE: u64 = 64 << 20;

/// Runs the `preinst install` of the packages named as arguments (dpkg names, in order),
/// then, with `$CONFIGURE` 1, configures every package. `$ROOT` is where the root is seen;
/// `$CHROOT` runs a script inside it; `$DPKG` is the dpkg that configures.
const DEB_SCRIPT: &str = r#"set -e
for p in "$@"; do
  f="/var/lib/dpkg/info/$p.preinst"
  if [ -x "$ROOT$f" ]; then
    echo "obsbox: preinst install of $p"
    DPKG_MAINTSCRIPT_PACKAGE="${p%%:*}" DPKG_MAINTSCRIPT_NAME=preinst $CHROOT "$f" install
  fi
done
if [ "$CONFIGURE" = 1 ]; then
  $DPKG --configure -a
fi
"#;

/// `/bin/sh -c DEB_SCRIPT` with the environment's settings and `preinst` as arguments.
fn deb_script_args(
    root: &str,
    chroot: &str,
    dpkg: &str,
    preinst: &[String],
    configure: bool,
) -> Vec<String> {
    let mut args = vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        format!(
            "ROOT={root} CHROOT={chroot:?} DPKG={dpkg:?} CONFIGURE={}
{DEB_SCRIPT}",
            u8::from(configure)
        ),
        "obsbox-install".to_string(),
    ];
    args.extend(preinst.iter().cloned());
    args
}

/// Which packages of a Debian set are left out of the farm, to be unpacked only after
/// their preinst ran: those with a preinst that are not part of the base. The base is what
/// OBS preinstalls for Debian and debootstrap unpacks first: the Essential packages and
/// everything they (pre-)depend on, so that a shell and dpkg can run at all.
pub fn deb_deferred(packages: &[Unpacked]) -> Result<Vec<bool>> {
    let mut controls = Vec::with_capacity(packages.len());
    for p in packages {
        let path = p.control_dir().join("control");
        let text = read_bounded(&path, MAX_CONTROL_FILE)
            .with_context(|| format!("{}: no control file in the store", p.info.name))?;
        controls.push(text);
    }
    // Package (and provided) name → indices of the packages of that name.
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (p, control)) in packages.iter().zip(&controls).enumerate() {
        by_name.entry(p.info.name.as_str()).or_default().push(i);
        for provided in deb::field(control, "Provides")
            .unwrap_or_default()
            .split(',')
            .filter_map(|d| d.split_whitespace().next())
        {
            by_name.entry(provided).or_default().push(i);
        }
    }
    let mut base = vec![false; packages.len()];
    let mut todo: Vec<usize> = controls
        .iter()
        .enumerate()
        .filter(|(_, c)| deb::field(c, "Essential") == Some("yes"))
        .map(|(i, _)| i)
        .collect();
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut base[i], true) {
            continue;
        }
        for name in dependency_names(&controls[i]) {
            for &j in by_name.get(name.as_str()).into_iter().flatten() {
                if !base[j] {
                    todo.push(j);
                }
            }
        }
    }
    Ok(packages
        .iter()
        .zip(base)
        .map(|(p, base)| !base && p.control_dir().join("preinst").is_file())
        .collect())
}

/// The package names of a control file's `Pre-Depends` and `Depends` (every alternative,
/// without versions and arch qualifiers).
fn dependency_names(control: &str) -> Vec<String> {
    ["Pre-Depends", "Depends"]
        .iter()
        .filter_map(|f| deb::field(control, f))
        .flat_map(|v| v.split([',', '|']))
        .filter_map(|d| d.split_whitespace().next())
        .map(|d| d.split(':').next().unwrap_or(d).to_string())
        .collect()
}

/// The text of a file of the store, at most `limit` bytes.
fn read_bounded(path: &Path, limit: u64) -> Result<String> {
    let Some(bytes) = crate::io::read_at_most(fs::File::open(path)?, limit)? else {
        bail!("{} is larger than {limit} bytes", path.display());
    };
    Ok(crate::io::into_text(bytes)?)
}

/// One step of a Debian install, in dpkg's order.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Run these preinsts (dpkg names) in one container, then, when `lay` names a
    /// package (an index), lay its files into the root.
    Preinst {
        names: Vec<String>,
        lay: Option<usize>,
    },
}

/// The steps for `order` (dpkg names in dependency order, from [`write_dpkg_database`]):
/// preinsts of laid-down packages are batched; a deferred package ends a batch with its
/// own preinst and is laid down after it. The last batch is run with the configure step.
fn deb_steps(order: &[String], packages: &[Unpacked], deferred: &[bool]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut batch = Vec::new();
    for name in order {
        let plain = name.split(':').next().unwrap_or(name);
        let index = packages.iter().position(|p| p.info.name == plain);
        batch.push(name.clone());
        if let Some(i) = index.filter(|&i| deferred.get(i).copied().unwrap_or(false)) {
            steps.push(Step::Preinst {
                names: std::mem::take(&mut batch),
                lay: Some(i),
            });
        }
    }
    steps.push(Step::Preinst {
        names: batch,
        lay: None,
    });
    steps
}

/// Runs the steps of a Debian install: `run` runs the script's arguments in a container and
/// returns its exit code; deferred packages are laid into `tree` (the overlay) after their
/// preinst. The last step configures every package.
fn run_deb_steps(
    tree: &Path,
    packages: &[Unpacked],
    deferred: &[bool],
    order: &[String],
    script: impl Fn(&[String], bool) -> Vec<String>,
    mut run: impl FnMut(&[String]) -> Result<i32>,
) -> Result<i32> {
    let steps = deb_steps(order, packages, deferred);
    let last = steps.len() - 1;
    for (n, Step::Preinst { names, lay }) in steps.into_iter().enumerate() {
        let code = run(&script(&names, n == last))?;
        if code != 0 {
            return Ok(code);
        }
        if let Some(i) = lay {
            super::farm::merge_copying(std::slice::from_ref(&packages[i]), tree).with_context(
                || format!("cannot unpack {} after its preinst", packages[i].info.name),
            )?;
        }
    }
    Ok(0)
}

/// Registers `packages` (already laid down in `tree`) and runs their maintainer scripts.
/// `work` is a scratch directory for the bundle; `state_root` the runtime's state dir;
/// the scripts' output goes to `log`.
///
/// A root of this machine's arch (`foreign` is `None`) does it itself: dpkg and the scripts
/// run in a container of the root. A root of an arch this machine does not run is done from
/// the toolbox: a container of the read-only toolbox, the root mounted at `/buildroot`,
/// where the toolbox's host-arch `dpkg --root` runs natively and chroots into the root only
/// for the scripts, which qemu runs (the preinst scripts run the same way, through the
/// toolbox's `chroot`). The host's dpkg reads the unqualified dependencies of an
/// `Architecture: all` package as ones on packages of its own (host) arch, which a foreign
/// root does not have: it would leave every such package unconfigured. obsbox's resolver
/// has already checked the set, so `--force-depends` (with `--force-architecture`) lets
/// dpkg go on; it still configures a package's dependencies first wherever it can tell them.
pub fn install_deb(
    tree: &Path,
    packages: &[Unpacked],
    deferred: &[bool],
    work: &Path,
    state_root: &Path,
    log: &Path,
    foreign: Option<&super::Foreign>,
) -> Result<()> {
    let order = write_dpkg_database(&RootDir::open(tree)?, packages)?;
    if let Some(foreign) = foreign {
        require_tools(
            &foreign.toolbox,
            &["bin/sh", "usr/bin/dpkg", "usr/sbin/chroot"],
            "installing a foreign root needs (packages dash, dpkg and coreutils)",
        )?;
    }
    fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let code = run_deb_steps(
        tree,
        packages,
        deferred,
        &order,
        |names, configure| match foreign {
            None => deb_script_args("", "", "dpkg", names, configure),
            Some(_) => deb_script_args(
                "/buildroot",
                "chroot /buildroot",
                "dpkg --root=/buildroot --force-architecture --force-depends --force-bad-path",
                names,
                configure,
            ),
        },
        |args| match foreign {
            None => {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                run_in_root(tree, &args, work, state_root, log)
            }
            Some(foreign) => {
                let spec = toolbox_spec(&foreign.toolbox, tree, args, Some(&foreign.emulation))?;
                run_spec(spec, work, state_root, log, Some(&foreign.emulation))
            }
        },
    )?;
    if code == 0 {
        return Ok(());
    }
    match foreign {
        None => bail!(
            "installing into the root failed: the maintainer scripts exited with {code} (log: {})",
            log.display()
        ),
        Some(foreign) => bail!(
            "installing into the {} root failed: dpkg or the maintainer scripts (through {}) \
             exited with {code} (log: {})",
            foreign.emulation.target.deb,
            foreign.emulation.interpreter.display(),
            log.display()
        ),
    }
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
    let root = RootDir::open(tree)?;
    fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    // A directory of obsbox's own, which no package can have put there.
    let staging = PathBuf::from(format!("{RPM_STAGING}.{}", std::process::id()));
    if root.kind(&staging)?.is_some() {
        root.remove_all(&staging)?;
    }
    let result = (|| {
        let script = rpm_install_script(&root, packages, &staging, &via)?;
        let args = ["/bin/sh", "-c", script.as_str()];
        let code = match &via {
            RpmVia::Own => {
                if root.kind(Path::new("usr/bin/rpm"))?.is_none() {
                    bail!("the root has no /usr/bin/rpm to register its packages with");
                }
                run_in_root(tree, &args, work, state_root, log)?
            }
            RpmVia::Toolbox { toolbox, emulation } => {
                require_tools(
                    toolbox,
                    &["bin/sh", "usr/bin/rpm", "usr/sbin/chroot"],
                    "installing an rpm root needs (packages dash, rpm and coreutils)",
                )?;
                let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                let spec = toolbox_spec(toolbox, tree, &args, *emulation)?;
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
    let cleaned = root.remove_all(&staging);
    result?;
    cleaned
}

/// Fails unless the toolbox has every one of `tools`; `why` completes the message.
fn require_tools(toolbox: &Path, tools: &[&str], why: &str) -> Result<()> {
    let root = RootDir::open(toolbox)?;
    for tool in tools {
        if root.kind(Path::new(tool))?.is_none() {
            bail!(
                "the toolbox {} has no /{tool}, which {why}",
                toolbox.display()
            );
        }
    }
    Ok(())
}

/// Stages the headers and scriptlets of `packages` under `staging` (inside the root) and
/// returns the shell script that registers them and runs the scriptlets.
fn rpm_install_script(
    root: &RootDir,
    packages: &[Unpacked],
    staging: &Path,
    via: &RpmVia,
) -> Result<String> {
    use crate::packages::rpm::{RpmPackage, ScriptKind};
    let headers = staging.join("headers");
    let scripts = staging.join("scripts");
    root.create_dir_all(&headers)?;
    root.create_dir_all(&scripts)?;
    let staged = Path::new("/").join(staging);
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
        let header = p.rpm_header();
        let package = RpmPackage::open(&header)
            .with_context(|| format!("{}: no rpm header in the store", p.info.name))?;
        crate::names::rpm_package(&package.name)
            .with_context(|| format!("the rpm header of {}", p.info.name))?;
        let mut from =
            fs::File::open(&header).with_context(|| format!("cannot open {}", header.display()))?;
        root.write_from(&headers.join(format!("{i}.rpm")), &mut from, 0o644)?;
        names.insert(package.name.clone(), package.name.clone());
        for cap in package.provides.iter().map(|r| r.name.to_string()) {
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
                .filter_map(|r| provider.get(&*r.name))
                .filter(|d| **d != p.name)
                .cloned()
                .collect();
            (p.name.clone(), deps)
        })
        .collect();
    let order = topological(&names, &depends);

    // The root's database where its rpm looks: the sysimage location of newer
    // distributions when the root has it, else the classic one.
    let dbpath = if root.is_dir(Path::new("usr/lib/sysimage/rpm")) {
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
         --noscripts --notriggers {root_in}{}/headers/*.rpm\n",
        staged.display()
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
                let note = format!(
                    "obsbox: %{tag} of {name} is a lua scriptlet, which only rpm's own \
                     transaction runs: skipped"
                );
                out.push_str(&format!("echo {}\n", shell_quote(&note)));
                continue;
            }
            let mut argv: Vec<String> = s.interpreter.clone();
            if !s.body.is_empty() {
                let file = format!("{name}.{tag}");
                root.write(&scripts.join(&file), s.body.as_bytes(), 0o644)?;
                argv.push(format!("{}/scripts/{file}", staged.display()));
                argv.push("1".to_string());
            }
            let argv: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
            out.push_str(&format!(
                "echo {}\n{chroot}{}\n",
                shell_quote(&format!("obsbox: %{tag} of {name}")),
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

/// A container of the read-only `toolbox` running `args` with `tree` mounted at
/// `/buildroot` (read-write) and a private `/tmp`; adapted for `emulation` when the root is
/// of a foreign arch.
fn toolbox_spec(
    toolbox: &Path,
    tree: &Path,
    args: &[String],
    emulation: Option<&crate::binfmt::Emulation>,
) -> Result<oci_spec::runtime::Spec> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut spec = install_spec(toolbox, true, &args)?;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(
        oci_spec::runtime::MountBuilder::default()
            .destination("/buildroot")
            .typ("bind")
            .source(tree.to_path_buf())
            .options(vec!["rbind".to_string(), "rw".to_string()])
            .build()?,
    );
    mounts.push(crate::bundle::tmpfs("/tmp")?);
    spec.set_mounts(Some(mounts));
    if let Some(emulation) = emulation {
        emulation.adapt_spec(&mut spec)?;
    }
    Ok(spec)
}

/// Writes `/var/lib/dpkg/status` (every package `install ok unpacked`) and the `info/`
/// files; returns the dpkg names (`name` or `name:arch` for Multi-Arch: same) with
/// dependencies before their dependents. Each package's control file must name the package
/// and version the repository gave for it.
fn write_dpkg_database(root: &RootDir, packages: &[Unpacked]) -> Result<Vec<String>> {
    let admin = Path::new("var/lib/dpkg");
    let info = admin.join("info");
    root.create_dir_all(&info)?;
    for f in ["available", "diversions", "statoverride"] {
        root.create_new(&admin.join(f), b"", 0o644)?;
    }
    let mut status = String::new();
    let mut names = BTreeMap::new();
    let mut depends: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in packages {
        let control = fs::read_to_string(p.control_dir().join("control"))
            .with_context(|| format!("{}: no control file in the store", p.info.name))?;
        let what = format!("package {}={}", p.info.name, p.info.version);
        for (field, expected) in [("Package", &p.info.name), ("Version", &p.info.version)] {
            let found = deb::field(&control, field).unwrap_or_default();
            if found != expected.as_str() {
                bail!(
                    "{what}: its control file says {field}: {:?}, its repository {:?}",
                    crate::text::one_line(found),
                    crate::text::one_line(expected)
                );
            }
        }
        crate::names::deb_package(&p.info.name).with_context(|| what.clone())?;
        crate::names::arch(&p.info.arch).with_context(|| what.clone())?;
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
        root.write(&info.join(format!("{dpkg_name}.list")), &list, 0o644)?;
        for member in fs::read_dir(p.control_dir())? {
            let member = member?;
            let name = member.file_name().to_string_lossy().into_owned();
            // dpkg's own control members only: plain lower-case names.
            if name == "control"
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b))
            {
                continue;
            }
            let executable = matches!(
                name.as_str(),
                "preinst" | "postinst" | "prerm" | "postrm" | "config"
            );
            let mut from = fs::File::open(member.path())?;
            let size = from.metadata()?.len();
            if size > MAX_CONTROL_FILE {
                bail!("{what}: its control member {name} is larger than {MAX_CONTROL_FILE} bytes");
            }
            root.write_from(
                &info.join(format!("{dpkg_name}.{name}")),
                &mut from,
                if executable { 0o755 } else { 0o644 },
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
    root.write(&admin.join("status"), status.as_bytes(), 0o644)?;
    Ok(topological(&names, &depends))
}

/// The control paragraph with `Status:` after `Package:` and, for packages with conffiles,
/// a `Conffiles:` field marking them new (dpkg computes their hashes on configure). Fields
/// of the package's own named `Status` or `Conffiles` are dropped.
fn status_paragraph(control: &str, p: &Unpacked) -> Result<String> {
    let mut out = String::new();
    let mut dropping = false;
    for line in control.lines().filter(|l| !l.trim().is_empty()) {
        if !line.starts_with([' ', '\t']) {
            let key = line.split(':').next().unwrap_or_default().trim();
            dropping = key.eq_ignore_ascii_case("Status") || key.eq_ignore_ascii_case("Conffiles");
        }
        if dropping {
            continue;
        }
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
            .filter(|l| l.starts_with('/') && !l.contains(char::is_whitespace))
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
    // Appended to: an install runs several containers (see `run_deb_steps`).
    let mut log_file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let id = format!("obsbox-install-{}", std::process::id());
    let options = runtime::oneshot::RunOptions {
        after_create: emulation.map(crate::binfmt::Emulation::after_create),
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
