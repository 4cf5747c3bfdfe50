//! The runtime-spec "features" document (`obsbox features`): what this build of obsbox
//! actually recognises, derived from what libcontainer implements.

use std::collections::HashMap;

use anyhow::Result;
use libcontainer::syscall::linux::MountOption;
use oci_spec::runtime::{
    ApparmorBuilder, Arch, CgroupBuilder, Features, FeaturesBuilder, IntelRdtBuilder,
    LinuxFeatureBuilder, LinuxNamespaceType, LinuxSeccompAction, NetDevicesBuilder, SeccompBuilder,
    SelinuxBuilder,
};

/// The hooks obsbox runs, all six of the runtime spec.
pub const HOOKS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Seccomp vocabulary as libcontainer translates it to libseccomp (see its `seccomp` module).
const SECCOMP_ACTIONS: &[LinuxSeccompAction] = &[
    LinuxSeccompAction::ScmpActAllow,
    LinuxSeccompAction::ScmpActErrno,
    LinuxSeccompAction::ScmpActKill,
    LinuxSeccompAction::ScmpActKillProcess,
    LinuxSeccompAction::ScmpActKillThread,
    LinuxSeccompAction::ScmpActLog,
    LinuxSeccompAction::ScmpActNotify,
    LinuxSeccompAction::ScmpActTrace,
    LinuxSeccompAction::ScmpActTrap,
];
const SECCOMP_OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];
const SECCOMP_ARCHS: &[Arch] = &[
    Arch::ScmpArchAarch64,
    Arch::ScmpArchArm,
    Arch::ScmpArchLoongarch64,
    Arch::ScmpArchM68k,
    Arch::ScmpArchMips,
    Arch::ScmpArchMips64,
    Arch::ScmpArchMips64n32,
    Arch::ScmpArchMipsel,
    Arch::ScmpArchMipsel64,
    Arch::ScmpArchMipsel64n32,
    Arch::ScmpArchParisc,
    Arch::ScmpArchParisc64,
    Arch::ScmpArchPpc,
    Arch::ScmpArchPpc64,
    Arch::ScmpArchPpc64le,
    Arch::ScmpArchRiscv64,
    Arch::ScmpArchS390,
    Arch::ScmpArchS390x,
    Arch::ScmpArchSh,
    Arch::ScmpArchSheb,
    Arch::ScmpArchX32,
    Arch::ScmpArchX86,
    Arch::ScmpArchX86_64,
];
const SECCOMP_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub fn features() -> Result<Features> {
    let namespaces = vec![
        LinuxNamespaceType::Cgroup,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::User,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Time,
    ];
    let capabilities: Vec<String> = caps::all()
        .into_iter()
        .map(|c| c.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let seccomp_enabled = SECCOMP;
    let mut seccomp = SeccompBuilder::default().enabled(seccomp_enabled);
    if seccomp_enabled {
        seccomp = seccomp
            .actions(SECCOMP_ACTIONS.to_vec())
            .operators(strings(SECCOMP_OPERATORS))
            .archs(SECCOMP_ARCHS.to_vec())
            .known_flags(strings(SECCOMP_FLAGS))
            .supported_flags(strings(SECCOMP_FLAGS));
    }
    let linux = LinuxFeatureBuilder::default()
        .namespaces(namespaces)
        .capabilities(capabilities)
        .cgroup(
            CgroupBuilder::default()
                .v1(true)
                .v2(true)
                .systemd(true)
                .systemd_user(true)
                .rdma(false)
                .build()?,
        )
        .seccomp(seccomp.build()?)
        .apparmor(ApparmorBuilder::default().enabled(true).build()?)
        .selinux(SelinuxBuilder::default().enabled(false).build()?)
        .intel_rdt(IntelRdtBuilder::default().enabled(true).build()?)
        .net_devices(NetDevicesBuilder::default().enabled(true).build()?)
        .build()?;
    let annotations = HashMap::from([
        (
            "org.openbuildservice.obsbox.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        (
            "org.openbuildservice.obsbox.libcontainer".to_string(),
            "0.7".to_string(),
        ),
        (
            "org.openbuildservice.obsbox.seccomp".to_string(),
            seccomp_enabled.to_string(),
        ),
    ]);
    Ok(FeaturesBuilder::default()
        .oci_version_min("1.0.0")
        .oci_version_max(oci_spec::runtime::VERSION)
        .hooks(strings(HOOKS))
        .mount_options(MountOption::known_options())
        .linux(linux)
        .annotations(annotations)
        .potentially_unsafe_config_annotations(vec!["org.openbuildservice.".to_string()])
        .build()?)
}

/// libcontainer is built with its default features, `libseccomp` among them (Cargo.toml keeps
/// them on); the isolation tests prove a seccomp profile really applies.
const SECCOMP: bool = true;
