//! What the fuzz targets share: a scratch directory per process with a target root full of
//! traps that lead out of it, a watched directory outside the root, and the checks made
//! after every input (nothing outside the root changed; errors are one line).
//!
//! Layout of the scratch directory (`$OBSBOX_FUZZ_DIR`, default the temp dir):
//!
//! ```text
//! obsbox-fuzz-TARGET-PID/
//!   input            the fuzz input, as a file (the readers take paths)
//!   outside/victim   must keep its content and metadata
//!   root/            the target root, made afresh for every input, holding:
//!     escape -> ../outside      abs -> <scratch>/outside      up -> ..
//!     bin -> usr/bin (merged /usr)   usr/bin/   etc/passwd (a hard link of outside/victim)
//! ```

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use obsbox::packages::extract::{Extractor, Options};
use obsbox::packages::rpm::RpmPackage;

/// The fuzz targets, by name.
pub const TARGETS: [&str; 7] = [
    "deb",
    "rpm",
    "layer",
    "buildinfo",
    "rpmlist",
    "constraints",
    "config_json",
];

/// Feeds `data` to `target` as obsbox reads such input; returns every error obsbox gave
/// (none when the input was accepted). Package targets write into `arena`'s root.
pub fn run(target: &str, arena: &Arena, data: &[u8]) -> Vec<anyhow::Error> {
    let mut errors = Vec::new();
    let mut note = |r: anyhow::Result<()>| {
        if let Err(err) = r {
            errors.push(err);
        }
    };
    match target {
        "deb" => {
            let (input, root) = arena.prepare(data);
            note(obsbox::packages::deb::extract(input, root, extract_options()).map(drop));
        }
        "layer" => {
            let (input, root) = arena.prepare(data);
            note(obsbox::packages::layer::apply(
                input,
                root,
                extract_options(),
            ));
        }
        "rpm" => {
            // As the package store unpacks an RPM (rootfs::store), plus the descriptive
            // fields build-compare reads.
            let (input, root) = arena.prepare(data);
            match RpmPackage::open(input) {
                Err(err) => note(Err(err)),
                Ok(package) => {
                    note(package.details().map(drop));
                    let _ = package.meta("fuzz.rpm", 0);
                    let label = input.display().to_string();
                    let mut extractor = Extractor::new(root, &label, extract_options())
                        .expect("cannot open the root");
                    extractor.set_input_size(data.len() as u64);
                    note(
                        package
                            .extract(&mut extractor)
                            .and_then(|()| extractor.finish().map(drop)),
                    );
                }
            }
        }
        "buildinfo" => {
            let path = Path::new("/fuzz/buildinfo.xml");
            note(obsbox::job::buildinfo::parse(data, path).map(drop));
        }
        "rpmlist" => {
            // The file reader refuses text that is not UTF-8 before parsing.
            if let Ok(text) = std::str::from_utf8(data) {
                let path = Path::new("/fuzz/.build.rpmlist");
                note(obsbox::job::rpmlist::parse(text, path).map(drop));
            }
        }
        "constraints" => {
            // Every input as `_constraints` XML and, when it is text, as a project
            // config's `Constraint:` lines and a spec's `#!BuildConstraint:` lines.
            use obsbox::alloc::constraints;
            note(constraints::from_xml(data, "_constraints").map(drop));
            if let Ok(text) = std::str::from_utf8(data) {
                let arch: obsbox::model::Arch = "x86_64".parse().expect("a valid arch");
                note(constraints::from_prjconf(text, "_config", Some(&arch)).map(drop));
                note(constraints::from_spec(text, "hello.spec", Some(&arch)).map(drop));
            }
        }
        "config_json" => {
            // As `create`, `run` and the phase runner load a bundle, and what they read
            // of the spec before libcontainer takes over.
            let (_, bundle) = arena.prepare(b"");
            fs::write(bundle.join("config.json"), data).expect("cannot write config.json");
            match obsbox::runtime::container::open_bundle(bundle) {
                Err(err) => note(Err(err)),
                Ok((_, spec)) => {
                    let _ = spec.process().as_ref().and_then(|p| p.terminal());
                    let _ = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
                    let _ = spec.annotations();
                }
            }
        }
        other => panic!("unknown fuzz target {other}"),
    }
    errors
}

/// What every target asserts after every input: errors are one line, and nothing outside
/// the root changed (targets that write files).
pub fn run_checked(target: &str, arena: &Arena, data: &[u8]) -> Vec<anyhow::Error> {
    let errors = run(target, arena, data);
    for err in &errors {
        assert_one_line(err);
    }
    if matches!(target, "deb" | "rpm" | "layer" | "config_json") {
        arena.check();
    }
    errors
}

const VICTIM: &[u8] = b"outside the root: must never change\n";

/// The scratch directory of one fuzz process.
pub struct Arena {
    base: PathBuf,
    input: PathBuf,
    root: PathBuf,
    outside: PathBuf,
    victim: PathBuf,
    victim_meta: (u32, u32, u32, i64, i64),
}

fn meta_of(path: &Path) -> (u32, u32, u32, i64, i64) {
    let m = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.mode(), m.uid(), m.gid(), m.mtime(), m.mtime_nsec())
}

impl Arena {
    pub fn new(target: &str) -> Arena {
        let dir = std::env::var_os("OBSBOX_FUZZ_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let base = dir.join(format!("obsbox-fuzz-{target}-{}-{n}", std::process::id()));
        remove_tree(&base);
        let outside = base.join("outside");
        fs::create_dir_all(&outside).expect("cannot create the scratch directory");
        let victim = outside.join("victim");
        fs::write(&victim, VICTIM).expect("cannot write the victim file");
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
        let victim_meta = meta_of(&victim);
        Arena {
            input: base.join("input"),
            root: base.join("root"),
            outside,
            victim,
            victim_meta,
            base,
        }
    }

    /// Writes `data` as the input file and makes a fresh root with its traps.
    pub fn prepare(&self, data: &[u8]) -> (&Path, &Path) {
        fs::write(&self.input, data).expect("cannot write the input file");
        remove_tree(&self.root);
        let r = &self.root;
        fs::create_dir_all(r.join("usr/bin")).unwrap();
        fs::create_dir_all(r.join("etc")).unwrap();
        symlink("../outside", r.join("escape")).unwrap();
        symlink(&self.outside, r.join("abs")).unwrap();
        symlink("..", r.join("up")).unwrap();
        symlink("usr/bin", r.join("bin")).unwrap();
        fs::hard_link(&self.victim, r.join("etc/passwd")).unwrap();
        (&self.input, &self.root)
    }

    /// Panics when anything outside the root changed: the scratch directory holds only
    /// `input`, `outside` and `root` (a directory), and `outside` only the victim, as it was.
    pub fn check(&self) {
        let names = |dir: &Path| -> Vec<String> {
            let mut n: Vec<String> = fs::read_dir(dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            n.sort();
            n
        };
        assert_eq!(
            names(&self.base),
            ["input", "outside", "root"],
            "something was created next to the root"
        );
        assert!(
            fs::symlink_metadata(&self.root).unwrap().is_dir(),
            "the root was replaced"
        );
        assert_eq!(
            names(&self.outside),
            ["victim"],
            "something was created outside the root"
        );
        assert_eq!(
            fs::read(&self.victim).unwrap(),
            VICTIM,
            "a file outside the root was written"
        );
        assert_eq!(
            meta_of(&self.victim),
            self.victim_meta,
            "the metadata of a file outside the root changed"
        );
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        remove_tree(&self.base);
    }
}

/// Removes `path` recursively, also when the extractor left directories without write or
/// search permission (possible when not running as root).
pub fn remove_tree(path: &Path) {
    if fs::remove_dir_all(path).is_ok() || !path.exists() {
        return;
    }
    fn open_up(path: &Path) {
        let Ok(m) = fs::symlink_metadata(path) else {
            return;
        };
        if m.is_dir() {
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
            if let Ok(entries) = fs::read_dir(path) {
                for e in entries.flatten() {
                    open_up(&e.path());
                }
            }
        }
    }
    open_up(path);
    fs::remove_dir_all(path).unwrap_or_else(|e| panic!("cannot remove {}: {e}", path.display()));
}

/// Panics unless the error reads as one line, as obsbox prints it (`{:#}`).
pub fn assert_one_line(err: &anyhow::Error) {
    let text = format!("{err:#}");
    assert!(!text.trim().is_empty(), "empty error message");
    assert!(
        !text.contains(['\n', '\r']),
        "the error is not one line: {text:?}"
    );
}

/// Extraction options for fuzzing: the production options with limits small enough that
/// a decompression bomb is caught within milliseconds (the checks are the same code).
pub fn extract_options() -> Options {
    let mut options = Options::default();
    options.limits.max_bytes = 64 << 20;
    options.limits.ratio_floor = 1 << 20;
    options
}
