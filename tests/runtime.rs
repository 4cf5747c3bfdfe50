//! The OCI runtime, driven through the `obsbox` binary with real containers (needs root).

mod common;

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

fn uid(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

#[test]
fn lifecycle_create_start_state_kill_delete() {
    let rt = Runtime::new();
    // pid 1 of a pid namespace ignores signals it has no handler for.
    let bundle = Bundle::new(&["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"]);
    let id = uid("lifecycle");
    let pid_file = bundle.path().join("init.pid");
    rt.ok(&[
        "create",
        "--bundle",
        bundle.path().to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);

    let state = rt.state(&id);
    assert_eq!(state["status"], "created");
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["bundle"], bundle.path().to_str().unwrap());
    let pid = state["pid"].as_i64().unwrap() as i32;
    assert!(pid > 0);
    assert_eq!(
        fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
    assert!(process_alive(pid));
    assert!(!cgroup_dirs_of(&id).is_empty(), "no cgroup was created");

    rt.ok(&["start", &id]);
    assert_eq!(rt.status(&id), "running");
    // The container's process is sleep, with its own pid namespace.
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(cmdline.starts_with(b"sh\x00-c\x00trap"), "{cmdline:?}");

    let listed = rt.ok(&["list", "--format", "json"]);
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(rt.ok(&["list", "-q"]).trim(), id);

    // Once sleep runs, the shell has its TERM trap in place.
    let deadline = Instant::now() + Duration::from_secs(10);
    while serde_json::from_str::<Vec<i32>>(&rt.ok(&["ps", "--format", "json", &id]))
        .unwrap()
        .len()
        < 2
    {
        assert!(Instant::now() < deadline, "sleep never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    rt.ok(&["kill", &id, "TERM"]);
    rt.wait_status(&id, "stopped");
    assert_eq!(rt.state(&id)["pid"], 0);

    rt.ok(&["delete", &id]);
    assert!(!rt.state_dir(&id).exists(), "state dir left after delete");
    assert_eq!(
        cgroup_dirs_of(&id),
        Vec::<std::path::PathBuf>::new(),
        "cgroup left"
    );
    assert!(
        mounts_mentioning(bundle.path().to_str().unwrap()).is_empty(),
        "mount left"
    );
    assert!(!process_alive(pid));
    let out = rt.output(&["state", &id]);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("does not exist"));
}

#[test]
fn kill_accepts_names_and_numbers_and_all() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sh", "-c", "sleep 300 & sleep 300"]);
    for (n, signal) in ["KILL", "SIGKILL", "9"].iter().enumerate() {
        let id = uid(&format!("kill{n}"));
        rt.create(&id, &bundle);
        rt.ok(&["start", &id]);
        rt.ok(&["kill", "--all", &id, signal]);
        rt.wait_status(&id, "stopped");
        rt.ok(&["delete", &id]);
    }
    let id = uid("killbad");
    rt.create(&id, &bundle);
    let out = rt.output(&["kill", &id, "NOSUCHSIGNAL"]);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("unknown signal"));
}

#[test]
fn run_returns_the_exit_code_and_cleans_up() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sh", "-c", "echo out-$(hostname); exit 7"]);
    let id = uid("run");
    let out = rt
        .command(&["run", "--bundle", bundle.path().to_str().unwrap(), &id])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(stdout_of(&out), "out-obsbox\n");
    assert!(!rt.state_dir(&id).exists());
    assert!(cgroup_dirs_of(&id).is_empty());
}

#[test]
fn delete_kills_what_a_stopped_container_left_in_its_cgroups() {
    let rt = Runtime::new();
    // Without a pid namespace the init's death takes nobody with it: the background sleep
    // outlives it, still in the container's cgroups (its pid is the host's).
    let out = tempfile::tempdir().unwrap();
    let bundle = Bundle::new(&["sh", "-c", "sleep 300 & echo $! > /out/left.pid"]);
    bundle.edit(|c| {
        let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.retain(|ns| ns["type"] != "pid");
    });
    bundle.mount(json!({"destination": "/out", "type": "bind", "source": out.path(), "options": ["rbind", "rw"]}));
    let id = uid("leftover");
    rt.create(&id, &bundle);
    rt.ok(&["start", &id]);
    rt.wait_status(&id, "stopped");
    let left: i32 = fs::read_to_string(out.path().join("left.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        process_alive(left),
        "the background process did not outlive the init"
    );
    assert!(!cgroup_dirs_of(&id).is_empty());

    rt.ok(&["delete", &id]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while process_alive(left) {
        assert!(Instant::now() < deadline, "process {left} survived delete");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(cgroup_dirs_of(&id), Vec::<std::path::PathBuf>::new());
    assert!(!rt.state_dir(&id).exists());
}

#[test]
fn run_detached_then_exec_and_ps() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    let id = uid("exec");
    rt.run_detached(&id, &bundle);
    assert_eq!(rt.status(&id), "running");

    // Args form: environment of the container plus --env, exit code passed through.
    let out = rt.output(&[
        "exec",
        "--env",
        "EXTRA=1",
        &id,
        "sh",
        "-c",
        "echo $PATH $EXTRA; exit 5",
    ]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        stdout_of(&out).trim(),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin 1"
    );

    // --process form, detached, with a pid file.
    let process = bundle.path().join("process.json");
    let mut p = bundle.config()["process"].clone();
    p["args"] = json!(["sleep", "200"]);
    fs::write(&process, serde_json::to_vec(&p).unwrap()).unwrap();
    let pid_file = bundle.path().join("exec.pid");
    rt.ok(&[
        "exec",
        "--process",
        process.to_str().unwrap(),
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    let exec_pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(process_alive(exec_pid));

    let pids: Vec<i32> = serde_json::from_str(&rt.ok(&["ps", "--format", "json", &id])).unwrap();
    let init = rt.state(&id)["pid"].as_i64().unwrap() as i32;
    assert!(pids.contains(&init) && pids.contains(&exec_pid), "{pids:?}");
    let table = rt.ok(&["ps", &id]);
    assert!(table.lines().next().unwrap().contains("PID"));
    assert_eq!(table.lines().count(), 3, "{table}");

    rt.ok(&["pause", &id]);
    assert_eq!(rt.status(&id), "paused");
    rt.ok(&["resume", &id]);
    assert_eq!(rt.status(&id), "running");

    rt.ok(&["delete", "--force", &id]);
    assert!(!process_alive(exec_pid));
    assert!(!rt.state_dir(&id).exists());
    assert!(cgroup_dirs_of(&id).is_empty());
}

#[test]
fn exec_of_a_missing_program_fails_with_255() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    let id = uid("execmissing");
    rt.run_detached(&id, &bundle);
    let out = rt.output(&["exec", &id, "no-such-program"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr_of(&out).contains("no-such-program"),
        "{}",
        stderr_of(&out)
    );
}

/// A hook script that appends its name to `order` and saves its stdin, argv0 and env.
fn recording_hook(dir: &Path, name: &str) -> Value {
    let d = dir.display();
    // startContainer runs inside the container, whose /bin/sh is busybox: it needs argv0 sh.
    let argv0 = if name == "startContainer" {
        "sh"
    } else {
        "hook-argv0"
    };
    json!({
        "path": "/bin/sh",
        "args": [argv0, "-c",
            format!("cat > {d}/{name}.json; echo \"$0 $HOOK_VAR\" > {d}/{name}.env; echo {name} >> {d}/order")],
        "env": [format!("HOOK_VAR=var-{name}"), "PATH=/usr/bin:/bin".to_string()],
        "timeout": 10
    })
}

#[test]
fn all_six_hooks_run_in_order_with_state_env_and_args() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["true"]);
    let logs = tempfile::tempdir().unwrap();
    let dir = logs.path();
    // The log dir appears at the same path inside the container, so hooks that run in the
    // container's namespaces (createContainer, startContainer) write to the same place.
    bundle.mount(
        json!({"destination": dir, "type": "bind", "source": dir, "options": ["rbind", "rw"]}),
    );
    let names = [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ];
    bundle.edit(|c| {
        c["annotations"] = json!({"org.example.hooks": "yes"});
        let mut hooks = serde_json::Map::new();
        for name in names {
            hooks.insert(name.into(), json!([recording_hook(dir, name)]));
        }
        c["hooks"] = Value::Object(hooks);
    });
    let id = uid("hooks");
    rt.create(&id, &bundle);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let order = || fs::read_to_string(dir.join("order")).unwrap_or_default();
    assert_eq!(order(), "prestart\ncreateRuntime\ncreateContainer\n");
    rt.ok(&["start", &id]);
    rt.wait_status(&id, "stopped");
    rt.ok(&["delete", &id]);
    assert_eq!(order(), names.map(|n| format!("{n}\n")).concat());

    for name in names {
        let state: Value =
            serde_json::from_slice(&fs::read(dir.join(format!("{name}.json"))).unwrap())
                .unwrap_or_else(|e| panic!("{name}: bad state on stdin: {e}"));
        assert_eq!(state["id"], id.as_str(), "{name}");
        assert_eq!(state["bundle"], bundle.path().to_str().unwrap(), "{name}");
        assert_eq!(state["annotations"]["org.example.hooks"], "yes", "{name}");
        assert!(state["ociVersion"].is_string(), "{name}");
        // createContainer and startContainer run inside the container's namespaces from a
        // snapshot libcontainer 0.7 takes before the pid is known: no pid, status "creating".
        let in_container = matches!(name, "createContainer" | "startContainer");
        let want = match name {
            "prestart" | "createRuntime" | "createContainer" | "startContainer" => "creating",
            "poststart" => "running",
            _ => "stopped",
        };
        assert_eq!(state["status"], want, "{name}: {state}");
        if !in_container && name != "poststop" {
            assert_eq!(state["pid"], pid, "{name}");
        }
        let env = fs::read_to_string(dir.join(format!("{name}.env"))).unwrap();
        let argv0 = if name == "startContainer" {
            "sh"
        } else {
            "hook-argv0"
        };
        assert_eq!(env.trim(), format!("{argv0} var-{name}"), "{name}");
    }
}

#[test]
fn failing_prestart_aborts_create_and_cleans_up() {
    for (hook, fails) in [
        (json!({"path": "/bin/false"}), "prestart"),
        (
            json!({"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}),
            "createRuntime",
        ),
    ] {
        let rt = Runtime::new();
        let bundle = Bundle::new(&["sleep", "300"]);
        bundle.edit(|c| c["hooks"] = json!({ fails: [hook] }));
        let id = uid(&format!("badhook-{fails}"));
        let pid_file = bundle.path().join("pid");
        let started = Instant::now();
        let out = rt.output(&[
            "create",
            "--bundle",
            bundle.path().to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            &id,
        ]);
        assert!(!out.status.success(), "{fails}: create succeeded");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{fails}: timeout not applied"
        );
        let err = stderr_of(&out);
        assert_eq!(err.lines().count(), 1, "{fails}: not one line: {err}");
        assert!(err.contains(&id), "{fails}: {err}");
        assert!(!rt.state_dir(&id).exists(), "{fails}: state dir left");
        assert!(cgroup_dirs_of(&id).is_empty(), "{fails}: cgroup left");
        if let Ok(pid) = fs::read_to_string(&pid_file) {
            let pid: i32 = pid.trim().parse().unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            while process_alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(!process_alive(pid), "{fails}: container process left");
        }
    }
}

#[test]
fn failing_poststop_is_logged_and_delete_goes_on() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["true"]);
    let logs = tempfile::tempdir().unwrap();
    bundle.edit(|c| {
        c["hooks"] = json!({"poststop": [
            {"path": "/bin/false"},
            recording_hook(logs.path(), "second"),
        ]})
    });
    let id = uid("poststop");
    let log = logs.path().join("log.json");
    rt.create(&id, &bundle);
    rt.ok(&["start", &id]);
    rt.wait_status(&id, "stopped");
    let out = rt.output(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "delete",
        &id,
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        logs.path().join("second.json").exists(),
        "later poststop hook skipped"
    );
    assert!(!rt.state_dir(&id).exists());
    let log = fs::read_to_string(&log).unwrap();
    assert!(
        log.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .any(|r| r["level"] == "warn" && r["msg"].as_str().unwrap().contains("poststop")),
        "{log}"
    );
}

/// `create` of `bundle` as a new container with a JSON log: its output, the log's last record and the container id.
fn create_with_json_log(
    rt: &Runtime,
    bundle: &Bundle,
    name: &str,
) -> (std::process::Output, Value, String) {
    let log = bundle.path().join("log.json");
    let id = uid(name);
    let out = rt.output(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);
    let last = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .last()
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap();
    (out, last, id)
}

#[test]
fn errors_are_one_line_and_a_json_log_record() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["true"]);
    fs::write(bundle.path().join("config.json"), b"{ not json").unwrap();
    let (out, last, id) = create_with_json_log(&rt, &bundle, "badconfig");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("obsbox: error: "), "{err}");
    assert!(err.contains("config.json"), "{err}");
    assert_eq!(last["level"], "error");
    assert!(last["msg"].as_str().unwrap().contains("config.json"));
    assert!(!rt.state_dir(&id).exists());

    let missing = rt.output(&[
        "create",
        "--bundle",
        "/nonexistent/bundle",
        &uid("nobundle"),
    ]);
    assert_eq!(stderr_of(&missing).lines().count(), 1);
    assert!(stderr_of(&missing).contains("/nonexistent/bundle"));
}

#[test]
fn console_socket_receives_a_real_pty() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sh", "-c", "tty; echo hello-pty; sleep 1"]);
    bundle.edit(|c| c["process"]["terminal"] = json!(true));
    let sock_dir = tempfile::tempdir().unwrap();
    let sock_path = sock_dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let id = uid("console");
    let receiver = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 256];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = nix::sys::socket::recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            nix::sys::socket::MsgFlags::empty(),
        )
        .unwrap();
        let fd = msg
            .cmsgs()
            .unwrap()
            .find_map(|c| match c {
                nix::sys::socket::ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                _ => None,
            })
            .expect("no fd sent over the console socket");
        unsafe { OwnedFd::from_raw_fd(fd) }
    });
    rt.ok(&[
        "create",
        "--bundle",
        bundle.path().to_str().unwrap(),
        "--console-socket",
        sock_path.to_str().unwrap(),
        &id,
    ]);
    let master = receiver.join().unwrap();
    rt.ok(&["start", &id]);
    let mut file = fs::File::from(master);
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains("hello-pty") && Instant::now() < deadline {
        let mut buf = [0u8; 256];
        match std::io::Read::read(&mut file, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(
        seen.contains("/dev/pts/0") || seen.contains("/dev/console"),
        "{seen:?}"
    );
    assert!(seen.contains("hello-pty"), "{seen:?}");
    rt.ok(&["delete", "--force", &id]);
}

/// Runs the bundle in the foreground and returns (exit code, stdout + stderr).
fn run(bundle: &Bundle, name: &str) -> (i32, String) {
    let rt = Runtime::new();
    let id = uid(name);
    let out = rt.output(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert!(!rt.state_dir(&id).exists());
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", stdout_of(&out), stderr_of(&out)),
    )
}

#[test]
fn user_namespace_bundle_maps_ids() {
    let bundle = Bundle::new(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map /proc/self/gid_map; id -u",
    ]);
    bundle.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    });
    let (code, out) = run(&bundle, "userns");
    assert_eq!(code, 0, "{out}");
    let fields: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(fields[0], ["0", "200000", "65536"], "{out}");
    assert_eq!(fields[1], ["0", "200000", "65536"], "{out}");
    assert_eq!(fields[2], ["0"], "{out}");
}

#[test]
fn readonly_rootfs_refuses_writes() {
    let bundle = Bundle::new(&["sh", "-c", "touch /newfile && echo wrote"]);
    let (code, out) = run(&bundle, "rorootfs");
    assert_ne!(code, 0);
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!bundle.rootfs().join("newfile").exists());

    bundle.edit(|c| c["root"]["readonly"] = json!(false));
    let (code, out) = run(&bundle, "rwrootfs");
    assert_eq!(code, 0, "{out}");
    assert!(bundle.rootfs().join("newfile").exists());
}

#[test]
fn masked_and_readonly_paths() {
    let bundle = Bundle::new(&[
        "sh",
        "-c",
        "echo keys=$(wc -c < /proc/keys); echo firmware=$(ls /sys/firmware | wc -l); \
         echo 1 > /proc/sys/vm/drop_caches || echo ro-ok; touch /proc/sysrq-trigger || echo ro2-ok",
    ]);
    let (code, out) = run(&bundle, "masked");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("keys=0"), "{out}");
    assert!(out.contains("firmware=0"), "{out}");
    assert!(out.contains("ro-ok") && out.contains("ro2-ok"), "{out}");
}

#[test]
fn bind_mounts_read_write_and_read_only() {
    let host = tempfile::tempdir().unwrap();
    fs::write(host.path().join("in.txt"), "from-host").unwrap();
    let bundle = Bundle::new(&[
        "sh",
        "-c",
        "cat /rw/in.txt; echo from-container > /rw/out.txt; echo x > /ro/x || echo ro-refused",
    ]);
    bundle.mount(json!({"destination": "/rw", "type": "bind", "source": host.path(), "options": ["rbind", "rw"]}));
    bundle.mount(json!({"destination": "/ro", "type": "bind", "source": host.path(), "options": ["rbind", "ro"]}));
    let (code, out) = run(&bundle, "bind");
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("from-host"), "{out}");
    assert!(out.contains("ro-refused"), "{out}");
    assert_eq!(
        fs::read_to_string(host.path().join("out.txt")).unwrap(),
        "from-container\n"
    );
    assert!(!host.path().join("x").exists());
}

#[test]
fn rlimits_apply() {
    let bundle = Bundle::new(&["sh", "-c", "ulimit -n; ulimit -Hn"]);
    bundle.edit(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}])
    });
    let (code, out) = run(&bundle, "rlimits");
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "321\n654\n");
}

/// The capability sets of the container's process, from /proc/self/status.
fn cap_line(out: &str, name: &str) -> u64 {
    let line = out.lines().find(|l| l.starts_with(name)).unwrap();
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

#[test]
fn capabilities_and_no_new_privileges() {
    let bundle = Bundle::new(&["grep", "-E", "^(Cap|NoNewPrivs)", "/proc/self/status"]);
    let (code, out) = run(&bundle, "caps");
    assert_eq!(code, 0, "{out}");
    // runc's defaults: CAP_AUDIT_WRITE(29), CAP_KILL(5), CAP_NET_BIND_SERVICE(10).
    let want = (1u64 << 29) | (1 << 5) | (1 << 10);
    assert_eq!(cap_line(&out, "CapEff:"), want, "{out}");
    assert_eq!(cap_line(&out, "CapBnd:"), want, "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");

    bundle.edit(|c| {
        c["process"]["capabilities"] = json!({"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]});
        c["process"]["noNewPrivileges"] = json!(false);
    });
    let (code, out) = run(&bundle, "caps2");
    assert_eq!(code, 0, "{out}");
    assert_eq!(cap_line(&out, "CapEff:"), 1, "{out}");
    assert!(out.contains("NoNewPrivs:\t0"), "{out}");
}

#[test]
fn seccomp_profile_applies() {
    let bundle = Bundle::new(&["sh", "-c", "mkdir /dev/shm/x && echo made || echo refused"]);
    bundle.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        })
    });
    let (code, out) = run(&bundle, "seccomp");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("refused"), "{out}");
}

#[test]
fn process_without_path_still_finds_its_program() {
    // ctr run --rootfs gives no PATH; runc looks programs up anyway.
    let bundle = Bundle::new(&["echo", "found"]);
    bundle.edit(|c| c["process"]["env"] = json!(["TERM=xterm"]));
    let (code, out) = run(&bundle, "nopath");
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "found\n");
}

#[test]
fn spec_refuses_to_overwrite_and_features_tell_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new();
    rt.ok(&["spec", "--bundle", dir.path().to_str().unwrap()]);
    let config: Value =
        serde_json::from_slice(&fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["args"], json!(["sh"]));
    assert_eq!(config["root"]["readonly"], json!(true));
    let again = rt.output(&["spec", "--bundle", dir.path().to_str().unwrap()]);
    assert!(!again.status.success());

    let schemas = Path::new("/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema");
    validate(
        &schemas.join("config-schema.json"),
        &dir.path().join("config.json"),
    );

    let features_json = dir.path().join("features.json");
    fs::write(&features_json, rt.ok(&["features"])).unwrap();
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schema/features.schema.json");
    validate(&ours, &features_json);
    let features: Value = serde_json::from_slice(&fs::read(&features_json).unwrap()).unwrap();
    assert_eq!(features["hooks"].as_array().unwrap().len(), 6);
    assert_eq!(features["linux"]["seccomp"]["enabled"], json!(true));
    assert!(
        features["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!("user"))
    );
}

#[test]
fn the_container_process_cannot_reach_a_writable_obsbox_binary() {
    // Until start, the container's init is obsbox itself: its /proc/PID/exe must lead to a
    // binary that cannot be written through (CVE-2019-5736), unlike the installed one.
    let rt = Runtime::new();
    let bundle = Bundle::new(&["true"]);
    let id = uid("sealed");
    rt.create(&id, &bundle);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let exe = format!("/proc/{pid}/exe");
    let read_only = |path: &str| {
        nix::sys::statvfs::statvfs(path)
            .unwrap()
            .flags()
            .contains(nix::sys::statvfs::FsFlags::ST_RDONLY)
    };
    let link = fs::read_link(&exe).unwrap();
    let memfd = link.to_string_lossy().starts_with("/memfd:");
    assert!(
        memfd || read_only(&exe),
        "{exe} -> {} is writable",
        link.display()
    );
    assert!(
        !read_only(obsbox_bin().to_str().unwrap()),
        "test needs a writable install"
    );
    let err = fs::OpenOptions::new().write(true).open(&exe).unwrap_err();
    assert!(
        matches!(
            err.raw_os_error(),
            Some(libc::EROFS) | Some(libc::ETXTBSY) | Some(libc::EPERM)
        ),
        "{err}"
    );
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn foreground_run_with_a_terminal_gets_its_own_pty() {
    // As runc: no --console-socket given, so obsbox takes the pty and copies it to stdout.
    let bundle = Bundle::new(&["sh", "-c", "tty; echo on-a-terminal; exit 4"]);
    bundle.edit(|c| c["process"]["terminal"] = json!(true));
    let rt = Runtime::new();
    let id = uid("owntty");
    let out = rt.output(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(4), "{text}{}", stderr_of(&out));
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("on-a-terminal"), "{text}");
    assert!(!rt.state_dir(&id).exists());
    assert_eq!(
        fs::read_dir(rt.root.path()).unwrap().count(),
        0,
        "console socket left"
    );
}

/// obsbox's own containers (a build's phases, install scripts, callbacks) are created by
/// `runtime::oneshot` from a process with helper threads. Hundreds of creations while other
/// threads allocate all the time: none may hang (forking in-process beside such threads
/// deadlocked in malloc about once in 33 creations of a build). Bounded in time: up to 300
/// creations or 40 s, at least 100.
#[test]
fn creations_beside_busy_threads_never_hang() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    obsbox::runtime::creator::set_program(obsbox_bin());
    // One malloc arena for every thread, as when a process has more threads than arenas:
    // the creating thread and the busy ones then share its lock.
    // SAFETY: a malloc tunable, set before the threads below exist.
    assert_eq!(unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) }, 1);
    let bundle = Bundle::new(&["true"]);
    let state = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let churners: Vec<_> = (0..2)
        .map(|n| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut kept: Vec<Vec<u8>> = Vec::new();
                let mut i: usize = n;
                while !stop.load(Ordering::Relaxed) {
                    // Bursts of allocations, then a pause: the creations get a core too.
                    for _ in 0..2000 {
                        i = i.wrapping_mul(1103515245).wrapping_add(12345);
                        kept.push(vec![i as u8; 16 + i % 4096]);
                        if kept.len() > 64 {
                            kept.swap_remove(i % 64);
                        }
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
            })
        })
        .collect();
    let (done, finished) = std::sync::mpsc::channel();
    let (bundle_dir, state_dir) = (bundle.path().to_path_buf(), state.path().to_path_buf());
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let started = Instant::now();
    std::thread::spawn(move || {
        let options = obsbox::runtime::oneshot::RunOptions {
            create_deadline: Some(Duration::from_secs(10)),
            ..Default::default()
        };
        for n in 0..300 {
            if started.elapsed() > Duration::from_secs(40) {
                break;
            }
            let id = format!("stress-{}-{n}", std::process::id());
            let outcome =
                obsbox::runtime::oneshot::run_with(&bundle_dir, &id, &state_dir, &options, |_| {});
            match outcome {
                Ok(outcome) if outcome.code == 0 => {}
                Ok(outcome) => {
                    let _ = done.send(Err(format!("creation {n}: exit code {}", outcome.code)));
                    return;
                }
                Err(err) => {
                    let _ = done.send(Err(format!("creation {n}: {err:#}")));
                    return;
                }
            }
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let _ = done.send(Ok(()));
    });
    let result = finished.recv_timeout(Duration::from_secs(55));
    stop.store(true, Ordering::Relaxed);
    for churner in churners {
        churner.join().unwrap();
    }
    let created = count.load(Ordering::Relaxed);
    match result {
        Ok(Ok(())) => {}
        Ok(Err(err)) => panic!("{err}"),
        Err(_) => panic!("a creation hangs (after {created} creations)"),
    }
    eprintln!("{created} creations in {:?}", started.elapsed());
    assert!(created >= 100, "only {created} creations in 40 s");
    assert!(
        obsbox::runtime::container::list_ids(state.path())
            .unwrap()
            .is_empty(),
        "containers left"
    );
}

/// A creation that does not finish (here a creation hook that never ends) is stopped at its
/// deadline with an error that says so, and nothing of it is left.
#[test]
fn a_creation_past_its_deadline_is_stopped_and_cleaned_up() {
    obsbox::runtime::creator::set_program(obsbox_bin());
    let bundle = Bundle::new(&["true"]);
    // A duration no other process here sleeps.
    let marker = format!("299.{}", std::process::id());
    bundle.edit(|c| {
        c["hooks"] = json!({"createRuntime": [
            {"path": "/bin/sleep", "args": ["sleep", marker]}
        ]})
    });
    let state = tempfile::tempdir().unwrap();
    let id = uid("deadline");
    let options = obsbox::runtime::oneshot::RunOptions {
        create_deadline: Some(Duration::from_secs(2)),
        ..Default::default()
    };
    let started = Instant::now();
    let err =
        obsbox::runtime::oneshot::run_with(bundle.path(), &id, state.path(), &options, |_| {})
            .expect_err("a hung creation succeeded");
    let elapsed = started.elapsed();
    let text = format!("{err:#}");
    assert!(
        text.contains(&id) && text.contains("did not finish within 2 s"),
        "{text}"
    );
    assert!(
        elapsed < Duration::from_secs(6),
        "stopped after {elapsed:?}"
    );
    assert!(!state.path().join(&id).exists(), "state left");
    assert!(cgroup_dirs_of(&id).is_empty(), "cgroup left");
    std::thread::sleep(Duration::from_millis(100));
    let left = std::process::Command::new("pgrep")
        .args(["-f", &format!("sleep {marker}")])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "the hook outlived its creation: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

/// SIGTERM while a container is being created (blocked and pending, as during a build)
/// stops the creation at once and reports the signal.
#[test]
fn sigterm_interrupts_a_creation() {
    use nix::sys::signal::{SigSet, Signal};

    obsbox::runtime::creator::set_program(obsbox_bin());
    let bundle = Bundle::new(&["true"]);
    bundle.edit(|c| {
        c["hooks"] = json!({"createRuntime": [
            {"path": "/bin/sleep", "args": ["sleep", "300"]}
        ]})
    });
    let state = tempfile::tempdir().unwrap();
    let id = uid("sigterm");
    let mut term = SigSet::empty();
    term.add(Signal::SIGTERM);
    term.thread_block().unwrap();
    // SAFETY: pthread_self names this thread, which outlives the signal's sender.
    let me = unsafe { libc::pthread_self() } as usize;
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        // SAFETY: the receiving thread waits in run_with below.
        unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGTERM) };
    });
    let started = Instant::now();
    let result = obsbox::runtime::oneshot::run_with(
        bundle.path(),
        &id,
        state.path(),
        &Default::default(),
        |_| {},
    );
    let elapsed = started.elapsed();
    sender.join().unwrap();
    assert_eq!(
        term.wait().unwrap(),
        Signal::SIGTERM,
        "the signal was consumed"
    );
    term.thread_unblock().unwrap();
    let err = result.expect_err("an interrupted creation succeeded");
    let interrupted = err
        .downcast_ref::<obsbox::runtime::creator::Interrupted>()
        .unwrap_or_else(|| panic!("not an interruption: {err:#}"));
    assert_eq!(interrupted.0, Signal::SIGTERM);
    assert!(
        elapsed < Duration::from_secs(5),
        "stopped after {elapsed:?}"
    );
    assert!(!state.path().join(&id).exists(), "state left");
}

/// `linux.resources.memory.disableOOMKiller` reaches the container's memory cgroup, as under
/// runc (libcontainer 0.7 drops it).
#[test]
fn disable_oom_killer_reaches_memory_oom_control() {
    let rt = Runtime::new();
    for (disable, want) in [(true, "oom_kill_disable 1"), (false, "oom_kill_disable 0")] {
        let bundle = Bundle::new(&["sleep", "300"]);
        let id = uid(&format!("oom-{disable}"));
        let cgroup = format!("/obsbox-test-{id}");
        bundle.edit(|c| {
            c["linux"]["cgroupsPath"] = json!(cgroup);
            c["linux"]["resources"]["memory"] =
                json!({"limit": 64 << 20, "disableOOMKiller": disable});
        });
        rt.create(&id, &bundle);
        let control =
            fs::read_to_string(format!("/sys/fs/cgroup/memory{cgroup}/memory.oom_control"))
                .unwrap();
        rt.ok(&["delete", "--force", &id]);
        assert!(control.lines().any(|l| l == want), "{disable}: {control}");
    }
}

/// A failure inside the container's init names its cause, on stderr and in the JSON log
/// podman and containerd read (libcontainer reports only "failed to prepare rootfs").
#[test]
fn an_init_failure_names_its_cause() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["true"]);
    // proc must be mounted on a directory, not on a symlink.
    let proc_dir = bundle.rootfs().join("proc");
    let _ = fs::remove_dir_all(&proc_dir);
    std::os::unix::fs::symlink("/tmp", &proc_dir).unwrap();
    let (out, last, id) = create_with_json_log(&rt, &bundle, "initcause");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    let cause = "filesystem proc must be mounted on ordinary directory";
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("obsbox: error: container "), "{err}");
    assert!(err.contains(cause), "{err}");
    assert_eq!(last["level"], "error");
    assert!(last["msg"].as_str().unwrap().contains(cause), "{last}");
    assert!(!rt.state_dir(&id).exists());

    // A cause the report already names is not repeated.
    let bundle = Bundle::new(&["/no/such/binary"]);
    let out = rt.output(&[
        "create",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &uid("initcause2"),
    ]);
    let err = stderr_of(&out);
    assert_eq!(err.matches("/no/such/binary").count(), 1, "{err}");
}

/// `exec --cap` takes capability names as runc does (`CAP_KILL`, also without the prefix)
/// and gives them to the process.
#[test]
fn exec_cap_takes_cap_prefixed_names() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    let id = uid("execcap");
    rt.run_detached(&id, &bundle);
    let status = "grep Cap /proc/self/status";
    let plain = rt.ok(&["exec", &id, "sh", "-c", status]);
    let added = rt.ok(&[
        "exec",
        "--cap",
        "CAP_KILL",
        "--cap",
        "CAP_SYS_PTRACE",
        "--cap",
        "sys_nice",
        &id,
        "sh",
        "-c",
        status,
    ]);
    const KILL: u64 = 1 << 5;
    const SYS_PTRACE: u64 = 1 << 19;
    const SYS_NICE: u64 = 1 << 23;
    assert_eq!(
        cap_line(&plain, "CapEff") & (SYS_PTRACE | SYS_NICE),
        0,
        "{plain}"
    );
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        let caps = cap_line(&added, set);
        assert_eq!(
            caps & (KILL | SYS_PTRACE | SYS_NICE),
            KILL | SYS_PTRACE | SYS_NICE,
            "{set}: {added}"
        );
    }
    let bad = rt.output(&["exec", "--cap", "CAP_NOPE", &id, "true"]);
    assert_eq!(bad.status.code(), Some(255));
    let err = stderr_of(&bad);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("CAP_NOPE: unknown capability"), "{err}");
    rt.ok(&["delete", "--force", &id]);
}

/// `kill ID 9` and at once `delete ID`, as scripts do: delete waits for the process to be
/// gone instead of refusing a running container, and leaves nothing behind. 50 times.
#[test]
fn kill_9_then_delete_never_refuses() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    for n in 0..50 {
        let id = uid(&format!("killdel{n}"));
        rt.run_detached(&id, &bundle);
        let pid = rt.state(&id)["pid"].as_i64().unwrap() as i32;
        rt.ok(&["kill", &id, "9"]);
        let out = rt.output(&["delete", &id]);
        assert!(
            out.status.success(),
            "try {n}: delete refused: {}",
            stderr_of(&out)
        );
        assert!(!rt.state_dir(&id).exists(), "try {n}: state left");
        assert!(cgroup_dirs_of(&id).is_empty(), "try {n}: cgroup left");
        assert!(!process_alive(pid), "try {n}: process left");
    }
    // A signal the process survives is no reason to wait: delete refuses at once.
    let id = uid("killdel-term");
    rt.run_detached(&id, &bundle);
    rt.ok(&["kill", &id, "TERM"]);
    let started = Instant::now();
    let out = rt.output(&["delete", &id]);
    assert!(!out.status.success(), "a running container was deleted");
    assert!(started.elapsed() < Duration::from_secs(5));
    rt.ok(&["delete", "--force", &id]);
}

/// Every command's `--help` and `-h` are obsbox's own: they succeed, list only commands that
/// work, and carry none of liboci-cli's or youki's texts. bs_worker's entries too, also
/// when obsbox runs as a file named `build`.
#[test]
fn every_help_is_obsboxs_own() {
    let help = |args: &[&str]| -> String {
        let out = std::process::Command::new(obsbox_bin())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
        let text = stdout_of(&out);
        for foreign in [
            "youki",
            "liboci",
            "Reference:",
            "github.com",
            "checkpoint",
            "rool",
        ] {
            assert!(
                !text.contains(foreign),
                "{args:?} mentions {foreign}: {text}"
            );
        }
        text
    };
    let top = help(&["--help"]);
    assert_eq!(help(&["-h"]).lines().count(), top.lines().count());
    let commands: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    for unsupported in ["events", "update", "checkpointt"] {
        assert!(
            !commands.iter().any(|c| c == unsupported),
            "{unsupported} listed"
        );
    }
    for expected in [
        "create",
        "run",
        "exec",
        "build",
        "obs-build",
        "hostcheck",
        "gc",
    ] {
        assert!(
            commands.iter().any(|c| c == expected),
            "{expected} missing: {top}"
        );
    }
    for command in &commands {
        let text = help(&[command, "--help"]);
        help(&[command, "-h"]);
        // Nested commands (rootfs, cache, callback, worker) list theirs.
        let nested: Vec<String> = text
            .lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .filter(|c| c != "help")
            .collect();
        for sub in nested {
            help(&[command, &sub, "--help"]);
        }
    }
    assert!(help(&["obs-build", "--help"]).contains("bs_worker"));
    assert!(help(&["hostcheck", "-h"]).contains("bs_worker"));
    let dir = tempfile::tempdir().unwrap();
    let build = dir.path().join("build");
    std::os::unix::fs::symlink(obsbox_bin(), &build).unwrap();
    let out = std::process::Command::new(&build)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "build --help: {}", stderr_of(&out));
    assert!(stdout_of(&out).contains("obs-build"));
    // Unsupported commands fail honestly.
    let out = std::process::Command::new(obsbox_bin())
        .args(["update", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("not supported"),
        "{}",
        stderr_of(&out)
    );
}

/// The configuration directory follows one rule everywhere: `--config` first, then
/// `OBSBOX_CONFIG`; a named directory that does not exist is one clear line.
#[test]
fn config_directory_rule() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime-config");
    let list = |env: Option<&Path>, args: &[&str]| {
        let mut cmd = std::process::Command::new(obsbox_bin());
        cmd.env_remove("OBSBOX_CONFIG").current_dir("/");
        if let Some(dir) = env {
            cmd.env("OBSBOX_CONFIG", dir);
        }
        cmd.args(["callback", "list", "--project", "home:x"])
            .args(args);
        cmd.output().unwrap()
    };
    // From any directory: /etc/obsbox or the checkout's runtime-config/.
    assert!(list(None, &[]).status.success());
    let out = list(Some(Path::new("/nonexistent-obsbox-config")), &[]);
    assert!(!out.status.success());
    assert_eq!(
        stderr_of(&out).trim(),
        "obsbox: error: OBSBOX_CONFIG=/nonexistent-obsbox-config: not a directory"
    );
    // --config wins over the environment.
    let out = list(
        Some(Path::new("/nonexistent-obsbox-config")),
        &["--config", src.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let out = list(None, &["--config", "/nonexistent-obsbox-config"]);
    assert_eq!(
        stderr_of(&out).trim(),
        "obsbox: error: --config /nonexistent-obsbox-config: not a directory"
    );
    // An empty configuration directory named by the environment is used (no callbacks).
    let empty = tempfile::tempdir().unwrap();
    let out = list(Some(empty.path()), &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        !stdout_of(&out).contains("cross-build"),
        "{}",
        stdout_of(&out)
    );
}
