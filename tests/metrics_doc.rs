//! `docs/METRICS.md` lists exactly the metric names recorded in `src/`.

use std::collections::BTreeSet;
use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `plaza_…` name in backticks or quotes that follows a `counter!(`,
/// `gauge!(` or `histogram!(`.
fn recorded() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut names = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for macro_name in ["counter!(", "gauge!(", "histogram!("] {
            for (at, _) in text.match_indices(macro_name) {
                let rest = text[at + macro_name.len()..].trim_start();
                if let Some(quoted) = rest.strip_prefix('"') {
                    let name: String = quoted.chars().take_while(|c| *c != '"').collect();
                    names.insert(name);
                }
            }
        }
    }
    names
}

fn documented() -> BTreeSet<String> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/METRICS.md"))
            .expect("docs/METRICS.md");
    let mut names = BTreeSet::new();
    for line in doc.lines().filter(|l| l.starts_with("| `plaza_")) {
        let first_cell = line.split('|').nth(1).unwrap_or_default();
        for part in first_cell.split('`').skip(1).step_by(2) {
            names.insert(part.to_owned());
        }
    }
    names
}

#[test]
fn every_recorded_metric_is_documented_and_every_documented_one_exists() {
    let recorded = recorded();
    let documented = documented();
    assert!(
        recorded.len() > 20,
        "the scan found too few names: {recorded:?}"
    );
    let missing: Vec<_> = recorded.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&recorded).collect();
    assert!(
        missing.is_empty(),
        "recorded but not in docs/METRICS.md: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "in docs/METRICS.md but never recorded: {stale:?}"
    );
}
