//! Imaging end to end: kiwi from the toolbox builds a tbz and an OCI
//! image from the job's target repositories, here the loopback test repository served over
//! HTTP, on a worker whose own OS has no kiwi. The images land in RESULTS/KIWI/, and the
//! standard OCI tools of the host (skopeo, umoci) read the OCI one.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::data::testdata;
use common::job::{Job, deb_packages};
use common::serve::Server;
use common::{CONFIG_SCHEMA, require_root, stderr_of, stdout_of, validate};

/// One cache for the tests of this file: the buildroot and the toolbox are made once.
fn shared_cache() -> &'static Path {
    static CACHE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| common::process_tempdir("obsbox-test-cache-"))
}

/// The image the tests describe: Debian with busybox from the job's repository, as a
/// tarball (tbz) and as an OCI image whose entrypoint is busybox's shell.
const DESCRIPTION: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<image schemaversion="7.5" name="obsbox-test-image">
    <description type="system">
        <author>obsbox tests</author>
        <contact>obsbox@example.org</contact>
        <specification>a small Debian image from the job's repositories</specification>
    </description>
    <preferences>
        <version>1.0.0</version>
        <packagemanager>apt</packagemanager>
        <type image="tbz" primary="true"/>
        <type image="oci">
            <containerconfig name="obsbox-test-image" tag="latest">
                <entrypoint execute="/bin/sh"/>
            </containerconfig>
        </type>
    </preferences>
    <!-- Replaced by the job's repositories, as OBS does. -->
    <repository type="apt-deb" distribution="bookworm" components="main" repository_gpgcheck="false" use_for_bootstrap="true">
        <source path="obsrepositories:/"/>
    </repository>
    <packages type="image">
        <package name="busybox-static"/>
    </packages>
    <packages type="bootstrap">
        <package name="apt"/>
    </packages>
</image>
"#;

const CONFIG_SH: &str = "#!/bin/bash\nset -e\nrm -rf /var/lib/apt/lists/*\n";

/// The Debian package job of project home:test, with imaging enabled, its repository
/// served over HTTP by `server`; `kiwi` says whether its sources hold a description.
fn imaging_job(server: &Server, kiwi: bool) -> (Job, PathBuf) {
    let mut job = Job::new(shared_cache());
    job.with_project("[callback.imaging]\nenabled = true\n");
    let recipe = job.debian_sources();
    if kiwi {
        fs::write(job.sources().join("obsbox-test-image.kiwi"), DESCRIPTION).unwrap();
        fs::write(job.sources().join("config.sh"), CONFIG_SH).unwrap();
    }
    let repo = format!("{} bookworm main", server.url("deb-repo"));
    let toml = job.write_toml(&recipe, &repo, &deb_packages(), "project = \"home:test\"\n");
    (job, toml)
}

/// The worker's own OS has no kiwi: not on PATH, not installed as a package.
fn assert_host_has_no_kiwi() {
    let path = std::env::var("PATH").unwrap_or_default();
    for dir in path
        .split(':')
        .chain(["/usr/bin", "/usr/sbin", "/bin", "/sbin"])
    {
        let found = Path::new(dir).join("kiwi-ng");
        assert!(
            !found.exists(),
            "{} exists: the test needs a host without kiwi",
            found.display()
        );
    }
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "kiwi"])
        .output()
        .unwrap();
    assert!(
        !stdout_of(&out).contains("install ok installed"),
        "kiwi is installed on the host: the test needs a host without it"
    );
}

fn host_tool(name: &str) -> PathBuf {
    let path = PathBuf::from("/usr/bin").join(name);
    assert!(
        path.exists(),
        "{} missing on the host: run integration/setup.sh",
        path.display()
    );
    path
}

/// The files of RESULTS/KIWI/.
fn kiwi_results(job: &Job) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(job.results().join("KIWI"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn one_ending(files: &[PathBuf], suffix: &str) -> PathBuf {
    let found: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "one *{suffix} in KIWI/: {files:?}");
    found[0].clone()
}

/// The paths in a tarball, read with the tar and xz crates (`xz` when `compressed`).
fn tar_paths(file: &Path, compressed: bool) -> Vec<String> {
    let input = fs::File::open(file).unwrap();
    let reader: Box<dyn std::io::Read> = if compressed {
        Box::new(xz2::read::XzDecoder::new(input))
    } else {
        Box::new(input)
    };
    tar::Archive::new(reader)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn run(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        program.display(),
        stderr_of(&out)
    );
    stdout_of(&out)
}

#[test]
fn kiwi_from_the_toolbox_makes_a_tbz_and_an_oci_image_on_a_host_without_kiwi() {
    require_root();
    testdata();
    assert_host_has_no_kiwi();
    let skopeo = host_tool("skopeo");
    let umoci = host_tool("umoci");
    let server = Server::serve(&testdata());
    let (job, toml) = imaging_job(&server, true);
    let started = Instant::now();
    let (code, log) = job.run(&toml);
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(code, Some(0), "{log}");
    let imaging: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("[callback imaging]"))
        .collect();
    let took = imaging
        .last()
        .unwrap_or_else(|| panic!("no imaging lines: {log}"));
    assert!(took.starts_with("[callback imaging] ok ["), "{log}");
    // For the timings in the test output (`--nocapture`).
    eprintln!("imaging job: {seconds:.1} s in all; {took}");
    // kiwi replaced the description's repository by the job's.
    assert!(
        log.contains(&format!("Setting up repository {}", server.url("deb-repo"))),
        "{log}"
    );

    let files = kiwi_results(&job);
    let tbz = one_ending(&files, ".tar.xz");
    let oci = one_ending(&files, ".oci.tar");
    for image in [&tbz, &oci] {
        let name = image.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("obsbox-test-image.x86_64-1.0.0-Build"),
            "{name}"
        );
        // kiwi's result bundle gives each image its checksum.
        let sum = fs::read_to_string(format!("{}.sha256", image.display())).unwrap();
        let hash = obsbox::rootfs::store::sha256_file(image).unwrap();
        assert!(sum.starts_with(&hash), "{sum} vs {hash}");
    }
    one_ending(&files, ".packages");

    // The tarball is the image's root: busybox (Debian's merged /usr puts it in usr/bin).
    let paths = tar_paths(&tbz, true);
    assert!(
        paths
            .iter()
            .any(|p| p.trim_start_matches("./") == "usr/bin/busybox"
                || p.trim_start_matches("./") == "bin/busybox"),
        "no busybox in {}",
        tbz.display()
    );
    assert!(paths.iter().any(|p| p.contains("etc/os-release")));

    // skopeo reads the OCI archive as it is.
    let inspect: serde_json::Value = serde_json::from_str(&run(
        &skopeo,
        &["inspect", &format!("oci-archive:{}", oci.display())],
    ))
    .unwrap();
    assert_eq!(inspect["Architecture"], "amd64", "{inspect}");
    assert_eq!(inspect["Os"], "linux", "{inspect}");
    assert!(
        !inspect["Layers"].as_array().unwrap().is_empty(),
        "{inspect}"
    );

    // umoci reads its layout and unpacks it into a runtime bundle with busybox inside and
    // the description's entrypoint.
    let layout = job.dir.path().join("oci-layout");
    fs::create_dir(&layout).unwrap();
    tar::Archive::new(fs::File::open(&oci).unwrap())
        .unpack(&layout)
        .unwrap();
    let tags = run(&umoci, &["ls", "--layout", layout.to_str().unwrap()]);
    assert_eq!(tags.trim(), "obsbox-test-image:latest");
    let unpacked = job.dir.path().join("oci-bundle");
    run(
        &umoci,
        &[
            "unpack",
            "--image",
            &format!("{}:obsbox-test-image:latest", layout.display()),
            unpacked.to_str().unwrap(),
        ],
    );
    assert!(unpacked.join("rootfs/usr/bin/busybox").is_file());
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(unpacked.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        config["process"]["args"],
        serde_json::json!(["/bin/sh"]),
        "{config}"
    );

    // Nothing of the job is left: no container, no mount, no work directory (the scratch
    // space with kiwi's image root was in it).
    job.assert_nothing_left();
}

#[test]
fn imaging_without_a_kiwi_description_says_so_and_does_nothing() {
    require_root();
    testdata();
    let server = Server::serve(&testdata());
    let (job, toml) = imaging_job(&server, false);
    let (code, log) = job.run(&toml);
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains(
            "[callback imaging] no kiwi description in the sources (config.kiwi, config.xml, \
             *.kiwi): nothing to image"
        ),
        "{log}"
    );
    assert!(log.contains("[callback imaging] ok"), "{log}");
    assert!(!job.results().join("KIWI").exists());
    assert!(
        job.results()
            .join("DEBS/hello-obsbox_1.0_amd64.deb")
            .is_file()
    );

    // The callback's bundle is a valid OCI bundle: privileged root on the worker's
    // network, its scratch directories on disk under the job's work directory.
    let bundles = job.bundle(&toml);
    let config = bundles.join("bundles/callback-imaging/config.json");
    validate(Path::new(CONFIG_SCHEMA), &config);
    let spec: serde_json::Value = serde_json::from_slice(&fs::read(&config).unwrap()).unwrap();
    assert_eq!(spec["process"]["user"]["uid"], 0);
    let namespaces: Vec<&str> = spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert_eq!(namespaces, ["pid", "ipc", "uts", "mount"]);
    let mounts = spec["mounts"].as_array().unwrap();
    for dir in ["/var/tmp", "/var/cache/kiwi"] {
        let mount = mounts
            .iter()
            .find(|m| m["destination"] == dir)
            .unwrap_or_else(|| panic!("no {dir} mount: {spec}"));
        assert_eq!(mount["type"], "bind", "{mount}");
        let source = PathBuf::from(mount["source"].as_str().unwrap());
        assert_eq!(
            source,
            bundles.join("scratch/imaging").join(&dir[1..]),
            "{mount}"
        );
        assert!(source.is_dir());
    }
}
