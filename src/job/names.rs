//! The OBS names a job carries, checked where it is read (the rules: [`crate::names::obs`]).

use anyhow::Result;

use super::{Bdep, Job};
use crate::names::obs::{package, project, repository};

/// Checks every OBS name a job carries: its project, repository and package (each when
/// given: a job may leave them empty), and those of its bdeps and repositories.
pub fn check_job(job: &Job) -> Result<()> {
    let given = |v: &str| !v.is_empty();
    if given(&job.project) {
        project("project", &job.project)?;
    }
    if given(&job.repository) {
        repository("repository", &job.repository)?;
    }
    if given(&job.package) {
        package("package", &job.package)?;
    }
    for (what, repos) in [("path", &job.repos), ("syspath", &job.toolbox_repos)] {
        for repo in repos {
            if let Some(p) = &repo.project {
                project(&format!("{what} project"), p)?;
            }
            if let Some(r) = &repo.repository {
                repository(&format!("{what} repository"), r)?;
            }
        }
    }
    job.bdeps.iter().try_for_each(check_bdep)
}

/// Checks the OBS names of one bdep (a reader that does not keep its bdeps checks them
/// as it reads them).
pub fn check_bdep(bdep: &Bdep) -> Result<()> {
    if let Some(p) = &bdep.project {
        project(&format!("bdep {} project", bdep.name), p)?;
    }
    if let Some(r) = &bdep.repository {
        repository(&format!("bdep {} repository", bdep.name), r)?;
    }
    Ok(())
}
