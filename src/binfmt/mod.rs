//! binfmt_misc registration of qemu-user from the toolbox, for emulated builds.
//!
//! A foreign-arch buildroot runs through qemu-user: the kernel hands every ELF file of the
//! target arch to the interpreter registered for it. obsbox registers `qemu-ARCH-static`
//! from the job's toolbox (never from the worker's OS) with flags `F` (the interpreter is
//! opened at registration, so the target root needs no qemu of its own) and `P` (argv[0]
//! is passed on as given: busybox and other multi-call programs choose their applet by it).
//!
//! Two places to register, in this order of preference:
//! - **private**: each container that runs target binaries gets a user namespace that maps
//!   the host's ids onto themselves and a binfmt_misc instance of its own, mounted at
//!   `/proc/sys/fs/binfmt_misc` inside it (Linux ≥ 6.7 gives every user namespace that
//!   mounts binfmt_misc its own table). obsbox writes the registration into that instance
//!   after the container's mounts are made and before its process starts. Nothing global
//!   changes, and the table goes away with the container.
//! - **global**: the host's `/proc/sys/fs/binfmt_misc`, under a name unique to the job
//!   (`obsbox-PID-ARCH`, PID being the obsbox that runs the job), removed when the job
//!   ends (success, failure, signal) and by `obsbox gc` when that obsbox died. Entries
//!   obsbox did not create are never touched.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::model::Arch;
use anyhow::{Context, Result, bail};
use oci_spec::runtime::{LinuxIdMappingBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, Spec};

/// Where the host's (global) table is.
pub const GLOBAL_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// Where a private instance is mounted inside a container.
pub const CONTAINER_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// `f_type` of a binfmt_misc file system.
const BINFMTFS_MAGIC: i64 = 0x4249_4e4d;

/// An architecture qemu-user can run, with what identifies its ELF executables.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    /// The Debian architecture name (see [`Arch::deb`]).
    pub deb: &'static str,
    /// qemu's name: `qemu-NAME-static`.
    pub qemu: &'static str,
    /// The GNU triplet (the cross sysroot is `/usr/TRIPLET/sys-root`).
    pub triplet: &'static str,
    /// ELF class: 64-bit (else 32-bit).
    pub elf64: bool,
    pub big_endian: bool,
    /// ELF `e_machine`.
    pub machine: u16,
}

/// The architectures obsbox can emulate (and the x86 ones, which other hosts may emulate).
/// `e_machine` numbers from the ELF specification's processor supplements.
pub const TARGETS: &[Target] = &[
    Target {
        deb: "arm64",
        qemu: "aarch64",
        triplet: "aarch64-linux-gnu",
        elf64: true,
        big_endian: false,
        machine: 183, // EM_AARCH64
    },
    Target {
        deb: "armhf",
        qemu: "arm",
        triplet: "arm-linux-gnueabihf",
        elf64: false,
        big_endian: false,
        machine: 40, // EM_ARM
    },
    Target {
        deb: "ppc64el",
        qemu: "ppc64le",
        triplet: "powerpc64le-linux-gnu",
        elf64: true,
        big_endian: false,
        machine: 21, // EM_PPC64
    },
    Target {
        deb: "s390x",
        qemu: "s390x",
        triplet: "s390x-linux-gnu",
        elf64: true,
        big_endian: true,
        machine: 22, // EM_S390
    },
    Target {
        deb: "riscv64",
        qemu: "riscv64",
        triplet: "riscv64-linux-gnu",
        elf64: true,
        big_endian: false,
        machine: 243, // EM_RISCV
    },
    Target {
        deb: "amd64",
        qemu: "x86_64",
        triplet: "x86_64-linux-gnu",
        elf64: true,
        big_endian: false,
        machine: 62, // EM_X86_64
    },
    Target {
        deb: "i386",
        qemu: "i386",
        triplet: "i686-linux-gnu",
        elf64: false,
        big_endian: false,
        machine: 3, // EM_386
    },
];

impl Target {
    /// The target of `arch` (Debian or RPM name).
    pub fn of(arch: &Arch) -> Result<&'static Target> {
        let deb = arch.deb()?;
        TARGETS.iter().find(|t| t.deb == deb).with_context(|| {
            format!("architecture {arch} cannot be emulated (no qemu-user target for it)")
        })
    }

    /// The first 20 bytes of an executable or shared object of this arch: `e_ident`
    /// (magic, class, byte order, version; OS ABI and padding left to the mask), `e_type`
    /// (ET_EXEC; the mask lets ET_DYN through) and `e_machine`.
    pub fn magic(&self) -> [u8; 20] {
        let mut m = [0u8; 20];
        m[..4].copy_from_slice(b"\x7fELF");
        m[4] = if self.elf64 { 2 } else { 1 }; // EI_CLASS
        m[5] = if self.big_endian { 2 } else { 1 }; // EI_DATA
        m[6] = 1; // EI_VERSION: EV_CURRENT
        let (e_type, machine) = if self.big_endian {
            (2u16.to_be_bytes(), self.machine.to_be_bytes())
        } else {
            (2u16.to_le_bytes(), self.machine.to_le_bytes())
        };
        m[16..18].copy_from_slice(&e_type);
        m[18..20].copy_from_slice(&machine);
        m
    }

    /// Which bits of [`Target::magic`] must match: all of `e_ident`'s first seven bytes,
    /// none of the OS ABI, ABI version and padding, `e_type` but for its lowest bit
    /// (ET_EXEC = 2 and ET_DYN = 3 both match; ET_REL and ET_CORE do not), all of
    /// `e_machine`.
    pub fn mask(&self) -> [u8; 20] {
        let mut m = [0u8; 20];
        m[..7].fill(0xff);
        if self.big_endian {
            m[16] = 0xff;
            m[17] = 0xfe;
        } else {
            m[16] = 0xfe;
            m[17] = 0xff;
        }
        m[18] = 0xff;
        m[19] = 0xff;
        m
    }

    /// Where qemu for this arch is in a root (Debian's qemu-user-static).
    pub fn interpreter_in(&self, root: &Path) -> PathBuf {
        root.join(format!("usr/bin/qemu-{}-static", self.qemu))
    }
}

/// Whether a `host` machine needs emulation to run `target` binaries: not for the same
/// arch, nor for i386 on amd64 (the CPU runs 32-bit x86 code itself).
pub fn needs_emulation(host: &Arch, target: &Arch) -> Result<bool> {
    let host = host.deb()?;
    let target = target.deb()?;
    Ok(host != target && !(host == "amd64" && target == "i386"))
}

/// Where registrations go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A binfmt_misc instance of each emulated container's own user namespace.
    Private,
    /// The host's table, under names unique to the job.
    Global,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Private => "private",
            Mode::Global => "global",
        }
    }

    /// `private`, `global`, or `auto` (private where the kernel allows it).
    pub fn choose(setting: &str) -> Result<Mode> {
        match setting {
            "private" => Ok(Mode::Private),
            "global" => Ok(Mode::Global),
            "auto" => Ok(if private_supported() {
                Mode::Private
            } else {
                Mode::Global
            }),
            other => bail!("binfmt={other}: expected auto, private or global"),
        }
    }
}

/// How a job's target binaries run: which qemu, registered where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emulation {
    pub target: &'static Target,
    /// qemu on the host (in the job's toolbox).
    pub interpreter: PathBuf,
    pub mode: Mode,
    /// The obsbox process that runs the job (it owns the job's global entry).
    pub owner: u32,
}

impl Emulation {
    /// The emulation of `arch` with qemu from `toolbox`; fails with a clear message when the
    /// toolbox has no qemu for it.
    pub fn from_toolbox(arch: &Arch, toolbox: &Path, mode: Mode) -> Result<Emulation> {
        let target = Target::of(arch)?;
        let interpreter = target.interpreter_in(toolbox);
        let meta = fs::metadata(&interpreter);
        if !meta
            .as_ref()
            .is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
        {
            bail!(
                "the toolbox has no qemu for {arch}: usr/bin/qemu-{}-static is missing \
                 (add qemu-user-static to the toolbox packages, e.g. the cross-build \
                 callback's `packages`)",
                target.qemu
            );
        }
        Ok(Emulation {
            target,
            interpreter,
            mode,
            owner: std::process::id(),
        })
    }

    /// The entry's name: `qemu-ARCH` in a private table, `obsbox-PID-ARCH` in the global
    /// one (PID: the obsbox that runs the job, which removes it).
    pub fn entry_name(&self) -> String {
        match self.mode {
            Mode::Private => format!("qemu-{}", self.target.qemu),
            Mode::Global => format!("{}{}", global_prefix(self.owner), self.target.qemu),
        }
    }

    /// The line written to `register`.
    pub fn register_line(&self) -> Result<String> {
        register_line(&self.entry_name(), self.target, &self.interpreter)
    }

    /// Prepares the spec of a container that runs target binaries: in private mode a user
    /// namespace mapping every host id onto itself (files keep their owners, and dpkg may
    /// chown to any id) and a binfmt_misc instance at `/proc/sys/fs/binfmt_misc`. The
    /// global mode needs nothing.
    pub fn adapt_spec(&self, spec: &mut Spec) -> Result<()> {
        if self.mode == Mode::Global {
            return Ok(());
        }
        let mut linux = spec.linux().clone().unwrap_or_default();
        let mut namespaces = linux.namespaces().clone().unwrap_or_default();
        if !namespaces
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::User)
        {
            namespaces.push(
                LinuxNamespaceBuilder::default()
                    .typ(LinuxNamespaceType::User)
                    .build()?,
            );
        }
        linux.set_namespaces(Some(namespaces));
        let identity = LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(0u32)
            .size(u32::MAX)
            .build()?;
        linux.set_uid_mappings(Some(vec![identity]));
        linux.set_gid_mappings(Some(vec![identity]));
        spec.set_linux(Some(linux));
        let mut mounts = spec.mounts().clone().unwrap_or_default();
        mounts.retain(|m| m.destination() != Path::new(CONTAINER_DIR));
        mounts.push(
            oci_spec::runtime::MountBuilder::default()
                .destination(CONTAINER_DIR)
                .typ("binfmt_misc")
                .source("binfmt_misc")
                .options(vec![
                    "nosuid".to_string(),
                    "nodev".to_string(),
                    "noexec".to_string(),
                ])
                .build()?,
        );
        spec.set_mounts(Some(mounts));
        Ok(())
    }

    /// Registering this emulation for a container once it is created, as a one-shot run's
    /// after-create step.
    pub fn after_create(&self) -> crate::runtime::oneshot::AfterCreate {
        let emulation = self.clone();
        std::sync::Arc::new(move |pid| emulation.register_for(pid, None))
    }

    /// Registers qemu for the container whose init process is `pid` (created, not yet
    /// started). Private: into the container's own instance; `rootfs` is its root on the
    /// host, needed while the container has not switched to it yet (createRuntime hooks).
    /// Global: checks that the job's entry is in place.
    pub fn register_for(&self, pid: i32, rootfs: Option<&Path>) -> Result<()> {
        match self.mode {
            Mode::Private => register_in_container(pid, rootfs, self),
            Mode::Global => {
                let path = Path::new(GLOBAL_DIR).join(self.entry_name());
                let state = fs::read_to_string(&path).unwrap_or_default();
                if state.lines().next() != Some("enabled") {
                    bail!(
                        "the job's binfmt_misc entry {} is not registered",
                        path.display()
                    );
                }
                Ok(())
            }
        }
    }
}

/// `:NAME:M::MAGIC:MASK:INTERPRETER:FP`, magic and mask written as `\xNN` escapes, which
/// binfmt_misc decodes itself.
pub fn register_line(name: &str, target: &Target, interpreter: &Path) -> Result<String> {
    let interpreter = interpreter
        .to_str()
        .with_context(|| format!("{}: not UTF-8", interpreter.display()))?;
    if interpreter.contains([':', '\n']) || !interpreter.starts_with('/') {
        bail!("{interpreter}: binfmt_misc takes an absolute path without ':' or newlines");
    }
    if name.contains(['/', ':', '\n']) || name.is_empty() || name == "register" || name == "status"
    {
        bail!("{name:?}: not a binfmt_misc entry name");
    }
    let hex = |bytes: &[u8]| {
        bytes
            .iter()
            .map(|b| format!("\\x{b:02x}"))
            .collect::<String>()
    };
    Ok(format!(
        ":{name}:M::{}:{}:{interpreter}:FP",
        hex(&target.magic()),
        hex(&target.mask())
    ))
}

/// The prefix of the global entries of the obsbox process `pid`.
pub fn global_prefix(pid: u32) -> String {
    format!("obsbox-{pid}-")
}

/// The pid of the obsbox that owns a global entry named `obsbox-PID-…`.
pub fn global_owner(name: &str) -> Option<i32> {
    let rest = name.strip_prefix("obsbox-")?;
    let (pid, arch) = rest.split_once('-')?;
    if arch.is_empty() {
        return None;
    }
    pid.parse().ok()
}

fn stat_dev(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

fn is_binfmt_misc(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type().0 == BINFMTFS_MAGIC)
}

/// Writes the registration into the private instance of the container `pid`, after
/// checking that it is one: a binfmt_misc mount seen through the container's root, in a
/// user namespace other than ours, and not the host's table.
fn register_in_container(pid: i32, rootfs: Option<&Path>, emulation: &Emulation) -> Result<()> {
    let their_root = PathBuf::from(format!("/proc/{pid}/root"));
    let switched = stat_dev(&their_root) != stat_dev(Path::new("/"));
    let inside = CONTAINER_DIR.trim_start_matches('/');
    let dir = match (switched, rootfs) {
        (true, _) => their_root.join(inside),
        (false, Some(rootfs)) => their_root
            .join(rootfs.strip_prefix("/").unwrap_or(rootfs))
            .join(inside),
        (false, None) => bail!("container {pid} has not switched to its root yet"),
    };
    let ours = fs::read_link("/proc/self/ns/user").context("cannot read our user namespace")?;
    let theirs = fs::read_link(format!("/proc/{pid}/ns/user"))
        .with_context(|| format!("container {pid}: cannot read its user namespace"))?;
    if ours == theirs {
        bail!("container {pid} has no user namespace of its own: no private binfmt_misc");
    }
    if !is_binfmt_misc(&dir) {
        bail!(
            "container {pid}: no binfmt_misc instance at {CONTAINER_DIR} (kernel older than 6.7?)"
        );
    }
    let host = Path::new(GLOBAL_DIR);
    if is_binfmt_misc(host) && fs::metadata(host)?.dev() == fs::metadata(&dir)?.dev() {
        bail!("container {pid}: its binfmt_misc is the host's table, not a private one");
    }
    let line = emulation.register_line()?;
    fs::write(dir.join("register"), &line).with_context(|| {
        format!(
            "container {pid}: cannot register {} in its binfmt_misc",
            emulation.interpreter.display()
        )
    })?;
    let entry = dir.join(emulation.entry_name());
    let state = fs::read_to_string(&entry).unwrap_or_default();
    if state.lines().next() != Some("enabled") {
        bail!(
            "container {pid}: {} is not enabled after registering",
            entry.display()
        );
    }
    tracing::debug!(pid, entry = %emulation.entry_name(), "qemu registered in the container's binfmt_misc");
    Ok(())
}

/// An entry of the host's table that this obsbox registered; removed when dropped.
#[derive(Debug)]
pub struct GlobalEntry {
    path: PathBuf,
}

impl GlobalEntry {
    /// Registers `emulation` (global mode) in the host's table, mounting binfmt_misc at
    /// `/proc/sys/fs/binfmt_misc` first if nothing is mounted there (as systemd would; the
    /// mount is left for other users of the table).
    pub fn register(emulation: &Emulation) -> Result<GlobalEntry> {
        let dir = Path::new(GLOBAL_DIR);
        if !is_binfmt_misc(dir) {
            nix::mount::mount(
                Some("binfmt_misc"),
                dir,
                Some("binfmt_misc"),
                nix::mount::MsFlags::MS_NOSUID
                    | nix::mount::MsFlags::MS_NODEV
                    | nix::mount::MsFlags::MS_NOEXEC,
                None::<&str>,
            )
            .with_context(|| format!("cannot mount binfmt_misc at {GLOBAL_DIR}"))?;
        }
        let path = dir.join(emulation.entry_name());
        // A stale entry of the same name belongs to a dead obsbox that had our pid.
        if path.exists() {
            let _ = fs::write(&path, "-1");
        }
        fs::write(dir.join("register"), emulation.register_line()?).with_context(|| {
            format!(
                "cannot register {} in {GLOBAL_DIR}",
                emulation.interpreter.display()
            )
        })?;
        tracing::info!(entry = %path.display(), "qemu registered in the host's binfmt_misc");
        Ok(GlobalEntry { path })
    }

    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

impl Drop for GlobalEntry {
    fn drop(&mut self) {
        if self.path.exists() {
            if let Err(err) = fs::write(&self.path, "-1") {
                tracing::warn!("cannot remove {}: {err}", self.path.display());
            } else {
                tracing::info!(entry = %self.path.display(), "binfmt_misc entry removed");
            }
        }
    }
}

/// Removes the global entries (`obsbox-PID-…`) whose obsbox is gone; returns their names.
pub fn remove_stale_global() -> Vec<String> {
    let dir = Path::new(GLOBAL_DIR);
    if !is_binfmt_misc(dir) {
        return Vec::new();
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = global_owner(&name) else {
            continue;
        };
        if crate::proc::alive(pid) {
            continue;
        }
        if fs::write(entry.path(), "-1").is_ok() {
            removed.push(name);
        }
    }
    removed.sort();
    removed
}

/// Whether this kernel gives a user namespace a binfmt_misc instance of its own (Linux ≥
/// 6.7, user namespaces allowed): tried once in a child process.
pub fn private_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| match probe_private() {
        Ok(yes) => yes,
        Err(err) => {
            tracing::debug!("binfmt_misc probe: {err:#}");
            false
        }
    })
}

/// A child unshares a user and a mount namespace, we map every id onto itself, and it
/// mounts binfmt_misc on a scratch directory: success means a private instance works.
fn probe_private() -> Result<bool> {
    use std::ffi::CString;
    use std::os::fd::{AsFd, AsRawFd};
    let dir = std::env::temp_dir().join(format!(".obsbox-binfmt-probe-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let c_dir = CString::new(dir.as_os_str().as_encoded_bytes())?;
    let c_register = CString::new(dir.join("register").as_os_str().as_encoded_bytes())?;
    let c_type = CString::new("binfmt_misc")?;
    let (ready_r, ready_w) = nix::unistd::pipe()?;
    let (go_r, go_w) = nix::unistd::pipe()?;
    let child = crate::sys::process::fork_mount_probe(
        ready_w.as_fd(),
        go_r.as_fd(),
        &c_type,
        &c_dir,
        &c_register,
    )?;
    drop(ready_w);
    drop(go_r);
    let mut byte = [0u8];
    let unshared =
        nix::unistd::read(ready_r.as_raw_fd(), &mut byte).unwrap_or(0) == 1 && byte[0] == 1;
    let mapped = unshared
        && ["uid_map", "gid_map"].iter().all(|map| {
            fs::write(format!("/proc/{child}/{map}"), format!("0 0 {}", u32::MAX)).is_ok()
        });
    let _ = nix::unistd::write(&go_w, &[mapped as u8]);
    drop(go_w);
    let status = nix::sys::wait::waitpid(child, None);
    let _ = fs::remove_dir(&dir);
    Ok(mapped && matches!(status, Ok(nix::sys::wait::WaitStatus::Exited(_, 0))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(name: &str) -> Arch {
        name.parse().unwrap()
    }

    #[test]
    fn aarch64_magic_and_mask_match_elf_headers() {
        let t = Target::of(&a("aarch64")).unwrap();
        assert_eq!(t.qemu, "aarch64");
        // The first 20 bytes of a real arm64 PIE (ET_DYN) and of a static executable.
        let pie = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00\xb7\x00";
        let exec = b"\x7fELF\x02\x01\x01\x03\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00";
        let x86 = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00\x3e\x00";
        let object = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\xb7\x00";
        let matches = |h: &[u8; 20]| {
            h.iter()
                .zip(t.mask())
                .zip(t.magic())
                .all(|((b, m), g)| b & m == g & m)
        };
        assert!(matches(pie) && matches(exec));
        assert!(!matches(x86) && !matches(object));
    }

    #[test]
    fn big_endian_and_32_bit_targets() {
        let s390x = Target::of(&a("s390x")).unwrap();
        assert_eq!(&s390x.magic()[4..7], &[2, 2, 1]);
        assert_eq!(&s390x.magic()[16..], &[0, 2, 0, 22]);
        assert_eq!(&s390x.mask()[16..], &[0xff, 0xfe, 0xff, 0xff]);
        let arm = Target::of(&a("armhf")).unwrap();
        assert_eq!((arm.qemu, arm.magic()[4], arm.magic()[18]), ("arm", 1, 40));
        assert_eq!(Target::of(&a("ppc64le")).unwrap().qemu, "ppc64le");
        assert_eq!(
            Target::of(&a("riscv64")).unwrap().triplet,
            "riscv64-linux-gnu"
        );
        assert!(Target::of(&a("vax")).is_err());
    }

    #[test]
    fn register_line_escapes_every_byte() {
        let t = Target::of(&a("arm64")).unwrap();
        let line = register_line(
            "qemu-aarch64",
            t,
            Path::new("/t/usr/bin/qemu-aarch64-static"),
        )
        .unwrap();
        assert_eq!(
            line,
            ":qemu-aarch64:M::\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\
             \\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\xfe\\xff\\xff\\xff:/t/usr/bin/qemu-aarch64-static:FP"
        );
        assert!(register_line("x", t, Path::new("/a:b")).is_err());
        assert!(register_line("register", t, Path::new("/q")).is_err());
    }

    #[test]
    fn emulation_needed_only_for_foreign_code() {
        assert!(!needs_emulation(&a("x86_64"), &a("amd64")).unwrap());
        assert!(!needs_emulation(&a("amd64"), &a("i586")).unwrap());
        assert!(needs_emulation(&a("amd64"), &a("aarch64")).unwrap());
        assert!(needs_emulation(&a("arm64"), &a("amd64")).unwrap());
    }

    #[test]
    fn global_owners() {
        assert_eq!(global_owner("obsbox-4242-aarch64"), Some(4242));
        assert_eq!(global_owner("obsbox-4242-"), None);
        assert_eq!(global_owner("qemu-aarch64"), None);
        assert_eq!(global_owner("obsbox-x-arm"), None);
        assert_eq!(global_prefix(7), "obsbox-7-");
    }
}
