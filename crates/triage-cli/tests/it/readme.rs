//! The README's claims that a command can check: its class table names the shipped routes, its
//! cost-calculator example is what `triage cost` prints, and `--version` says what it ships.

use std::path::Path;

use assert_cmd::Command;
use triage_catalog::Catalog;
use triage_types::RouteClass;

/// The day the README's example is judged on (its lifecycle warnings change with the calendar:
/// after gpt-4o retires on 2027-01-14 the example resolves to its successor, and both the
/// README and this day must move).
const AS_OF: &str = "2026-12-02";

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    std::fs::read_to_string(&path).expect("README.md is readable")
}

/// The model ids in backticks in `cell`, in order.
fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn class_table_names_the_shipped_routes() {
    let readme = readme();
    let routes = Catalog::embedded().routes();
    for class in RouteClass::ALL {
        let prefix = format!("| {class} |");
        let row = readme
            .lines()
            .find(|line| line.starts_with(&prefix))
            .unwrap_or_else(|| panic!("README.md has no class table row for {class}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let models = backticked(cells.get(3).copied().unwrap_or_default());
        assert_eq!(
            models,
            routes.models(class),
            "README.md's row for {class} should name the catalog's [routes] {class}"
        );
    }
}

/// The `console` block that starts with `$ triage cost`: the command line and what it prints.
fn cost_example(readme: &str) -> (Vec<String>, String) {
    let start = readme
        .find("```console\n$ triage cost ")
        .expect("README.md has a ```console block running triage cost");
    let block = &readme[start + "```console\n".len()..];
    let block = &block[..block.find("```").expect("the console block ends")];
    let (command, output) = block.split_once('\n').expect("the block has output");
    let args = command
        .trim_start_matches("$ triage ")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    (args, output.to_owned())
}

#[test]
fn cost_example_is_the_real_output() {
    let (mut args, expect) = cost_example(&readme());
    args.extend(["--as-of".to_owned(), AS_OF.to_owned()]);
    let output = Command::cargo_bin("triage")
        .expect("the triage binary is built")
        .args(&args)
        .env_remove("RUST_LOG")
        .output()
        .expect("triage runs");
    assert!(output.status.success(), "triage {args:?} failed");
    // A terminal shows stderr's warnings first: they are printed before the table.
    let actual = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(
        actual,
        expect,
        "README.md's cost example should show what `triage {}` prints",
        args.join(" ")
    );
}

#[test]
fn version_names_the_release_the_model_and_the_price_date() {
    let output = Command::cargo_bin("triage")
        .expect("the triage binary is built")
        .arg("--version")
        .output()
        .expect("triage runs");
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let prices = Catalog::embedded()
        .prices_checked_on()
        .expect("the catalog has prices");
    assert_eq!(
        stdout,
        format!(
            "triage {} (model {}, catalog prices of {prices})\n",
            env!("CARGO_PKG_VERSION"),
            triage_classifier::EMBEDDED_MODEL_ID
        )
    );
    assert_ne!(
        env!("CARGO_PKG_VERSION"),
        "0.0.0",
        "give the project a version"
    );
    insta::assert_snapshot!(stdout, @"triage 0.3.0 (model default-0e1e482ec06b, catalog prices of 2026-11-29)");
}
