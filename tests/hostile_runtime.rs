//! What a hostile root process inside an obsbox container can do to the host's cgroups:
//! nothing. Driven through the `obsbox` binary with real containers (needs root
//! and a cgroup v1 host, as the workers have).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::json;

fn uid(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

/// Every directory below the host's cgroup hierarchies, a few levels deep.
fn host_cgroup_dirs() -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, depth: usize, found: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                found.insert(entry.path());
                if depth > 0 {
                    walk(&entry.path(), depth - 1, found);
                }
            }
        }
    }
    let mut found = BTreeSet::new();
    walk(Path::new("/sys/fs/cgroup"), 5, &mut found);
    found
}

/// The value after `key=` on the line that starts with it.
fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in:\n{out}"))
}

/// A root container with `obsbox spec`'s capabilities and a 64 MiB memory limit tries to
/// get out of its cgroups: create cgroups, join the hierarchies' roots, raise its limit,
/// find other cgroups. Each attempt fails and the host has no new cgroup afterwards.
#[test]
fn a_root_container_cannot_touch_host_cgroups() {
    let id = uid("hostile-cgroups");
    let token = format!("evil{}", std::process::id());
    let script = format!(
        "mkdir /sys/fs/cgroup/memory/{token} 2>&1; echo mkdir_memory=$?
ok=0; for h in /sys/fs/cgroup/*/; do mkdir ${{h}}{token} 2>/dev/null && ok=$((ok+1)); done; echo mkdir_any=$ok
mkdir /sys/fs/cgroup/{token} 2>/dev/null; echo mkdir_tmpfs=$?
ok=0; for h in /sys/fs/cgroup/*/; do echo $$ > ${{h}}cgroup.procs 2>/dev/null && ok=$((ok+1)); done; echo join_root=$ok
echo 1073741824 > /sys/fs/cgroup/memory/memory.limit_in_bytes 2>&1; echo raise=$?
echo limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
echo dirs=$(find /sys/fs/cgroup -mindepth 2 -type d | wc -l)
echo memory_entries=$(ls /sys/fs/cgroup/memory | grep -vc '^\\(cgroup\\|memory\\|notify_on_release\\|tasks\\)')
grep ' /sys/fs/cgroup' /proc/self/mountinfo | sed 's/^/mount /'
sed 's/^/cgroup /' /proc/self/cgroup
"
    );
    let bundle = Bundle::new(&["sh", "-c", &script]);
    bundle.edit(|c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 64 * 1024 * 1024});
    });
    // The bundle is what `obsbox spec` writes: root, three capabilities, a read-only
    // cgroup mount.
    let config = bundle.config();
    assert_eq!(config["process"]["user"]["uid"], 0);
    assert!(
        config["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["type"] == "cgroup")
    );

    let before = host_cgroup_dirs();
    let rt = Runtime::new();
    let out = rt.output(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    let text = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert!(out.status.success(), "{text}");

    assert!(text.contains("Read-only file system"), "{text}");
    assert_ne!(value(&text, "mkdir_memory"), "0", "{text}");
    assert_eq!(value(&text, "mkdir_any"), "0", "{text}");
    assert_ne!(value(&text, "mkdir_tmpfs"), "0", "{text}");
    assert_eq!(value(&text, "join_root"), "0", "{text}");
    assert_ne!(value(&text, "raise"), "0", "{text}");
    assert_eq!(
        value(&text, "limit"),
        (64 * 1024 * 1024).to_string(),
        "{text}"
    );
    // Only the container's own cgroups, no directory below them (no sibling, no parent).
    assert_eq!(value(&text, "dirs"), "0", "{text}");
    assert_eq!(value(&text, "memory_entries"), "0", "{text}");

    // Every hierarchy shows the container's cgroup, read-only, nosuid, nodev, noexec; the
    // tmpfs holding them is read-only too. mountinfo: ID PARENT DEV ROOT POINT OPTIONS …
    let own = format!("/obsbox/containers/{id}");
    let mounts: Vec<Vec<&str>> = text
        .lines()
        .filter_map(|l| l.strip_prefix("mount "))
        .map(|l| l.split(' ').collect())
        .collect();
    let hierarchies: Vec<&Vec<&str>> = mounts.iter().filter(|f| f[4] != "/sys/fs/cgroup").collect();
    assert!(
        hierarchies.iter().any(|f| f[4] == "/sys/fs/cgroup/memory"),
        "{text}"
    );
    assert!(
        hierarchies.iter().any(|f| f[4] == "/sys/fs/cgroup/systemd"),
        "{text}"
    );
    for fields in &mounts {
        let options: Vec<&str> = fields[5].split(',').collect();
        for flag in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(options.contains(&flag), "{flag} missing: {fields:?}");
        }
    }
    for fields in hierarchies {
        assert_eq!(
            fields[3], own,
            "{fields:?} shows another cgroup than its own"
        );
    }
    // The process is still in its own cgroups, name=systemd included.
    for line in text.lines().filter_map(|l| l.strip_prefix("cgroup ")) {
        let (_, rest) = line.split_once(':').unwrap();
        let (controllers, path) = rest.split_once(':').unwrap();
        if controllers.is_empty() {
            continue; // the unified hierarchy is not libcontainer's on a hybrid host
        }
        assert_eq!(path, own, "{line}");
    }

    // Nothing new on the host: no cgroup of the container's making, its own cgroups gone.
    // (Other containers may come and go meanwhile: only ours are looked at.)
    let after = host_cgroup_dirs();
    let new: Vec<&PathBuf> = after
        .difference(&before)
        .filter(|p| p.to_string_lossy().contains(&token) || p.to_string_lossy().contains(&id))
        .collect();
    assert!(new.is_empty(), "new host cgroups: {new:?}");
    let planted: Vec<&PathBuf> = after
        .iter()
        .filter(|p| p.to_string_lossy().contains(&token))
        .collect();
    assert!(
        planted.is_empty(),
        "cgroups made by the container: {planted:?}"
    );
    assert!(cgroup_dirs_of(&id).is_empty(), "{:?}", cgroup_dirs_of(&id));
}

/// A spec that says `rw` for its cgroup mount gets it writable, still only its own cgroup.
#[test]
fn an_explicitly_writable_cgroup_mount_is_still_the_containers_own() {
    let id = uid("rw-cgroups");
    let bundle = Bundle::new(&[
        "sh",
        "-c",
        "grep ' /sys/fs/cgroup/memory ' /proc/self/mountinfo",
    ]);
    bundle.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["type"] == "cgroup" {
                m["options"] = json!(["nosuid", "noexec", "nodev", "rw"]);
            }
        }
    });
    let rt = Runtime::new();
    let out = rt.output(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    let text = stdout_of(&out);
    assert!(out.status.success(), "{text}{}", stderr_of(&out));
    let fields: Vec<&str> = text.split(' ').collect();
    assert_eq!(fields[3], format!("/obsbox/containers/{id}"), "{text}");
    let options: Vec<&str> = fields[5].split(',').collect();
    assert!(options.contains(&"rw"), "{text}");
    for flag in ["nosuid", "nodev", "noexec"] {
        assert!(options.contains(&flag), "{flag} missing: {text}");
    }
}

/// A spec without `linux.cgroupsPath` puts the container in `/obsbox/containers/<id>` of
/// every hierarchy (libcontainer's default is `:youki:<id>` at their roots), and so does a
/// process exec'd into it; its state still names the caller's bundle, which is left as it
/// was, and deleting the container removes those cgroups.
#[test]
fn the_default_cgroup_path_is_obsbox_named() {
    let id = uid("default-cgroup");
    let bundle = Bundle::new(&["sleep", "60"]);
    assert!(bundle.config()["linux"].get("cgroupsPath").is_none());
    let rt = Runtime::new();
    rt.run_detached(&id, &bundle);
    let state = rt.state(&id);
    assert_eq!(
        state["bundle"].as_str().unwrap(),
        bundle.path().canonicalize().unwrap().to_str().unwrap()
    );
    let pid = state["pid"].as_i64().unwrap();
    let own = format!("/obsbox/containers/{id}");
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for name in ["memory", "pids", "name=systemd"] {
        let line = cgroups
            .lines()
            .find(|l| l.split(':').nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no {name} in {cgroups}"));
        assert_eq!(line.rsplit(':').next(), Some(own.as_str()), "{cgroups}");
    }
    assert!(Path::new("/sys/fs/cgroup/memory").join(&own[1..]).is_dir());
    // A process exec'd later joins the same cgroups (libcontainer reads the bundle again);
    // name=systemd is not libcontainer's: it leaves an exec'd process in its caller's.
    let exec = rt.ok(&["exec", &id, "cat", "/proc/self/cgroup"]);
    let controllers = exec
        .lines()
        .filter(|l| !l.starts_with("0::") && !l.contains(":name=systemd:"));
    for line in controllers {
        assert_eq!(line.rsplit(':').next(), Some(own.as_str()), "{exec}");
    }
    assert!(!cgroup_dirs_of(&format!(":youki:{id}")).iter().any(|_| true));
    // Nothing but the container's state is left in the state directory.
    let entries: Vec<String> = fs::read_dir(rt.root.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, std::slice::from_ref(&id));

    assert!(bundle.config()["linux"].get("cgroupsPath").is_none());

    rt.ok(&["delete", "--force", &id]);
    assert!(cgroup_dirs_of(&id).is_empty(), "{:?}", cgroup_dirs_of(&id));
}
