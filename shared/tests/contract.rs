//! `contract.json` is generated from the Rust constants; this test fails when it is stale.
//! `EBS_GENS_UPDATE_CONTRACT=1 cargo test --test contract` (or `make contract`) rewrites it.

#[test]
fn contract_json_is_current() {
    let path = format!("{}/../contract.json", env!("CARGO_MANIFEST_DIR"));
    let want = ebs_gens::contract::render();
    if std::env::var("EBS_GENS_UPDATE_CONTRACT").as_deref() == Ok("1") {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "contract.json is stale: run `make contract` and commit it (CDK and the runner read it)"
    );
}

/// docs/settings.md's table, between its markers, is generated from the settings table
/// (`make contract` rewrites it too).
#[test]
fn docs_settings_table_is_current() {
    let path = format!("{}/../docs/settings.md", env!("CARGO_MANIFEST_DIR"));
    let have = std::fs::read_to_string(&path).unwrap();
    let (begin, end) = ("<!-- settings:begin -->\n", "<!-- settings:end -->");
    let (head, rest) = have
        .split_once(begin)
        .expect("docs/settings.md has its begin marker");
    let (_, tail) = rest
        .split_once(end)
        .expect("docs/settings.md has its end marker");
    let want = format!(
        "{head}{begin}{}{end}{tail}",
        ebs_gens::config::table::markdown()
    );
    if std::env::var("EBS_GENS_UPDATE_CONTRACT").as_deref() == Ok("1") {
        std::fs::write(&path, &want).unwrap();
    }
    assert!(
        have == want,
        "docs/settings.md's table is stale: run `make contract` and commit it"
    );
}
