//! obsbox's allocation against OBS's dispatcher rules: a table of cases, each naming the OBS
//! rule it checks with the verdict current OBS (open-build-service master:
//! BSDispatcher/Constraints.pm, bs_dispatch, BSCando.pm; obs-build's Build.pm/Build/Rpm.pm)
//! gives, worker documents and files in the shapes OBS writes them, and a differential
//! test against OBS's Perl matcher as installed (Debian's obs-server 2.9.4) on generated
//! cases where 2.9.4 and current OBS decide alike.

mod common;
#[path = "common/alloc_sim.rs"]
mod sim;

use std::path::Path;
use std::process::Command;

use obsbox::alloc::{self, Sources, constraints};
use obsbox::model::Arch;
use obsbox::worker;

/// An arch name of a test (valid).
fn a(name: &str) -> Arch {
    name.parse().unwrap()
}

/// A worker document as bs_worker registers it: attributes ip/port/workerid, no
/// <buildarch>, a chroot or VM sandbox.
fn bs_worker(hostarch: &str, body: &str) -> worker::Worker {
    let xml = format!(
        "<worker hostarch=\"{hostarch}\" ip=\"10.0.0.7\" port=\"36427\" registerserver=\"http://localhost:5252\" workerid=\"w:1\">\n{body}\n</worker>\n"
    );
    worker::from_xml(xml.as_bytes(), "worker").unwrap()
}

const STD: &str = "<hostlabel>big</hostlabel>\n<sandbox>kvm</sandbox>\n\
    <linux><version>6.4.0-150600.23</version><flavor>default</flavor></linux>\n\
    <hardware><cpu><flag>sse2</flag><flag>avx2</flag></cpu><processors>4</processors>\
    <jobs>2</jobs><memory>8192</memory><swap>2048</swap><disk>40960</disk></hardware>";

struct Case {
    rule: &'static str,
    worker: (&'static str, &'static str),
    /// `_constraints` XML, or "".
    xml: &'static str,
    /// Constraint lines (project config then recipe), one a line, or "".
    lines: &'static str,
    arch: &'static str,
    package: &'static str,
    /// Current OBS's verdict: does the worker take the job?
    obs: bool,
}

const fn case(
    rule: &'static str,
    worker: (&'static str, &'static str),
    xml: &'static str,
    lines: &'static str,
    arch: &'static str,
    obs: bool,
) -> Case {
    Case {
        rule,
        worker,
        xml,
        lines,
        arch,
        package: "pkg",
        obs,
    }
}

fn cases() -> Vec<Case> {
    let x = ("x86_64", STD);
    vec![
        // Arch eligibility: bs_dispatch offers a job to a worker whose hostarch builds the
        // arch by BSCando (%cando), whatever <buildarch> says.
        case("BSCando: x86_64 builds x86_64", x, "", "", "x86_64", true),
        case(
            "BSCando: x86_64 builds i586 (linux32 helper), no <buildarch> needed",
            x,
            "",
            "",
            "i586",
            true,
        ),
        case(
            "BSCando: x86_64 does not build aarch64",
            x,
            "",
            "",
            "aarch64",
            false,
        ),
        case(
            "BSCando: aarch64 builds armv7l (linux32 helper)",
            ("aarch64", STD),
            "",
            "",
            "armv7l",
            true,
        ),
        case(
            "BSCando: ppc64le builds ppc64 natively",
            ("ppc64le", STD),
            "",
            "",
            "ppc64",
            true,
        ),
        case(
            "BSCando: i586 does not build x86_64",
            ("i586", STD),
            "",
            "",
            "x86_64",
            false,
        ),
        case(
            "bs_dispatch: a nativeonly worker takes no arch needing a helper",
            ("x86_64", "<hardware><nativeonly/></hardware>"),
            "",
            "",
            "i586",
            false,
        ),
        case(
            "bs_dispatch: a nativeonly worker takes its own arch",
            ("x86_64", "<hardware><nativeonly/></hardware>"),
            "",
            "",
            "x86_64",
            true,
        ),
        case(
            "bs_dispatch ignores <buildarch>: a foreign one does not make an OBS worker eligible",
            (
                "x86_64",
                "<buildarch>aarch64</buildarch><sandbox>kvm</sandbox>",
            ),
            "",
            "",
            "aarch64",
            false,
        ),
        // hostlabel: each must be on the worker; exclude only for exclude="true".
        case(
            "oracle hostlabel: required and present",
            x,
            "<constraints><hostlabel>big</hostlabel></constraints>",
            "",
            "x86_64",
            true,
        ),
        case(
            "oracle hostlabel: required and missing",
            x,
            "<constraints><hostlabel>small</hostlabel></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "oracle hostlabel: exclude=\"true\" and present",
            x,
            "<constraints><hostlabel exclude=\"true\">big</hostlabel></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "oracle hostlabel: exclude=\"TRUE\" is no exclude (required)",
            x,
            "<constraints><hostlabel exclude=\"TRUE\">big</hostlabel></constraints>",
            "",
            "x86_64",
            true,
        ),
        case(
            "oracle hostlabel: exclude=\"1\" is no exclude (required, missing)",
            x,
            "<constraints><hostlabel exclude=\"1\">small</hostlabel></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "oracle hostlabel: an empty label is required as the empty label",
            x,
            "<constraints><hostlabel/></constraints>",
            "",
            "x86_64",
            false,
        ),
        // sandbox: every one must hold (PR 13471).
        case(
            "oracle sandbox: equal",
            x,
            "<constraints><sandbox>kvm</sandbox></constraints>",
            "",
            "x86_64",
            true,
        ),
        case(
            "oracle sandbox: two sandboxes both hold (secure and kvm)",
            x,
            "<constraints><sandbox>secure</sandbox><sandbox>kvm</sandbox></constraints>",
            "",
            "x86_64",
            true,
        ),
        case(
            "oracle sandbox: two sandboxes, one fails",
            x,
            "<constraints><sandbox>secure</sandbox><sandbox>xen</sandbox></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "oracle sandbox: secure is xen, kvm or zvm",
            ("x86_64", "<sandbox>chroot</sandbox>"),
            "<constraints><sandbox>secure</sandbox></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "oracle sandbox: an empty <sandbox/> asks for no sandbox",
            x,
            "<constraints><sandbox/></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "oracle sandbox: exclude=\"true\"",
            x,
            "<constraints><sandbox exclude=\"true\">kvm</sandbox></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "list2struct keeps quotes: Constraint: sandbox exclude=\"true\" kvm requires kvm",
            ("x86_64", "<sandbox>chroot</sandbox>"),
            "",
            "sandbox exclude=\"true\" kvm",
            "x86_64",
            false,
        ),
        case(
            "mergeconstraints adds sandboxes: project excludes chroot, package wants kvm",
            x,
            "<constraints><sandbox>kvm</sandbox></constraints>",
            "sandbox exclude=true chroot",
            "x86_64",
            true,
        ),
        case(
            "mergeconstraints adds sandboxes: project excludes kvm, package wants kvm",
            x,
            "<constraints><sandbox>kvm</sandbox></constraints>",
            "sandbox exclude=true kvm",
            "x86_64",
            false,
        ),
        // linux: flavor, strict verscmp.
        case(
            "oracle linux: flavor differs",
            x,
            "<constraints><linux><flavor>rt</flavor></linux></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "oracle linux: verscmp strict, a release on the min counts",
            x,
            "",
            "linux:version:min 6.4.0-150600.23.7",
            "x86_64",
            false,
        ),
        case(
            "oracle linux: verscmp min below",
            x,
            "",
            "linux:version:min 6.4.0",
            "x86_64",
            true,
        ),
        case(
            "oracle linux: verscmp max: 6.4.0 < 6.4.0-150600.23",
            x,
            "<constraints><linux><version><max>6.4.0</max></version></linux></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "oracle linux: an empty <min/> checks nothing",
            x,
            "<constraints><linux><version><min/></version></linux></constraints>",
            "",
            "x86_64",
            true,
        ),
        case(
            "oracle linux: <version> needs a version on the worker",
            ("x86_64", "<linux><flavor>default</flavor></linux>"),
            "<constraints><linux><version><min/></version></linux></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "oracle linux: the worker reports no linux",
            ("x86_64", "<hardware><processors>4</processors></hardware>"),
            "<constraints><linux><flavor>default</flavor></linux></constraints>",
            "",
            "x86_64",
            false,
        ),
        // hardware, values as Perl reads them.
        case(
            "oracle hardware: processors 3.5 > 4 is false",
            x,
            "<constraints><hardware><processors>3.5</processors></hardware></constraints>",
            "",
            "x86_64",
            true,
        ),
        case(
            "oracle hardware: processors 4.5 > 4",
            x,
            "<constraints><hardware><processors>4.5</processors></hardware></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "oracle hardware: jobs",
            x,
            "<constraints><hardware><jobs>3</jobs></hardware></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "getmbsize: \"4G\" is the number 4, unit G",
            x,
            "<constraints><hardware><disk><size unit=\"G\">4G</size></disk></hardware></constraints>",
            "",
            "x86_64",
            true,
        ),
        case(
            "getmbsize: unit g is no unit it knows: 50 MB",
            x,
            "<constraints><hardware><disk><size unit=\"g\">50</size></disk></hardware></constraints>",
            "",
            "x86_64",
            true,
        ),
        case(
            "getmbsize: no unit is bytes",
            x,
            "<constraints><hardware><memory><size>10000000000</size></memory></hardware></constraints>",
            "",
            "x86_64",
            true,
        ),
        case(
            "getmbsize: <disk/> without a size asks for 0",
            x,
            "<constraints><hardware><disk/></hardware></constraints>",
            "",
            "x86_64",
            true,
        ),
        case(
            "oracle hardware: memory against memory + swap",
            x,
            "<constraints><hardware><memory><size unit=\"M\">10000</size></memory></hardware></constraints>",
            "",
            "x86_64",
            true,
        ),
        case(
            "oracle hardware: physicalmemory against memory alone",
            x,
            "<constraints><hardware><physicalmemory><size unit=\"M\">10000</size></physicalmemory></hardware></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "oracle hardware: memoryperjob × jobs against memory + swap",
            x,
            "<constraints><hardware><memoryperjob><size unit=\"M\">6000</size></memoryperjob></hardware></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "oracle hardware: every cpu flag is needed (all-of)",
            x,
            "<constraints><hardware><cpu><flag>avx2</flag><flag>avx512f</flag></cpu></hardware></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "oracle hardware: cpu flag exclude=\"true\"",
            x,
            "<constraints><hardware><cpu><flag exclude=\"true\">avx2</flag></cpu></hardware></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "oracle hardware: an excluded flag on a worker without <cpu>",
            ("x86_64", "<hardware><processors>4</processors></hardware>"),
            "<constraints><hardware><cpu><flag exclude=\"true\">avx2</flag></cpu></hardware></constraints>",
            "",
            "x86_64",
            true,
        ),
        case(
            "oracle hardware: the worker reports no hardware",
            ("x86_64", "<sandbox>kvm</sandbox>"),
            "<constraints><hardware><processors>0</processors></hardware></constraints>",
            "",
            "x86_64",
            false,
        ),
        // Merging (bs_dispatch: mergeconstraints(project lines, package)).
        case(
            "mergeconstraints: the package's memoryperjob replaces the project's (PR 12070)",
            x,
            "<constraints><hardware><memoryperjob><size unit=\"M\">1000</size></memoryperjob></hardware></constraints>",
            "hardware:memoryperjob:size unit=G 8",
            "x86_64",
            true,
        ),
        case(
            "mergeconstraints: the package's processors replace the project's",
            x,
            "<constraints><hardware><processors>2</processors></hardware></constraints>",
            "hardware:processors 16",
            "x86_64",
            true,
        ),
        case(
            "mergeconstraints: hostlabels add up",
            x,
            "<constraints><hostlabel>big</hostlabel></constraints>",
            "hostlabel small",
            "x86_64",
            false,
        ),
        case(
            "mergeconstraints: cpu flags add up",
            x,
            "<constraints><hardware><cpu><flag>avx2</flag></cpu></hardware></constraints>",
            "hardware:cpu:flag avx512f",
            "x86_64",
            false,
        ),
        // Overwrites, applied to the package's constraints before the merge.
        case(
            "overwriteconstraints: arch condition holds",
            x,
            "<constraints><hardware><processors>64</processors></hardware><overwrite><conditions><arch>x86_64</arch></conditions><hardware><processors>2</processors></hardware></overwrite></constraints>",
            "",
            "x86_64",
            true,
        ),
        case(
            "overwriteconstraints: arch condition fails",
            x,
            "<constraints><hardware><processors>64</processors></hardware><overwrite><conditions><arch>aarch64</arch></conditions><hardware><processors>2</processors></hardware></overwrite></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "overwriteconstraints: without <conditions> ignored",
            x,
            "<constraints><hardware><processors>64</processors></hardware><overwrite><hardware><processors>2</processors></hardware></overwrite></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "overwriteconstraints: a size keeps the unit it overwrites (4 → 40 G)",
            x,
            "<constraints><hardware><disk><size unit=\"G\">4</size></disk></hardware><overwrite><conditions><package>pkg</package></conditions><hardware><disk><size>80</size></disk></hardware></overwrite></constraints>",
            "",
            "x86_64",
            false,
        ),
        case(
            "overwriteconstraints: a sandbox list is replaced: kvm over exclude=\"true\" kvm",
            x,
            "<constraints><sandbox exclude=\"true\">kvm</sandbox><overwrite><conditions><arch>x86_64</arch></conditions><sandbox>kvm</sandbox></overwrite></constraints>",
            "",
            "x86_64",
            true,
        ),
        case(
            "overwrite before merge: the project's hostlabel stays",
            x,
            "<constraints><overwrite><conditions><arch>x86_64</arch></conditions><hostlabel>big</hostlabel></overwrite></constraints>",
            "hostlabel small",
            "x86_64",
            false,
        ),
        // list2struct's modifiers.
        case(
            "list2struct: hostlabel! changes the last label",
            x,
            "",
            "hostlabel small\nhostlabel! big",
            "x86_64",
            true,
        ),
        case(
            "list2struct: hostlabel= removes them all",
            x,
            "",
            "hostlabel small\nhostlabel=",
            "x86_64",
            true,
        ),
        case(
            "list2struct: one label per word",
            x,
            "",
            "hostlabel big small",
            "x86_64",
            false,
        ),
    ]
}

#[test]
fn obs_rules_table() {
    let mut wrong = Vec::new();
    for c in cases() {
        let w = bs_worker(c.worker.0, c.worker.1);
        let mut s = Sources::default();
        if !c.lines.is_empty() {
            let lines: Vec<String> = c.lines.lines().map(String::from).collect();
            s.add(
                constraints::from_list(&lines, "lines")
                    .unwrap_or_else(|e| panic!("{}: {e:#}", c.rule)),
            );
        }
        if !c.xml.is_empty() {
            s.add(
                constraints::from_xml(c.xml.as_bytes(), "_constraints")
                    .unwrap_or_else(|e| panic!("{}: {e:#}", c.rule)),
            );
        }
        let con = s.combine(Some(&a(c.arch)), Some(c.package)).unwrap();
        let got = alloc::check(&w, &con, Some(&a(c.arch)));
        if got.is_ok() != c.obs {
            wrong.push(format!(
                "{}: OBS says {}, obsbox {:?}",
                c.rule,
                c.obs,
                got.err()
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// What OBS's reader refuses, obsbox refuses with one line naming the file and element.
#[test]
fn refuses_what_obs_refuses() {
    for (xml, says) in [
        (
            "<constraints exclude=\"false\"/>",
            "<constraints>: unknown attribute \"exclude\"",
        ),
        (
            "<constraints><gpu/></constraints>",
            "<gpu>: unknown element in <constraints>",
        ),
        (
            "<constraints><linux/><linux/></constraints>",
            "<linux>: may appear only once here",
        ),
        (
            "<constraints><hardware>8</hardware></constraints>",
            "<hardware>: has text, but holds only elements",
        ),
        (
            "<constraints><hardware><disk><size unit=\"G\" x=\"1\">1</size></disk></hardware></constraints>",
            "<size>: unknown attribute \"x\"",
        ),
    ] {
        let e = constraints::from_xml(xml.as_bytes(), "pkg/_constraints")
            .unwrap_err()
            .to_string();
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(
            e.starts_with("pkg/_constraints: line 1: ") && e.ends_with(says),
            "{xml}: {e}"
        );
    }
    for (line, says) in [
        ("hardware:gpu 1", "hardware:gpu 1: unknown element: gpu"),
        (
            "prefer:hostlabel ssd",
            "prefer:hostlabel ssd: unknown element: prefer",
        ),
        (
            "hostlabel colour=red x",
            "element 'hostlabel' contains unknown attribute 'colour'",
        ),
    ] {
        let e = constraints::from_bare_lines(line, "lines.txt")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("lines.txt: line 1: ") && e.ends_with(says),
            "{line}: {e}"
        );
    }
    // obsbox's own preference syntax where OBS reads the line: refused with the form to use.
    let e = constraints::from_prjconf(
        "Constraint: prefer:hostlabel ssd\n",
        "_config",
        Some(&a("x86_64")),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("#!ObsboxPrefer: hostlabel ssd"), "{e}");
    let ok = constraints::from_prjconf(
        "#!ObsboxPrefer: hostlabel weight=3 ssd\n",
        "_config",
        Some(&a("x86_64")),
    )
    .unwrap();
    assert_eq!(ok.prefer[0].weight, 3);
}

/// A project config with %ifarch, %define, %if and a Macros: block, read for each arch:
/// the constraints OBS's config reader gives for that arch, and no others.
#[test]
fn project_config_is_read_for_the_jobs_arch() {
    let conf = "Repotype: rpm-md\n\
        %define want_big 1\n\
        %ifarch ppc64le\nConstraint: hardware:cpu:flag power8\n%endif\n\
        %ifarch x86_64 %ix86\n%if 0%{?want_big}\nConstraint: hostlabel big\n%else\nConstraint: hostlabel small\n%endif\n%endif\n\
        %if \"%_target_cpu\" == \"aarch64\"\nConstraint: hardware:processors 64\n%endif\n\
        Macros:\n%suse_hwcaps \\\n#!BuildConstraint: hardware:cpu:flag x86-64-v3 \\\n%{nil}\n:Macros\n\
        Constraint: sandbox kvm\n";
    let w = bs_worker("x86_64", STD);
    let of = |arch: &str| {
        constraints::from_prjconf(conf, "_config", Some(&a(arch)))
            .unwrap()
            .combine(Some(&a(arch)), None)
            .unwrap()
    };
    let c = of("x86_64");
    assert_eq!(c.hostlabel.len(), 1);
    assert_eq!(c.hostlabel[0].value, "big");
    assert!(c.hardware.is_none(), "{c:?}");
    assert!(alloc::check(&w, &c, Some(&a("x86_64"))).is_ok());
    let c = of("ppc64le");
    let flags = c.hardware.unwrap().cpu.unwrap();
    assert_eq!(flags[0].value, "power8");
    assert!(c.hostlabel.is_empty());
    assert_eq!(of("aarch64").hardware.unwrap().processors, Some(64));
    // `Constraint: !*` drops what came before.
    let c = constraints::from_prjconf(
        "Constraint: hostlabel a\nConstraint: !*\nConstraint: hostlabel b\n",
        "_config",
        Some(&a("x86_64")),
    )
    .unwrap()
    .combine(Some(&a("x86_64")), None)
    .unwrap();
    assert_eq!(
        c.hostlabel
            .iter()
            .map(|l| l.value.as_str())
            .collect::<Vec<_>>(),
        ["b"]
    );
}

fn obsbox() -> Command {
    Command::new(env!("CARGO_BIN_EXE_obsbox"))
}

/// The command line with OBS's file shapes: a directory of worker files named as the
/// dispatcher names them (no .xml), bs_worker's documents, a file of bare constraint lines
/// (as a buildinfo's <prjconfconstraint>), and OBS's hint when nothing fits.
#[test]
fn command_with_obs_shaped_files() {
    let dir = tempfile::tempdir().unwrap();
    let workers = dir.path().join("workers");
    std::fs::create_dir(&workers).unwrap();
    for (name, procs) in [("x86_64:build1:1", 1), ("x86_64:build1:2", 4)] {
        std::fs::write(
            workers.join(name),
            format!(
                "<worker hostarch=\"x86_64\" ip=\"127.0.0.1\" port=\"36427\" registerserver=\"http://localhost:5252\" workerid=\"{name}\">\n  <sandbox>chroot</sandbox>\n  <linux>\n    <version>4.1.34-33</version>\n    <flavor>default</flavor>\n  </linux>\n  <hardware>\n    <cpu>\n      <flag>sse2</flag>\n    </cpu>\n    <processors>{procs}</processors>\n    <jobs>1</jobs>\n  </hardware>\n</worker>\n"
            ),
        )
        .unwrap();
    }
    let lines = dir.path().join("prjconfconstraint");
    std::fs::write(&lines, "hardware:processors 2\n").unwrap();
    let out = obsbox()
        .args(["allocate", "--arch", "i586", "--constraints"])
        .arg(&lines)
        .arg("--workers")
        .arg(&workers)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "placed on x86_64:build1:2\n");
    // Nothing fits: OBS's hint names the parts no worker meets.
    std::fs::write(
        &lines,
        "hardware:processors 8\nsandbox kvm\nhostlabel big\n",
    )
    .unwrap();
    let out = obsbox()
        .args([
            "allocate",
            "--arch",
            "x86_64",
            "--format",
            "json",
            "--constraints",
        ])
        .arg(&lines)
        .arg("--workers")
        .arg(&workers)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["obs_hint"], "hardware:processors hostlabel sandbox");
    assert!(v["decision_us"].as_u64().is_some());
}

// ---------------------------------------------------------------------------------------
// Differential test against the installed OBS Perl matcher (2.9.4)

const OBS_SERVER: &str = "/usr/lib/obs/server/BSDispatcher/Constraints.pm";

/// Cases in what 2.9.4 and current OBS read alike: one sandbox in all, at most one cpu
/// flag (2.9.4: any-of, no exclude), no memoryperjob, no empty sandbox or <cpu/>, one line
/// per element (2.9.4's list2struct replaces where current OBS adds), no overwrites.
fn generate(seed: u64) -> (String, String, String, Vec<String>) {
    let mut r = sim::Rng::new(seed);
    let arch = r
        .pick(&[
            "x86_64", "i586", "aarch64", "armv7l", "ppc64le", "ppc64", "riscv64",
        ])
        .to_string();
    let mut xml = String::from("<constraints>");
    let mut lines = Vec::new();
    let mut sandbox_done = false;
    let mut flag_done = false;
    let labels = ["big", "ssd", "SLOW"];
    let excl = [
        "",
        " exclude=\"true\"",
        " exclude=\"false\"",
        " exclude=\"TRUE\"",
    ];
    if r.chance(18) {
        xml += &format!(
            "<hostlabel{}>{}</hostlabel>",
            r.pick(&excl),
            r.pick(&labels)
        );
    }
    if r.chance(13) {
        lines.push(format!(
            "hostlabel{} {}",
            r.pick(&["", " exclude=true"]),
            r.pick(&labels)
        ));
    }
    let sandboxes = ["kvm", "xen", "chroot", "secure", "lxc"];
    if r.chance(18) {
        sandbox_done = true;
        xml += &format!(
            "<sandbox{}>{}</sandbox>",
            r.pick(&["", " exclude=\"true\""]),
            r.pick(&sandboxes)
        );
    }
    if !sandbox_done && r.chance(13) {
        lines.push(format!(
            "sandbox{} {}",
            r.pick(&["", " exclude=true"]),
            r.pick(&sandboxes)
        ));
    }
    let versions = [
        "5.3",
        "6.4.0",
        "6.4.0-150600.23.7",
        "6.4.0-150600.9",
        "6.18.44",
        "4.1.34-33",
        "1:5.0",
        "6.18.44-fc",
    ];
    if r.chance(18) {
        let mut l = String::from("<linux>");
        if r.chance(22) {
            l += &format!("<flavor>{}</flavor>", r.pick(&["default", "rt", "v1300"]));
        }
        if r.chance(31) {
            l += "<version>";
            if r.chance(31) {
                l += &format!("<min>{}</min>", r.pick(&versions));
            }
            if r.chance(18) {
                l += &format!("<max>{}</max>", r.pick(&versions));
            }
            l += "</version>";
        }
        xml += &(l + "</linux>");
    }
    if r.chance(13) {
        lines.push(format!("linux:version:min {}", r.pick(&versions)));
    }
    let units = [
        "",
        " unit=\"M\"",
        " unit=\"G\"",
        " unit=\"K\"",
        " unit=\"g\"",
    ];
    let sizes = ["1", "4", "4G", "20", "300", "2048", "10000", "3.5"];
    if r.chance(27) {
        let mut h = String::from("<hardware>");
        if r.chance(13) {
            flag_done = true;
            h += &format!(
                "<cpu><flag>{}</flag></cpu>",
                r.pick(&["sse2", "avx2", "avx512f", "power8"])
            );
        }
        if r.chance(18) {
            h += &format!(
                "<processors>{}</processors>",
                r.pick(&["1", "2", "3.5", "4", "8", "0"])
            );
        }
        if r.chance(11) {
            h += &format!("<jobs>{}</jobs>", r.pick(&["1", "2", "4"]));
        }
        for el in ["disk", "memory", "physicalmemory"] {
            if r.chance(11) {
                h += &format!(
                    "<{el}><size{}>{}</size></{el}>",
                    r.pick(&units),
                    r.pick(&sizes)
                );
            }
        }
        xml += &(h + "</hardware>");
    }
    if r.chance(13) {
        lines.push(format!("hardware:processors {}", r.pick(&["2", "4", "16"])));
    }
    if r.chance(13) {
        lines.push(format!(
            "hardware:memory:size unit={} {}",
            r.pick(&["M", "G"]),
            r.pick(&sizes)
        ));
    }
    if !flag_done && r.chance(9) {
        lines.push(format!("hardware:cpu:flag {}", r.pick(&["sse2", "avx2"])));
    }
    xml += "</constraints>";
    let mut workers = Vec::new();
    for i in 0..6 {
        let mut w = format!(
            "<worker hostarch=\"{}\" ip=\"10.0.0.{i}\" port=\"1{i}\" workerid=\"h{i}:1\">",
            r.pick(&[
                "x86_64", "x86_64", "x86_64", "x86_64", "aarch64", "i586", "ppc64le", "s390x"
            ])
        );
        for l in labels {
            if r.chance(30) {
                w += &format!("<hostlabel>{l}</hostlabel>");
            }
        }
        if r.chance(85) {
            w += &format!("<sandbox>{}</sandbox>", r.pick(&sandboxes));
        }
        if r.chance(85) {
            w += &format!(
                "<linux><version>{}</version><flavor>{}</flavor></linux>",
                r.pick(&[
                    "6.4.0-150600.23",
                    "5.14.21-150500.55",
                    "6.18.44-fc",
                    "4.1.34",
                    "6.4.0"
                ]),
                r.pick(&["default", "rt", "v1300"])
            );
        }
        if r.chance(85) {
            w += "<hardware>";
            if r.chance(80) {
                w += "<cpu>";
                for f in ["sse2", "avx2", "avx512f"] {
                    if r.chance(60) {
                        w += &format!("<flag>{f}</flag>");
                    }
                }
                w += "</cpu>";
            }
            w += &format!(
                "<processors>{}</processors><jobs>{}</jobs>",
                r.pick(&[1, 2, 4, 8]),
                r.pick(&[1, 2, 4])
            );
            if r.chance(15) {
                w += "<nativeonly/>";
            }
            if r.chance(80) {
                w += &format!(
                    "<memory>{}</memory><swap>{}</swap><disk>{}</disk>",
                    r.pick(&[2048, 8192, 65536]),
                    r.pick(&[0, 2048]),
                    r.pick(&[1024, 40960, 409600])
                );
            }
            w += "</hardware>";
        }
        workers.push(w + "</worker>\n");
    }
    (arch, xml, lines.join("\n"), workers)
}

#[test]
fn agrees_with_obs_perl_matcher_where_2_9_4_agrees_with_upstream() {
    assert!(
        Path::new(OBS_SERVER).exists(),
        "{OBS_SERVER} is missing: integration/setup.sh installs OBS's server code (obs-server)"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut list = String::new();
    let mut mine = std::collections::BTreeMap::new();
    for seed in 1..=1000u64 {
        let (arch, xml, lines, workers) = generate(seed);
        let case = dir.path().join(format!("c{seed}"));
        std::fs::create_dir_all(case.join("workers")).unwrap();
        std::fs::write(case.join("arch"), format!("{arch}\n")).unwrap();
        std::fs::write(case.join("_constraints"), &xml).unwrap();
        let mut s = constraints::from_xml(xml.as_bytes(), "_constraints").unwrap();
        if !lines.is_empty() {
            std::fs::write(case.join("lines"), format!("{lines}\n")).unwrap();
            let mut l = constraints::from_bare_lines(&lines, "lines").unwrap();
            l.add(s);
            s = l;
        }
        let con = s.combine(Some(&a(&arch)), Some("pkg")).unwrap();
        for (i, w) in workers.iter().enumerate() {
            let name = format!("h{i}");
            std::fs::write(case.join("workers").join(&name), w).unwrap();
            let worker = worker::from_xml(w.as_bytes(), &name).unwrap();
            let ok = alloc::check(&worker, &con, Some(&a(&arch))).is_ok();
            mine.insert(
                format!("{} {name}", case.display()),
                (ok, xml.clone(), lines.clone(), w.clone(), arch.clone()),
            );
        }
        list += &format!("{}\n", case.display());
    }
    std::fs::write(dir.path().join("cases"), list).unwrap();
    let out = common::run_ok(
        Command::new("perl")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/obs/obs-matcher.pl"))
            .arg("--cases")
            .arg(dir.path().join("cases")),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (mut yes, mut no, mut wrong) = (0, 0, Vec::new());
    for line in text.lines() {
        let (key, verdict) = line.rsplit_once(' ').unwrap();
        let obs = verdict == "1";
        let (ok, xml, lines, w, arch) = mine
            .remove(key)
            .unwrap_or_else(|| panic!("unknown case {key}"));
        if obs {
            yes += 1
        } else {
            no += 1
        }
        if ok != obs {
            wrong.push(format!(
                "{key}: OBS {obs}, obsbox {ok}\n  arch {arch}\n  {xml}\n  lines: {lines:?}\n  {w}"
            ));
        }
    }
    assert!(
        mine.is_empty(),
        "OBS's matcher left out {} pairs",
        mine.len()
    );
    assert!(
        wrong.is_empty(),
        "{} of {} pairs differ:\n{}",
        wrong.len(),
        yes + no,
        wrong.join("\n")
    );
    // Both verdicts well represented, or the comparison says little.
    assert!(yes >= 500 && no >= 500, "{yes} compliant, {no} not");
    eprintln!(
        "{} worker/job pairs agree with OBS's Perl matcher ({yes} compliant)",
        yes + no
    );
}

#[test]
fn size_as_getmbsize() {
    // OBS's own dispatcher test (t/0230) checks that a 4 G disk is 4096 MB (its workers and
    // <processors>2</processors> are command_with_obs_shaped_files').
    let s = constraints::from_xml(b"<constraints>\n  <hardware>\n    <disk>\n      <size unit=\"G\">4</size>\n    </disk>\n  </hardware>\n</constraints> \n", "_disk")
        .unwrap()
        .combine(None, None)
        .unwrap();
    assert_eq!(s.hardware.unwrap().disk.unwrap().mb(), 4096.0);
}

/// obs-build's own openSUSE 15.1 config (installed with obs-build): its only constraint,
/// `hardware:cpu:flag power8`, sits in `%ifarch ppc64le`, beside a commented-out one. An
/// x86_64 job gets no constraints from it; a ppc64le job needs power8.
#[test]
fn obs_build_distribution_config_per_arch() {
    let conf = Path::new("/usr/lib/obs-build/configs/sl15.1.conf");
    assert!(
        conf.exists(),
        "{} is missing: integration/setup.sh installs obs-build",
        conf.display()
    );
    let of = |arch: &str| {
        alloc::load_job_constraints(&[conf.to_path_buf()], Some(&a(arch)), None).unwrap()
    };
    assert_eq!(of("x86_64"), alloc::Constraints::default());
    let ppc = of("ppc64le");
    let flags = ppc.hardware.unwrap().cpu.unwrap();
    assert_eq!(flags.len(), 1);
    assert_eq!(
        (flags[0].value.as_str(), flags[0].exclude),
        ("power8", false)
    );
    assert!(ppc.hostlabel.is_empty());
}
