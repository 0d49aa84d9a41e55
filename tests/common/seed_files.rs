//! The seed corpus of a fuzz target, `fuzz/seeds/TARGET/`, for the tests that
//! run the target's checks bounded in CI.

use std::path::PathBuf;

/// Where the seeds of fuzz target `target` live.
pub fn seed_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target)
}

/// The seeds of fuzz target `target`: (file name, bytes), by name.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = seed_dir(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.expect("a directory entry").path();
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            (name.unwrap_or_default(), std::fs::read(&p).expect("a seed"))
        })
        .collect();
    v.sort();
    v
}
