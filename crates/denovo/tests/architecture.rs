//! docs/architecture.md's crate table matches the manifests: each crate's "uses" column
//! is exactly its direct denovo dependencies (what `cargo tree --workspace --depth 1 -e
//! normal` prints), and every crate is listed below everything it uses (no crate imports
//! one above it).

use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("../..")
}

/// The denovo crates among `[dependencies]` of a manifest (short names: `data`, `glm`, …).
fn normal_denovo_deps(manifest: &str) -> BTreeSet<String> {
    let doc: toml::Table = toml::from_str(manifest).unwrap();
    doc.get("dependencies")
        .and_then(|d| d.as_table())
        .map(|d| {
            d.keys()
                .filter_map(|k| k.strip_prefix("denovo-").map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_crate_table_matches_the_manifests_and_is_layered() {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let workspace: toml::Table =
        toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
    let members: Vec<String> = workspace["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    let mut listed = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with("| `denovo")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].split('`').nth(1).unwrap().to_string();
        let uses: BTreeSet<String> = match cells[2] {
            "—" => BTreeSet::new(),
            list => list.split(',').map(|s| s.trim().to_string()).collect(),
        };
        listed.push((name, uses));
    }
    let short = |n: &str| n.strip_prefix("denovo-").unwrap_or("").to_string();
    assert_eq!(listed.len(), members.len(), "one row per workspace member");
    for member in &members {
        let manifest = std::fs::read_to_string(root().join(member).join("Cargo.toml")).unwrap();
        let name = toml::from_str::<toml::Table>(&manifest).unwrap()["package"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        let (pos, (_, uses)) = listed
            .iter()
            .enumerate()
            .find(|(_, (n, _))| *n == name)
            .unwrap_or_else(|| panic!("{name} is not in docs/architecture.md"));
        assert_eq!(
            uses,
            &normal_denovo_deps(&manifest),
            "{name}: the `uses` column"
        );
        for dep in uses {
            let above = listed[..pos].iter().any(|(n, _)| short(n) == *dep);
            assert!(above, "{name} uses {dep}, which is not listed above it");
        }
    }
}
