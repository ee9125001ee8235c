//! Finding the programs a service is started from.

use std::path::{Path, PathBuf};

/// The first executable called `name` on `PATH`, else in one of `extra_dirs` (in order).
pub(crate) fn find(name: &str, extra_dirs: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra_dirs.iter().cloned())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Debian installs each PostgreSQL major version under `/usr/lib/postgresql/<major>/bin`,
/// outside `PATH`; the newest comes first.
pub(crate) fn debian_postgres_dirs() -> Vec<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_program_in_an_extra_dir_and_not_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("wbots-test-tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find("wbots-test-tool", &[dir.path().to_owned()]), Some(tool.clone()));
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(find("wbots-test-tool", &[dir.path().to_owned()]), None, "not executable");
        assert_eq!(find("wbots-no-such-program", &[dir.path().to_owned()]), None);
    }
}
