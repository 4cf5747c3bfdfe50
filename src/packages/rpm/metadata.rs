//! What a header says about its package: name, version, relations, files, scriptlets and
//! the descriptive fields, decoded from the header's tags.

use std::path::PathBuf;

use anyhow::{Context, Result, ensure};

use super::header::*;
use super::{ChangelogEntry, Details, RpmFile, RpmPackage, Script, ScriptKind};
use crate::model::{Op, Relation};

// Dependency flags (RPMSENSE_*).
const SENSE_LESS: u32 = 0x02;
const SENSE_GREATER: u32 = 0x04;
const SENSE_EQUAL: u32 = 0x08;
/// `Requires(missingok)`: optional, nothing to resolve.
const SENSE_MISSINGOK: u32 = 0x0008_0000;
/// `rpmlib(...)` features of rpm itself; no package provides them.
const SENSE_RPMLIB: u32 = 0x0100_0000;

pub(super) fn from_header(h: &Header) -> Result<RpmPackage> {
    let epoch = h.u32s(EPOCH)?.and_then(|v| v.first().copied());
    Ok(RpmPackage {
        path: PathBuf::new(),
        file_size: 0,
        payload_offset: 0,
        name: h.required_string(NAME)?,
        epoch,
        version: h.required_string(VERSION)?,
        release: h.required_string(RELEASE)?,
        arch: package_arch(h)?,
        provides: relations(h, PROVIDENAME, PROVIDEFLAGS, PROVIDEVERSION)?,
        requires: requires(h)?,
        conflicts: relations(h, CONFLICTNAME, CONFLICTFLAGS, CONFLICTVERSION)?,
        obsoletes: relations(h, OBSOLETENAME, OBSOLETEFLAGS, OBSOLETEVERSION)?,
        files: files(h)?,
        scripts: scripts(h)?,
        payload_format: h.string(PAYLOADFORMAT)?.unwrap_or_else(|| "cpio".into()),
        payload_compressor: h
            .string(PAYLOADCOMPRESSOR)?
            .unwrap_or_else(|| "gzip".into()),
    })
}

/// Source packages carry their build arch in ARCH; what marks them is a missing SOURCERPM.
fn package_arch(h: &Header) -> Result<String> {
    if h.find(SOURCERPM).is_some() {
        return h.required_string(ARCH);
    }
    let nosrc = h.find(NOSOURCE).is_some() || h.find(NOPATCH).is_some();
    Ok(if nosrc { "nosrc" } else { "src" }.to_owned())
}

/// Maps rpm's LESS/GREATER/EQUAL sense bits to an operator.
fn sense_op(flags: u32) -> Option<Op> {
    let less = flags & SENSE_LESS != 0;
    let greater = flags & SENSE_GREATER != 0;
    let equal = flags & SENSE_EQUAL != 0;
    match (less, greater, equal) {
        (true, false, false) => Some(Op::Lt),
        (true, false, true) => Some(Op::Le),
        (false, false, true) => Some(Op::Eq),
        (false, true, true) => Some(Op::Ge),
        (false, true, false) => Some(Op::Gt),
        _ => None,
    }
}

/// Relations with their flags, from a NAME/FLAGS/VERSION tag triple.
fn relations_with_flags(
    h: &Header,
    names: Tag,
    flags: Tag,
    versions: Tag,
) -> Result<Vec<(Relation, u32)>> {
    let names = h.strings(names)?.unwrap_or_default();
    let n = names.len();
    let flags = per_item(flags, h.u32s(flags)?, n)?.unwrap_or_else(|| vec![0; n]);
    let versions =
        per_item(versions, h.strings(versions)?, n)?.unwrap_or_else(|| vec![String::new(); n]);
    Ok(names
        .into_iter()
        .zip(flags)
        .zip(versions)
        .map(|((name, flags), version)| {
            let version = match sense_op(flags) {
                Some(op) if !version.is_empty() => Some((op, version)),
                _ => None,
            };
            let relation = Relation {
                name: name.into(),
                version: version.map(|(op, v)| (op, v.into())),
            };
            (relation, flags)
        })
        .collect())
}

fn relations(h: &Header, names: Tag, flags: Tag, versions: Tag) -> Result<Vec<Relation>> {
    Ok(relations_with_flags(h, names, flags, versions)?
        .into_iter()
        .map(|(r, _)| r)
        .collect())
}

/// Requires that another package must satisfy, each once.
fn requires(h: &Header) -> Result<Vec<Relation>> {
    let mut out: Vec<Relation> = Vec::new();
    for (relation, flags) in relations_with_flags(h, REQUIRENAME, REQUIREFLAGS, REQUIREVERSION)? {
        let rpmlib = flags & SENSE_RPMLIB != 0 || relation.name.starts_with("rpmlib(");
        // Scriptlet interpreters show up once per scriptlet.
        if rpmlib || flags & SENSE_MISSINGOK != 0 || out.contains(&relation) {
            continue;
        }
        out.push(relation);
    }
    Ok(out)
}

/// Checks that an optional per-item array has one value per item.
fn per_item<T>(tag: Tag, values: Option<Vec<T>>, n: usize) -> Result<Option<Vec<T>>> {
    if let Some(v) = &values {
        ensure!(
            v.len() == n,
            "tag {} has {} values for {n} items",
            tag.1,
            v.len()
        );
    }
    Ok(values)
}

/// File paths: compressed (DIRNAMES + BASENAMES by DIRINDEXES) or the old full list.
fn file_paths(h: &Header) -> Result<Vec<String>> {
    let Some(basenames) = h.strings(BASENAMES)? else {
        return Ok(h.strings(OLDFILENAMES)?.unwrap_or_default());
    };
    let dirnames = h.strings(DIRNAMES)?.unwrap_or_default();
    let indexes = per_item(DIRINDEXES, h.u32s(DIRINDEXES)?, basenames.len())?
        .context("the header has BASENAMES but no DIRINDEXES")?;
    basenames
        .iter()
        .zip(indexes)
        .map(|(base, i)| {
            let dir = dirnames
                .get(i as usize)
                .with_context(|| format!("DIRINDEXES: index {i} is past the end of DIRNAMES"))?;
            Ok(format!("{dir}{base}"))
        })
        .collect()
}

fn files(h: &Header) -> Result<Vec<RpmFile>> {
    let paths = file_paths(h)?;
    let n = paths.len();
    let ints = |tag: Tag, kind: u32, width: usize| -> Result<Vec<u64>> {
        Ok(per_item(tag, h.ints(tag, kind, width)?, n)?.unwrap_or_else(|| vec![0; n]))
    };
    let strings = |tag: Tag| -> Result<Vec<String>> {
        Ok(per_item(tag, h.strings(tag)?, n)?.unwrap_or_else(|| vec![String::new(); n]))
    };
    let sizes = match h.find(LONGFILESIZES) {
        Some(_) => ints(LONGFILESIZES, TYPE_INT64, 8)?,
        None => ints(FILESIZES, TYPE_INT32, 4)?,
    };
    let modes = ints(FILEMODES, TYPE_INT16, 2)?;
    let rdevs = ints(FILERDEVS, TYPE_INT16, 2)?;
    let mtimes = ints(FILEMTIMES, TYPE_INT32, 4)?;
    let flags = ints(FILEFLAGS, TYPE_INT32, 4)?;
    let inodes = ints(FILEINODES, TYPE_INT32, 4)?;
    let devices = ints(FILEDEVICES, TYPE_INT32, 4)?;
    let links = strings(FILELINKTOS)?;
    let users = strings(FILEUSERNAME)?;
    let groups = strings(FILEGROUPNAME)?;
    let caps = strings(FILECAPS)?;
    // Narrowing casts below: each value was read at exactly that width.
    Ok((0..n)
        .map(|i| RpmFile {
            path: paths[i].clone(),
            mode: modes[i] as u32,
            size: sizes[i],
            link_target: links[i].clone(),
            user: users[i].clone(),
            group: groups[i].clone(),
            mtime: mtimes[i] as u32,
            flags: flags[i] as u32,
            capability: Some(caps[i].clone()).filter(|c| !c.is_empty()),
            rdev: rdevs[i] as u32,
            inode: inodes[i] as u32,
            device: devices[i] as u32,
        })
        .collect())
}

fn scripts(h: &Header) -> Result<Vec<Script>> {
    let kinds = [
        (ScriptKind::PreIn, PREIN, PREINPROG),
        (ScriptKind::PostIn, POSTIN, POSTINPROG),
        (ScriptKind::PreUn, PREUN, PREUNPROG),
        (ScriptKind::PostUn, POSTUN, POSTUNPROG),
    ];
    let mut out = Vec::new();
    for (kind, body_tag, prog_tag) in kinds {
        let body = h.string(body_tag)?;
        // The program is a string, or a string array when it has arguments.
        let prog = h.strings(prog_tag)?;
        if body.is_none() && prog.is_none() {
            continue;
        }
        out.push(Script {
            kind,
            interpreter: prog.unwrap_or_else(|| vec!["/bin/sh".to_owned()]),
            body: body.unwrap_or_default(),
        });
    }
    Ok(out)
}

pub(super) fn details(h: &Header) -> Result<Details> {
    let text = |tag: Tag| -> Result<String> { Ok(h.string(tag)?.unwrap_or_default()) };
    let names = h.strings(CHANGELOGNAME)?.unwrap_or_default();
    let n = names.len();
    let times = per_item(CHANGELOGTIME, h.u32s(CHANGELOGTIME)?, n)?.unwrap_or_else(|| vec![0; n]);
    let texts = per_item(CHANGELOGTEXT, h.strings(CHANGELOGTEXT)?, n)?
        .unwrap_or_else(|| vec![String::new(); n]);
    let changelog = names
        .into_iter()
        .zip(times)
        .zip(texts)
        .map(|((author, time), text)| ChangelogEntry { time, author, text })
        .collect();
    let mut other_scripts = Vec::new();
    for tag in [
        PRETRANS,
        PRETRANSPROG,
        POSTTRANS,
        POSTTRANSPROG,
        VERIFYSCRIPT,
        VERIFYSCRIPTPROG,
        TRIGGERNAME,
        TRIGGERSCRIPTPROG,
        TRIGGERSCRIPTS,
        FILETRIGGERNAME,
        FILETRIGGERSCRIPTPROG,
        FILETRIGGERSCRIPTS,
        TRANSFILETRIGGERNAME,
        TRANSFILETRIGGERSCRIPTPROG,
        TRANSFILETRIGGERSCRIPTS,
    ] {
        if let Some(values) = h.strings(tag)? {
            other_scripts.push((tag.1, values));
        }
    }
    Ok(Details {
        summary: text(SUMMARY)?,
        description: text(DESCRIPTION)?,
        license: text(LICENSE)?,
        group: text(GROUP)?,
        url: text(URL)?,
        changelog,
        recommends: relations(h, RECOMMENDNAME, RECOMMENDFLAGS, RECOMMENDVERSION)?,
        suggests: relations(h, SUGGESTNAME, SUGGESTFLAGS, SUGGESTVERSION)?,
        supplements: relations(h, SUPPLEMENTNAME, SUPPLEMENTFLAGS, SUPPLEMENTVERSION)?,
        enhances: relations(h, ENHANCENAME, ENHANCEFLAGS, ENHANCEVERSION)?,
        other_scripts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Format;
    use crate::packages::Listing;
    use crate::packages::rpm::testutil::*;

    #[test]
    fn header_fields_match_rpm_query() {
        let built = rpmbuild(&spec("w9.gzdio"), "-bb");
        let pkg = RpmPackage::open(&built.rpm).unwrap();
        let nevra = rpm_query(
            &built.rpm,
            "%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}|%{PAYLOADFORMAT}|%{PAYLOADCOMPRESSOR}",
        );
        let ours = format!(
            "{}|{}|{}|{}|{}|{}|{}",
            pkg.name,
            pkg.epoch.unwrap(),
            pkg.version,
            pkg.release,
            pkg.arch,
            pkg.payload_format,
            pkg.payload_compressor
        );
        assert_eq!(ours, nevra);
        assert_eq!(pkg.evr(), "4:1.2-3");

        let mut requires = query_relations(&built.rpm, "REQUIRE");
        requires.retain(|r| !r.starts_with("rpmlib("));
        requires.dedup();
        assert_eq!(relation_lines(&pkg.requires), requires);
        assert!(requires.contains(&"old-lib|<|3".to_owned()));
        for (kind, ours) in [
            ("PROVIDE", &pkg.provides),
            ("CONFLICT", &pkg.conflicts),
            ("OBSOLETE", &pkg.obsoletes),
        ] {
            assert_eq!(
                relation_lines(ours),
                query_relations(&built.rpm, kind),
                "{kind}"
            );
        }

        let files = rpm_query(
            &built.rpm,
            "[%{FILENAMES}|%{FILEMODES}|%{FILESIZES}|%{FILEUSERNAME}|%{FILEGROUPNAME}|\
             %{FILEMTIMES}|%{FILEFLAGS}|%{FILELINKTOS}|%{FILECAPS}|%{FILERDEVS}\n]",
        );
        let ours: Vec<String> = pkg
            .files
            .iter()
            .map(|f| {
                format!(
                    "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
                    f.path,
                    f.mode,
                    f.size,
                    f.user,
                    f.group,
                    f.mtime,
                    f.flags,
                    f.link_target,
                    f.capability.as_deref().unwrap_or(""),
                    f.rdev
                )
            })
            .collect();
        assert_eq!(ours, files.lines().collect::<Vec<_>>());
        let conf = pkg.files.iter().find(|f| f.path == "/etc/obstest.conf");
        assert!(conf.unwrap().is_config());
        let log = pkg.files.iter().find(|f| f.path == "/var/log/obstest.log");
        assert!(log.unwrap().is_ghost());

        for (kind, tag) in [
            (ScriptKind::PreIn, "PREIN"),
            (ScriptKind::PostIn, "POSTIN"),
            (ScriptKind::PreUn, "PREUN"),
            (ScriptKind::PostUn, "POSTUN"),
        ] {
            let body = rpm_query(&built.rpm, &format!("%{{{tag}}}"));
            let prog = rpm_query(&built.rpm, &format!("%{{{tag}PROG}}"));
            let ours = pkg.scripts.iter().find(|s| s.kind == kind);
            match ours {
                Some(s) => {
                    assert_eq!(s.body, body, "{tag}");
                    assert_eq!(s.interpreter.join(" "), prog, "{tag}PROG");
                }
                None => assert_eq!((body.as_str(), prog.as_str()), ("(none)", "(none)")),
            }
        }
        assert_eq!(pkg.scripts.len(), 2);

        let meta = pkg.meta("noarch/obstest.rpm", 3);
        assert_eq!(meta.format, Format::Rpm);
        assert_eq!(meta.nevra(), "obstest=4:1.2-3.noarch");
        assert_eq!(meta.depends.len(), pkg.requires.len());
        assert!(meta.depends.iter().all(|group| group.len() == 1));
        assert_eq!(meta.conflicts.len(), 2);
        assert!(meta.files.contains(&"/usr/bin/hello".to_owned()));
        assert_eq!(meta.size, std::fs::metadata(&built.rpm).unwrap().len());
        assert_eq!(
            (meta.location.as_str(), meta.repo),
            ("noarch/obstest.rpm", 3)
        );
    }

    #[test]
    fn source_packages_report_src_and_nosrc() {
        let built = rpmbuild(&spec("w9.gzdio"), "-bs");
        let pkg = RpmPackage::open(&built.rpm).unwrap();
        assert_eq!(pkg.arch, "src");
        let mut listing = Listing::default();
        pkg.extract(&mut listing).unwrap();
        assert_eq!(listing.entries.len(), 1);
        assert_eq!(listing.entries[0].path, b"test.spec");

        let nosrc = spec("w9.gzdio").replace(
            "BuildArch: noarch\n",
            "BuildArch: noarch\nSource0: obstest-1.2.tar.gz\nNoSource: 0\n",
        );
        // rpmbuild wants even a NoSource file present, though it leaves it out.
        let built = rpmbuild_with_sources(&nosrc, "-bs", &["obstest-1.2.tar.gz"]);
        assert_eq!(RpmPackage::open(&built.rpm).unwrap().arch, "nosrc");
    }

    #[test]
    fn sense_bits_map_to_operators() {
        assert_eq!(sense_op(SENSE_LESS), Some(Op::Lt));
        assert_eq!(sense_op(SENSE_LESS | SENSE_EQUAL), Some(Op::Le));
        assert_eq!(sense_op(SENSE_EQUAL | SENSE_RPMLIB), Some(Op::Eq));
        assert_eq!(sense_op(SENSE_GREATER | SENSE_EQUAL), Some(Op::Ge));
        assert_eq!(sense_op(SENSE_GREATER), Some(Op::Gt));
        assert_eq!(sense_op(0x0400), None);
    }

    #[test]
    fn details_match_rpm_query() {
        let spec = r#"Name: obsdetails
Version: 1
Release: 1
Summary: details test
License: MIT AND BSD-3-Clause
Group: System/Testing
URL: https://example.org/obsdetails
BuildArch: noarch
Recommends: rec-a >= 2
Suggests: sug-b
Supplements: sup-c
Enhances: enh-d < 3
%description
Line one.
Line two.
%install
mkdir -p %{buildroot}/usr/share
echo x > %{buildroot}/usr/share/obsdetails
%files
/usr/share/obsdetails
%pretrans -p <lua>
print("pre")
%posttrans
echo posttrans
%triggerin -- bash
echo trigger
%changelog
* Tue Mar 05 2024 B Person <b@example.org> - 1-1
- second
* Mon Mar 04 2024 A Person <a@example.org>
- first
"#;
        let built = rpmbuild(spec, "-bb");
        let details = RpmPackage::open(&built.rpm).unwrap().details().unwrap();
        let fields = rpm_query(
            &built.rpm,
            "%{SUMMARY}|%{DESCRIPTION}|%{LICENSE}|%{GROUP}|%{URL}",
        );
        let ours = [
            &details.summary,
            &details.description,
            &details.license,
            &details.group,
            &details.url,
        ];
        assert_eq!(ours.map(String::as_str).join("|"), fields);
        let changelog = rpm_query(
            &built.rpm,
            "[%{CHANGELOGTIME}|%{CHANGELOGNAME}|%{CHANGELOGTEXT}\n]",
        );
        let ours: Vec<String> = details
            .changelog
            .iter()
            .map(|c| format!("{}|{}|{}", c.time, c.author, c.text))
            .collect();
        assert_eq!(ours, changelog.lines().collect::<Vec<_>>());
        assert_eq!(details.changelog.len(), 2);
        for (kind, ours) in [
            ("RECOMMEND", &details.recommends),
            ("SUGGEST", &details.suggests),
            ("SUPPLEMENT", &details.supplements),
            ("ENHANCE", &details.enhances),
        ] {
            assert_eq!(
                relation_lines(ours),
                query_relations(&built.rpm, kind),
                "{kind}"
            );
            assert_eq!(ours.len(), 1, "{kind}");
        }
        for (tag, values) in &details.other_scripts {
            let query = rpm_query(&built.rpm, &format!("[%{{{tag}}}\\n]"));
            assert_eq!(values.join("\n"), query.trim_end(), "{tag}");
        }
        let tags: Vec<&str> = details.other_scripts.iter().map(|(t, _)| *t).collect();
        for tag in [
            "PRETRANS",
            "PRETRANSPROG",
            "POSTTRANS",
            "TRIGGERNAME",
            "TRIGGERSCRIPTS",
        ] {
            assert!(tags.contains(&tag), "{tag} missing from {tags:?}");
        }
    }
}
