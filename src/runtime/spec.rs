//! The default bundle configuration, as `obsbox spec` writes it: runc's defaults (a shell on a
//! terminal, three capabilities, a read-only rootfs, the usual masked and read-only paths).

use anyhow::{Context, Result};
use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDeviceCgroupBuilder,
    LinuxIdMappingBuilder, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxResourcesBuilder, Mount, MountBuilder, PosixRlimitBuilder, PosixRlimitType,
    ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];

const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Result<Mount> {
    let mut builder = MountBuilder::default()
        .destination(destination)
        .typ(typ)
        .source(source);
    if !options.is_empty() {
        builder = builder.options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>());
    }
    Ok(builder.build()?)
}

fn namespace(typ: LinuxNamespaceType) -> Result<LinuxNamespace> {
    Ok(LinuxNamespaceBuilder::default().typ(typ).build()?)
}

/// The default spec; `rootless` maps the calling user to root in a new user namespace and
/// keeps the host network, like `runc spec --rootless`.
pub fn default_spec(rootless: bool) -> Result<Spec> {
    let caps: Vec<Capability> = vec![
        Capability::AuditWrite,
        Capability::Kill,
        Capability::NetBindService,
    ];
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(
            caps.iter()
                .copied()
                .collect::<std::collections::HashSet<_>>(),
        )
        .effective(
            caps.iter()
                .copied()
                .collect::<std::collections::HashSet<_>>(),
        )
        .permitted(
            caps.iter()
                .copied()
                .collect::<std::collections::HashSet<_>>(),
        )
        .ambient(
            caps.iter()
                .copied()
                .collect::<std::collections::HashSet<_>>(),
        )
        .build()?;
    let process = ProcessBuilder::default()
        .terminal(true)
        .user(UserBuilder::default().uid(0u32).gid(0u32).build()?)
        .args(vec!["sh".to_string()])
        .env(vec![
            format!("PATH={}", super::executor::DEFAULT_PATH),
            "TERM=xterm".to_string(),
        ])
        .cwd("/")
        .capabilities(capabilities)
        .rlimits(vec![
            PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitNofile)
                .hard(1024u64)
                .soft(1024u64)
                .build()?,
        ])
        .no_new_privileges(true)
        .build()?;

    let mut mounts = vec![
        mount("/proc", "proc", "proc", &[])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            if rootless {
                &[
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                ]
            } else {
                &[
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                    "gid=5",
                ]
            },
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
    ];
    if rootless {
        mounts.push(mount(
            "/sys",
            "none",
            "/sys",
            &["rbind", "nosuid", "noexec", "nodev", "ro"],
        )?);
    } else {
        mounts.push(mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        )?);
        mounts.push(mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        )?);
    }

    let mut namespaces = vec![
        namespace(LinuxNamespaceType::Pid)?,
        namespace(LinuxNamespaceType::Ipc)?,
        namespace(LinuxNamespaceType::Uts)?,
        namespace(LinuxNamespaceType::Mount)?,
    ];
    let mut linux = LinuxBuilder::default()
        .masked_paths(
            MASKED_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>(),
        )
        .readonly_paths(
            READONLY_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>(),
        );
    if rootless {
        namespaces.push(namespace(LinuxNamespaceType::User)?);
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        linux = linux
            .uid_mappings(vec![
                LinuxIdMappingBuilder::default()
                    .host_id(uid)
                    .container_id(0u32)
                    .size(1u32)
                    .build()?,
            ])
            .gid_mappings(vec![
                LinuxIdMappingBuilder::default()
                    .host_id(gid)
                    .container_id(0u32)
                    .size(1u32)
                    .build()?,
            ]);
    } else {
        namespaces.insert(1, namespace(LinuxNamespaceType::Network)?);
        linux = linux.resources(
            LinuxResourcesBuilder::default()
                .devices(vec![
                    LinuxDeviceCgroupBuilder::default()
                        .allow(false)
                        .access("rwm")
                        .build()?,
                ])
                .build()?,
        );
    }
    let linux = linux.namespaces(namespaces).build()?;

    Ok(SpecBuilder::default()
        .version(oci_spec::runtime::VERSION)
        .process(process)
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(true)
                .build()?,
        )
        .hostname("obsbox")
        .mounts(mounts)
        .linux(linux)
        .build()?)
}

/// The capabilities container engines give a root process by default: what maintainer
/// scripts and obsbox's `prepare` phase need of root (chown, chmod, setuid files, file
/// capabilities, device nodes). runc's spec defaults keep only three.
pub fn root_capabilities() -> Result<oci_spec::runtime::LinuxCapabilities> {
    use oci_spec::runtime::Capability as C;
    let set: oci_spec::runtime::Capabilities = [
        C::Chown,
        C::DacOverride,
        C::Fsetid,
        C::Fowner,
        C::Mknod,
        C::NetRaw,
        C::Setgid,
        C::Setuid,
        C::Setfcap,
        C::Setpcap,
        C::NetBindService,
        C::SysChroot,
        C::Kill,
        C::AuditWrite,
    ]
    .into_iter()
    .collect();
    capabilities_of(set)
}

/// Every capability obsbox itself holds (its permitted set; CAP_SYS_RESOURCE may be
/// missing, and asking for more than that fails): for privileged callbacks.
pub fn held_capabilities() -> Result<oci_spec::runtime::LinuxCapabilities> {
    let held = caps::read(None, caps::CapSet::Permitted).context("cannot read capabilities")?;
    let set: oci_spec::runtime::Capabilities = held
        .iter()
        .filter_map(|c| serde_json::from_value(serde_json::Value::String(c.to_string())).ok())
        .collect();
    capabilities_of(set)
}

/// `set` as the bounding, effective and permitted capabilities of a process.
fn capabilities_of(
    set: oci_spec::runtime::Capabilities,
) -> Result<oci_spec::runtime::LinuxCapabilities> {
    Ok(oci_spec::runtime::LinuxCapabilitiesBuilder::default()
        .bounding(set.clone())
        .effective(set.clone())
        .permitted(set)
        .build()?)
}
