//! Hostile packages against install mode (what every `obsbox build` does): packages whose
//! files, names and maintainer scripts try to write outside their root, to change the shared
//! store for later jobs, or to leave device nodes behind. Each case asserts a one-line
//! refusal or containment, and that a canary tree outside the root is unchanged; the store
//! case then builds a clean root on the same cache and compares it with `dpkg-deb -x`.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::data::testdata;
use common::rootfs::{Create, Obsbox, rpm_toolbox};
use common::stderr_of;

/// One entry of a crafted package's data.
enum Item<'a> {
    Dir,
    File(&'a [u8], u32),
    Symlink(&'a str),
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn tar_of(entries: &[(&str, Item)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, item) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        match item {
            Item::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, path, &[][..]).unwrap();
            }
            Item::File(data, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, *data).unwrap();
            }
            Item::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, path, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// Writes a .deb with the given control paragraph, maintainer scripts and data.
fn deb(path: &Path, control: &str, scripts: &[(&str, &str)], data: &[(&str, Item)]) {
    let mut control_entries = vec![("./control", Item::File(control.as_bytes(), 0o644))];
    for (name, body) in scripts {
        control_entries.push((name, Item::File(body.as_bytes(), 0o755)));
    }
    ar_deb(path, &tar_of(&control_entries), &tar_of(data));
}

/// Writes a .deb of the (plain) control and data tars, gzip-compressed.
fn ar_deb(path: &Path, control: &[u8], data: &[u8]) {
    let (control, data) = (gzip(control), gzip(data));
    let mut b = ar::Builder::new(fs::File::create(path).unwrap());
    for (name, content) in [
        ("debian-binary", &b"2.0\n"[..]),
        ("control.tar.gz", &control[..]),
        ("data.tar.gz", &data[..]),
    ] {
        b.append(
            &ar::Header::new(name.as_bytes().to_vec(), content.len() as u64),
            content,
        )
        .unwrap();
    }
}

fn control(name: &str, depends: &str) -> String {
    format!(
        "Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: nobody <n@example.invalid>\n\
         Depends: {depends}\nDescription: hostile\n"
    )
}

/// A directory outside every root with a file, a subdirectory and a setuid-able target;
/// [`Canary::assert_unchanged`] compares it with how it was made.
struct Canary {
    dir: tempfile::TempDir,
}

impl Canary {
    fn new() -> Canary {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("status"), b"host status\n").unwrap();
        fs::write(dir.path().join("file"), b"host file\n").unwrap();
        fs::set_permissions(dir.path().join("file"), fs::Permissions::from_mode(0o644)).unwrap();
        Canary { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn assert_unchanged(&self) {
        let mut names: Vec<String> = fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["file", "status", "sub"], "the canary changed");
        assert_eq!(fs::read_dir(self.path().join("sub")).unwrap().count(), 0);
        assert_eq!(
            fs::read(self.path().join("status")).unwrap(),
            b"host status\n"
        );
        assert_eq!(fs::read(self.path().join("file")).unwrap(), b"host file\n");
        let mode = fs::metadata(self.path().join("file")).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o644, "the canary file's mode changed");
    }
}

/// `rootfs create --mode install` of `names` from the test Debian repository and the
/// local directory `extra` (when given) into `out`.
fn install(obsbox: &Obsbox, names: &[&str], extra: Option<&Path>, out: &Path) -> Output {
    let create = Create::new("amd64")
        .mode("install")
        .repo(common::job::file_deb_repo());
    let create = match extra {
        Some(extra) => create.repo(extra),
        None => create,
    };
    obsbox.create(&create.install(names).out(out))
}

/// A failure with exactly one line on stderr holding every needle.
fn one_line_failure(out: &Output, needles: &[&str]) {
    let err = stderr_of(out);
    assert!(!out.status.success(), "accepted; stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} missing in: {err}");
    }
}

/// Every regular file and symlink of `deb` (as `dpkg-deb -x` unpacks it) must be in `root`
/// with the same content.
fn assert_root_has_package(root: &Path, deb: &Path) {
    let x = tempfile::tempdir().unwrap();
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(x.path())
        .status()
        .unwrap();
    assert!(status.success());
    let mut stack = vec![PathBuf::new()];
    let mut compared = 0;
    while let Some(rel) = stack.pop() {
        for entry in fs::read_dir(x.path().join(&rel)).unwrap() {
            let entry = entry.unwrap();
            let rel = rel.join(entry.file_name());
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                stack.push(rel);
            } else if meta.is_file() {
                let ours =
                    fs::read(root.join(&rel)).unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
                assert!(
                    ours == fs::read(entry.path()).unwrap(),
                    "{} differs from the package's",
                    rel.display()
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 0);
}

fn test_deb(name: &str) -> PathBuf {
    let dir = testdata().join("debs/amd64");
    fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{name}_"))
        })
        .unwrap_or_else(|| panic!("no {name} in {}", dir.display()))
}

/// A preinst that rewrites another package's file in place, keeping its size and mtime,
/// and makes a world-writable device node. The store stays as the packages made it: a
/// later root for another set, on the same cache, has the file as dash ships it; the
/// hostile root itself keeps no device node; the cache is private to root.
#[test]
fn maintainer_scripts_cannot_change_the_store_or_keep_device_nodes() {
    common::require_root();
    let canary = Canary::new();
    let obsbox = Obsbox::new();
    let work = tempfile::tempdir().unwrap();
    let extra = work.path().join("extra");
    fs::create_dir(&extra).unwrap();
    let victim = "/usr/share/doc/dash/copyright";
    let preinst = format!(
        "#!/bin/sh\nset -e\n\
         t=$(stat -c %Y {victim})\n\
         printf POISONED | dd of={victim} bs=1 conv=notrunc status=none\n\
         touch -d @$t {victim}\n\
         mknod /evil-null c 1 3\nchmod 666 /evil-null\n\
         echo poisoned > {canary}/status || true\n",
        canary = canary.path().display()
    );
    deb(
        &extra.join("evil-poison_1.0_all.deb"),
        &control("evil-poison", "dash, coreutils"),
        &[("./preinst", &preinst)],
        &[("./usr/", Item::Dir)],
    );
    let hostile_root = work.path().join("hostile");
    let out = install(
        &obsbox,
        &with_base(&["evil-poison"]),
        Some(&extra),
        &hostile_root,
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    // The script ran: the hostile root has its own, changed copy …
    assert!(
        fs::read(hostile_root.join(&victim[1..]))
            .unwrap()
            .starts_with(b"POISONED")
    );
    // … but keeps no device node.
    assert!(fs::symlink_metadata(hostile_root.join("evil-null")).is_err());
    // The store entry of dash is untouched.
    let dash = test_deb("dash");
    let entry = obsbox
        .cache
        .path()
        .join("store")
        .join(sha256(&dash))
        .join("tree");
    assert_root_has_package(&entry, &dash);
    // A clean root of another set on the same cache gets dash as dash ships it.
    let clean_root = work.path().join("clean");
    let out = install(&obsbox, &with_base(&["findutils"]), None, &clean_root);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_root_has_package(&clean_root, &dash);
    // No other user of the host reaches the cache.
    let mode = fs::metadata(obsbox.cache.path()).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o700, "cache mode {mode:o}");
    canary.assert_unchanged();
}

/// What a root needs for dpkg and the maintainer scripts of its libc to run.
const BASE: &[&str] = &[
    "dpkg",
    "dash",
    "coreutils",
    "sed",
    "grep",
    "diffutils",
    "libc-bin",
];

fn with_base(extra: &[&'static str]) -> Vec<&'static str> {
    let mut all = BASE.to_vec();
    all.extend_from_slice(extra);
    all
}

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(fs::read(path).unwrap()))
}

/// Symlinks at the paths obsbox writes in a root: the dpkg database directory pointing at a
/// host directory, a link where the old link-breaking code put its temporary copy of a
/// setuid file, and one at the rpm staging directory's name. The database is written where
/// the link leads inside the root (nowhere, when the root lacks it), never on the host.
#[test]
fn symlinks_in_the_root_do_not_lead_obsbox_outside() {
    common::require_root();
    let canary = Canary::new();
    let obsbox = Obsbox::new();
    let work = tempfile::tempdir().unwrap();
    let host_dir = canary.path().display().to_string();
    let host_file = canary.path().join("file").display().to_string();
    let inside = format!(".{host_dir}/");
    let mut items = vec![
        ("./var/", Item::Dir),
        ("./var/lib/", Item::Dir),
        ("./var/lib/dpkg", Item::Symlink(&host_dir)),
        ("./etc/", Item::Dir),
        ("./etc/x", Item::File(b"#!/bin/sh\n", 0o4755)),
        ("./etc/x.obsbox-unshare", Item::Symlink(&host_file)),
        ("./.obsbox-install", Item::Symlink(&host_dir)),
    ];
    // Alone: the link leads nowhere inside the root, which is refused in one line.
    let extra = work.path().join("extra");
    fs::create_dir(&extra).unwrap();
    let no_depends = "Package: evil-links\nVersion: 1.0\nArchitecture: all\n";
    deb(
        &extra.join("evil-links_1.0_all.deb"),
        no_depends,
        &[],
        &items,
    );
    let out = install(
        &obsbox,
        &["evil-links"],
        Some(&extra),
        &work.path().join("a"),
    );
    one_line_failure(&out, &["var/lib/dpkg"]);
    canary.assert_unchanged();
    // With the host path made inside the root the database goes there (the install then
    // fails for want of a shell, which is not this test's business).
    let parents: Vec<String> = Path::new(&host_dir)
        .ancestors()
        .filter(|a| *a != Path::new("/"))
        .map(|a| format!(".{}/", a.display()))
        .collect();
    for dir in parents.iter().rev() {
        items.push((dir, Item::Dir));
    }
    assert!(parents.contains(&inside));
    deb(
        &extra.join("evil-links_1.0_all.deb"),
        no_depends,
        &[],
        &items,
    );
    let out = install(
        &obsbox,
        &["evil-links"],
        Some(&extra),
        &work.path().join("b"),
    );
    one_line_failure(&out, &["/bin/sh"]);
    canary.assert_unchanged();
    // With a real base, the package's link conflicts with dpkg's own directory.
    let out = install(
        &obsbox,
        &with_base(&["evil-links"]),
        Some(&extra),
        &work.path().join("c"),
    );
    one_line_failure(&out, &["var/lib/dpkg"]);
    canary.assert_unchanged();
}

/// Package names that are paths or shell text are refused where the repository is read,
/// in one line naming the file and the field; nothing runs.
#[test]
fn package_names_are_data() {
    common::require_root();
    let canary = Canary::new();
    let obsbox = Obsbox::new();
    let work = tempfile::tempdir().unwrap();
    let marker = canary.path().join("sub/ran");
    let names = [
        "../../evil".to_string(),
        format!("x`touch${{IFS}}{}`", marker.display()),
        "evil/name".to_string(),
    ];
    for (i, name) in names.iter().enumerate() {
        let extra = work.path().join(format!("extra{i}"));
        fs::create_dir(&extra).unwrap();
        let file = extra.join("evil_1.0_all.deb");
        deb(
            &file,
            &control(name, "dash"),
            &[("./preinst", "#!/bin/sh\n")],
            &[],
        );
        let out = install(
            &obsbox,
            &["dash", "evil"],
            Some(&extra),
            &work.path().join("root"),
        );
        one_line_failure(
            &out,
            &["evil_1.0_all.deb", "Package", "not a Debian package name"],
        );
        assert!(!work.path().join("root").exists());
    }
    // A Depends naming a path is no package: the request cannot be resolved.
    let extra = work.path().join("extra-dep");
    fs::create_dir(&extra).unwrap();
    deb(
        &extra.join("dep_1.0_all.deb"),
        &control("dep", "../../evil"),
        &[],
        &[],
    );
    let out = install(
        &obsbox,
        &["dash", "dep"],
        Some(&extra),
        &work.path().join("root"),
    );
    assert!(!out.status.success());
    assert_eq!(
        stderr_of(&out).trim_end().lines().count(),
        1,
        "{}",
        stderr_of(&out)
    );
    assert!(!marker.exists());
    canary.assert_unchanged();
}

/// A control file whose `Package:` differs from the name the repository index gives is
/// refused before anything is registered.
#[test]
fn a_control_file_must_name_its_package() {
    common::require_root();
    let obsbox = Obsbox::new();
    let work = tempfile::tempdir().unwrap();
    // A flat repository whose index says `liar`, for a .deb whose control says `dash`.
    let extra = work.path().join("flat");
    fs::create_dir(&extra).unwrap();
    let file = extra.join("liar_1.0_all.deb");
    deb(&file, &control("dash", "coreutils"), &[], &[]);
    let size = fs::metadata(&file).unwrap().len();
    fs::write(
        extra.join("Packages"),
        format!(
            "{}Filename: ./liar_1.0_all.deb\nSize: {size}\nSHA256: {}\n",
            control("liar", "dash"),
            sha256(&file)
        ),
    )
    .unwrap();
    let out = install(
        &obsbox,
        &with_base(&["liar"]),
        Some(&extra),
        &work.path().join("root"),
    );
    one_line_failure(&out, &["liar", "control file says Package"]);
}

/// A job's build writes in place, as the build user, into a file a package ships owned by
/// that user. The job's root is an overlay of the cached root: the write is copied up, and
/// the store entry (which every later job of any project uses) keeps the package's content.
#[test]
fn a_build_cannot_change_the_store_through_its_buildroot() {
    common::require_root();
    let cache = tempfile::tempdir().unwrap();
    let job = common::job::Job::new(cache.path());
    let extra = job.dir.path().join("extra");
    fs::create_dir(&extra).unwrap();
    let tool = b"original tool\n";
    let owned_deb = extra.join("evil-owned_1.0_all.deb");
    deb_owned(
        &owned_deb,
        "Package: evil-owned\nVersion: 1.0\nArchitecture: all\n",
        &[
            ("./usr/", 0, 0o755, None),
            ("./usr/share/", 0, 0o755, None),
            ("./usr/share/evil-tool", 399, 0o644, Some(&tool[..])),
        ],
    );
    let recipe = job.debian_sources_edited(|tree| {
        let rules = tree.join("debian/rules");
        let text = fs::read_to_string(&rules).unwrap().replace(
            "debian/build-stamp:\n",
            "debian/build-stamp:\n\tprintf POISON | dd of=/usr/share/evil-tool bs=1 conv=notrunc status=none\n",
        );
        fs::write(&rules, text).unwrap();
    });
    let mut packages = common::job::deb_packages();
    packages.push("evil-owned".to_string());
    let toml = job.dir.path().join("job.toml");
    fs::write(
        &toml,
        format!(
            "package = \"hello-obsbox\"\narch = \"amd64\"\nrecipe = {recipe:?}\nsources = \"sources\"\n\
             repos = [{:?}, {:?}]\npackages = {}\n",
            common::job::file_deb_repo(),
            extra.display().to_string(),
            common::job::toml_list(&packages)
        ),
    )
    .unwrap();
    let (code, log) = job.run(&toml);
    assert_eq!(code, Some(0), "{log}");
    // The write happened (the build went on), in the job's own layer only.
    let entry = cache
        .path()
        .join("store")
        .join(sha256(&owned_deb))
        .join("tree");
    assert_eq!(fs::read(entry.join("usr/share/evil-tool")).unwrap(), tool);
    // The cached buildroot holds the tool too (a check of no root would pass silently).
    let with_tool: Vec<PathBuf> = fs::read_dir(cache.path().join("rootfs"))
        .unwrap()
        .map(|root| root.unwrap().path().join("tree/usr/share/evil-tool"))
        .filter(|file| file.exists())
        .collect();
    assert!(
        !with_tool.is_empty(),
        "no cached root holds usr/share/evil-tool"
    );
    for file in &with_tool {
        assert_eq!(fs::read(file).unwrap(), tool, "{}", file.display());
    }
    job.assert_nothing_left();
}

/// [`deb`] with owners: (path, uid, mode, content; `None` for a directory).
fn deb_owned(path: &Path, control: &str, data: &[(&str, u64, u32, Option<&[u8]>)]) {
    let control = tar_of(&[("./control", Item::File(control.as_bytes(), 0o644))]);
    let mut b = tar::Builder::new(Vec::new());
    for (name, uid, mode, content) in data {
        let mut h = tar::Header::new_gnu();
        h.set_uid(*uid);
        h.set_gid(*uid);
        h.set_mtime(1_700_000_000);
        h.set_mode(*mode);
        match content {
            Some(content) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(content.len() as u64);
                b.append_data(&mut h, name, *content).unwrap();
            }
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, name, &[][..]).unwrap();
            }
        }
    }
    ar_deb(path, &control, &b.into_inner().unwrap());
}

/// The spec of a hostile rpm (built with rpmbuild when the test runs): symlinks at the
/// rpm staging directory's name and at the old unsharing helper's name, leading to the
/// canary; a `%pre` that rewrites obsbox-test-base's tool in place (same size, same mtime)
/// and makes device nodes; a `%post` that writes to the canary's path.
const HOSTILE_RPM_SPEC: &str = r#"Name:           obsbox-test-hostile
Version:        1
Release:        1
Summary:        hostile rpm of obsbox's tests
License:        MIT
BuildArch:      noarch
AutoReqProv:    no
Requires:       obsbox-test-base

%description
Tries to reach the host and the cache from an rpm install.

%install
mkdir -p %{buildroot}/etc
ln -s @CANARY@ %{buildroot}/.obsbox-install
printf '#!/bin/sh\n' > %{buildroot}/etc/x
chmod 4755 %{buildroot}/etc/x
ln -s @CANARY@/file %{buildroot}/etc/x.obsbox-unshare

%pre
tool=/usr/bin/obsbox-base-tool
cp -p $tool /mtime-ref
printf PWNED! | dd of=$tool bs=1 seek=15 conv=notrunc
touch -r /mtime-ref $tool
mknod -m 0666 /evil-null c 1 3 || true
mknod -m 0666 /etc/evil-mem c 1 1 || true

%post
echo pwned > @CANARY@/file || true
echo pwned > @CANARY@/status || true

%files
/.obsbox-install
/etc/x
/etc/x.obsbox-unshare
"#;

/// An rpm root with a hostile package (see [`HOSTILE_RPM_SPEC`]): the canary on the host is
/// unchanged, the hostile root keeps no device node, and a clean root made afterwards from
/// the same cache has obsbox-test-base's tool as the package ships it.
#[test]
fn hostile_rpm_scriptlets_and_links_stay_in_their_root() {
    common::require_root();
    let data = testdata();
    let canary = Canary::new();
    let obsbox = Obsbox::new();
    let work = tempfile::tempdir().unwrap();

    // The hostile rpm, and a local repository of it with the test RPMs.
    let topdir = work.path().join("rpmbuild");
    let spec = work.path().join("hostile.spec");
    fs::write(
        &spec,
        HOSTILE_RPM_SPEC.replace("@CANARY@", &canary.path().display().to_string()),
    )
    .unwrap();
    let built = Command::new("rpmbuild")
        .args(["-bb", "--nodeps", "--quiet", "--define"])
        .arg(format!("_topdir {}", topdir.display()))
        .args(["--define", "_build_id_links none", "--define"])
        .arg("debug_package %{nil}")
        .arg(&spec)
        .output()
        .unwrap();
    assert!(built.status.success(), "rpmbuild: {}", stderr_of(&built));
    let repo = work.path().join("repo");
    fs::create_dir(&repo).unwrap();
    let mut rpms = vec![topdir.join("RPMS/noarch/obsbox-test-hostile-1-1.noarch.rpm")];
    for entry in fs::read_dir(data.join("rpmbuild/RPMS/x86_64")).unwrap() {
        rpms.push(entry.unwrap().path());
    }
    for rpm in &rpms {
        fs::copy(rpm, repo.join(rpm.file_name().unwrap())).unwrap();
    }
    // The toolbox whose rpm registers the packages.
    let toolbox = work.path().join("toolbox");
    let out = obsbox.create(&rpm_toolbox(&common::job::file_deb_repo(), &[], &toolbox));
    assert!(out.status.success(), "{}", stderr_of(&out));
    let create = |names: &[&str], out: &Path| {
        obsbox.create(
            &Create::new("x86_64")
                .mode("install")
                .repo(&repo)
                .toolbox(&toolbox)
                .install(names)
                .out(out),
        )
    };
    let clean = work.path().join("clean");
    let out = create(&["obsbox-test-base"], &clean);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let tool = fs::read(clean.join("usr/bin/obsbox-base-tool")).unwrap();
    assert!(String::from_utf8_lossy(&tool).contains("obsbox-test-base"));

    let hostile = work.path().join("hostile");
    let out = create(&["obsbox-test-hostile"], &hostile);
    canary.assert_unchanged();
    if out.status.success() {
        // Its own root has what its scriptlet did, and no device node.
        let poisoned = fs::read_to_string(hostile.join("usr/bin/obsbox-base-tool")).unwrap();
        assert!(poisoned.contains("PWNED!"), "{poisoned}");
        for node in ["evil-null", "etc/evil-mem"] {
            assert!(
                fs::symlink_metadata(hostile.join(node)).is_err(),
                "{node} was kept"
            );
        }
    } else {
        let err = stderr_of(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    }

    // A root for the clean set again, from the cache: the package's tool, untouched.
    let again = work.path().join("again");
    let out = create(&["obsbox-test-base"], &again);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("from the cache"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(
        fs::read(again.join("usr/bin/obsbox-base-tool")).unwrap(),
        tool
    );
    assert_eq!(
        fs::read(clean.join("usr/bin/obsbox-base-tool")).unwrap(),
        tool
    );
    canary.assert_unchanged();
}
