//! Tidy tests: the invariants of `ARCHITECTURE.md`, checked by plain `cargo test`, the way
//! rust-analyzer's `xtask/src/tidy.rs` does. Manifests are read with `toml`, sources as text:
//! no `cargo metadata`, no Rust parser, so these tests build in seconds.
//!
//! - [`crate_dependencies_follow_the_architecture`]: which internal crate may depend on which.
//! - [`xtask_builds_without_candle`]: `cargo xtask --help` compiles no inference runtime.
//! - [`no_import_cycles_between_modules`]: no cycles between the modules of one crate.
//! - [`only_the_cli_reads_environment_variables`] and [`clap_env_names_are_constants`].
//! - [`every_file_starts_with_a_module_doc`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

use crate::project_root;

// ---------------------------------------------------------------------------------------------
// Crate dependency rules.

/// The internal crates each crate may list in `[dependencies]` (and `[build-dependencies]`),
/// mirroring the invariants of `ARCHITECTURE.md`. A crate named here but missing from disk is
/// fine (it may be on its way); a crate on disk but missing here is an error.
const ALLOWED_DEPENDENCIES: &[(&str, &[&str])] = &[
    ("triage-types", &[]),
    ("triage-catalog", &["triage-types"]),
    ("triage-strategies", &["triage-types", "triage-catalog"]),
    ("triage-classifier", &["triage-types"]),
    ("triage-providers", &["triage-types"]),
    (
        "triage-config",
        &[
            "triage-types",
            "triage-catalog",
            "triage-strategies",
            "triage-fallback",
        ],
    ),
    (
        "triage-fallback",
        // The executor walks the policy's `RoutePlan`: one plan type.
        &[
            "triage-types",
            "triage-catalog",
            "triage-strategies",
            "triage-providers",
        ],
    ),
    ("triage-ledger", &["triage-types"]),
    // Keys, budgets and rate limits: plain data in, Redis or a map behind; knows no request.
    ("triage-limits", &["triage-types"]),
    (
        "triage-engine",
        &[
            "triage-types",
            "triage-catalog",
            "triage-strategies",
            "triage-config",
            "triage-providers",
            "triage-fallback",
            "triage-ledger",
            "triage-limits",
        ],
    ),
    (
        "triage-server",
        &[
            "triage-types",
            "triage-catalog",
            "triage-strategies",
            "triage-config",
            "triage-fallback",
            "triage-ledger",
            "triage-limits",
            "triage-engine",
        ],
    ),
    (
        "triage-cli",
        &[
            "triage-types",
            "triage-catalog",
            "triage-strategies",
            "triage-classifier",
            "triage-providers",
            "triage-config",
            "triage-fallback",
            "triage-ledger",
            "triage-limits",
            "triage-engine",
            "triage-server",
            // `triage mock-upstream` serves the mock.
            "triage-mock",
        ],
    ),
    ("triage-mock", &[]),
    (
        "xtask",
        &[
            "triage-types",
            "triage-catalog",
            "triage-strategies",
            // `cargo xtask bench-gateway` runs the gateway against the mock.
            "triage-mock",
        ],
    ),
    // `cargo xtask train-model` runs it; the only automation that builds candle.
    ("xtask-train", &["triage-types", "triage-classifier"]),
];

/// Crates that do no I/O: neither they nor the internal crates they build on may depend on
/// an inference runtime, an async runtime, HTTP or SQLite.
const PURE_CRATES: &[&str] = &["triage-types", "triage-catalog", "triage-strategies"];

/// Prefixes of external crates that a pure crate may not depend on.
const IMPURE_DEPENDENCIES: &[&str] = &["candle", "tokio", "reqwest", "axum", "rusqlite", "hyper"];

/// Crates that may be named only by the crates listed with them, whatever the table says.
const RESTRICTED_TARGETS: &[(&str, &[&str])] = &[
    ("triage-cli", &[]),
    ("triage-server", &["triage-cli"]),
    ("triage-mock", &["triage-cli", "xtask"]),
];

/// The one internal crate `triage-providers` may depend on, whatever the table says.
const PROVIDERS_MAY_DEPEND_ON: &[&str] = &["triage-types"];

/// The rules that hold "in any case" also hold for the table, so that widening the table
/// cannot quietly allow a cycle, a dependency on an edge crate or an impure pure crate.
#[test]
fn dependency_table_keeps_the_fixed_rules() {
    let table = allowed_dependencies();
    let mut problems = Vec::new();
    for (from, targets) in &table {
        for to in targets {
            if !table.contains_key(to.as_str()) {
                problems.push(format!(
                    "{from} -> {to}: {to} has no row in ALLOWED_DEPENDENCIES"
                ));
            }
            for (restricted, users) in RESTRICTED_TARGETS {
                if to == restricted && !users.contains(&from.as_str()) {
                    problems.push(format!("{from} -> {to}: only {users:?} may depend on {to}"));
                }
            }
            if from == "triage-providers" && !PROVIDERS_MAY_DEPEND_ON.contains(&to.as_str()) {
                problems.push(format!(
                    "{from} -> {to}: triage-providers builds on triage-types only"
                ));
            }
            if from == "triage-server" && to == "triage-providers" {
                problems.push(format!(
                    "{from} -> {to}: the server reaches providers through triage-fallback"
                ));
            }
            if PURE_CRATES.contains(&from.as_str()) && !PURE_CRATES.contains(&to.as_str()) {
                problems.push(format!(
                    "{from} -> {to}: a pure crate builds on pure crates only"
                ));
            }
        }
    }
    let graph: Graph = table
        .iter()
        .flat_map(|(from, targets)| {
            targets.iter().map(move |to| {
                (
                    (from.clone(), to.clone()),
                    "ALLOWED_DEPENDENCIES".to_owned(),
                )
            })
        })
        .collect();
    problems.extend(
        cycles(&graph)
            .into_iter()
            .map(|cycle| format!("cycle in the table: {cycle}")),
    );
    assert_problems("the crate dependency table in xtask/src/tidy.rs", &problems);
}

/// Every manifest's internal `[dependencies]` are allowed by [`ALLOWED_DEPENDENCIES`]; dev-
/// dependencies name neither `triage-cli`, nor `triage-server` unless allowed, nor a crate that
/// depends back on this one; pure crates (and what they build on) stay pure; no cycles.
#[test]
fn crate_dependencies_follow_the_architecture() {
    let table = allowed_dependencies();
    let manifests = manifests();
    let mut problems = Vec::new();
    let mut graph = Graph::new();
    for manifest in manifests.values() {
        let Some(allowed) = table.get(manifest.name.as_str()) else {
            problems.push(format!(
                "{}: {} has no row in ALLOWED_DEPENDENCIES (xtask/src/tidy.rs); add one and \
                 describe the crate in ARCHITECTURE.md",
                manifest.path, manifest.name
            ));
            continue;
        };
        for dependency in &manifest.dependencies {
            if !dependency.internal() {
                continue;
            }
            let (from, to) = (&manifest.name, &dependency.name);
            if dependency.dev {
                let restricted = RESTRICTED_TARGETS.iter().any(|(name, _)| name == to);
                if to == from || (restricted && to != "triage-mock" && !allowed.contains(to)) {
                    problems.push(format!(
                        "{}: [{}] {to}: {from} may not depend on {to}, not even in tests",
                        manifest.path, dependency.section
                    ));
                }
                continue;
            }
            if !allowed.contains(to) {
                problems.push(format!(
                    "{}: [{}] {to}: {from} may not depend on {to} (allowed: {})",
                    manifest.path,
                    dependency.section,
                    allowed.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            graph.insert(
                (from.clone(), to.clone()),
                format!("{} [{}]", manifest.path, dependency.section),
            );
        }
    }
    problems.extend(
        cycles(&graph)
            .into_iter()
            .map(|cycle| format!("dependency cycle: {cycle}")),
    );

    // A dev-dependency may not depend back on the crate that uses it.
    for manifest in manifests.values() {
        for dependency in manifest
            .dependencies
            .iter()
            .filter(|d| d.dev && d.internal())
        {
            if reaches(&graph, &dependency.name, &manifest.name) {
                problems.push(format!(
                    "{}: [{}] {}: it depends back on {}",
                    manifest.path, dependency.section, dependency.name, manifest.name
                ));
            }
        }
    }

    for pure in PURE_CRATES {
        let Some(manifest) = manifests.get(*pure) else {
            continue;
        };
        let mut names = vec![manifest.name.clone()];
        names.extend(
            graph
                .keys()
                .filter(|(from, _)| from == pure)
                .map(|(_, to)| to.clone()),
        );
        for name in names {
            let Some(built_on) = manifests.get(name.as_str()) else {
                continue;
            };
            for dependency in built_on.dependencies.iter().filter(|d| !d.dev) {
                if IMPURE_DEPENDENCIES
                    .iter()
                    .any(|prefix| dependency.name.starts_with(prefix))
                {
                    problems.push(format!(
                        "{}: [{}] {}: {pure} is pure (no I/O), so neither it nor {name} may \
                         depend on {}",
                        built_on.path, dependency.section, dependency.name, dependency.name
                    ));
                }
            }
        }
    }
    assert_problems("crate dependencies", &problems);
}

/// Crates that `xtask` must build without, with everything it builds on, so that
/// `cargo xtask --help` and the light commands do not compile an inference runtime (training
/// lives in `xtask-train`, which `cargo xtask train-model` runs).
const XTASK_MAY_NOT_BUILD: &[&str] = &["candle", "tokenizers", "triage-classifier"];

/// `xtask` and the internal crates it builds on (their normal dependencies, transitively)
/// name none of [`XTASK_MAY_NOT_BUILD`]; `cargo tree -p xtask | grep candle` is empty.
#[test]
fn xtask_builds_without_candle() {
    let manifests = manifests();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    let mut pending = vec!["xtask".to_owned()];
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(manifest) = manifests.get(name.as_str()) else {
            problems.push(format!("{name}: no manifest found"));
            continue;
        };
        for dependency in manifest.dependencies.iter().filter(|d| !d.dev) {
            if XTASK_MAY_NOT_BUILD
                .iter()
                .any(|prefix| dependency.name.starts_with(prefix))
            {
                problems.push(format!(
                    "{}: [{}] {}: xtask builds on {name}, and xtask may not build {}; \
                     put the code that needs it in xtask-train",
                    manifest.path, dependency.section, dependency.name, dependency.name
                ));
            }
            if dependency.internal() {
                pending.push(dependency.name.clone());
            }
        }
    }
    assert_problems("what xtask builds", &problems);
}

fn allowed_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    ALLOWED_DEPENDENCIES
        .iter()
        .map(|(name, targets)| {
            let targets = targets.iter().map(|target| (*target).to_owned()).collect();
            ((*name).to_owned(), targets)
        })
        .collect()
}

/// One crate's manifest, reduced to what the rules need.
struct Manifest {
    name: String,
    /// Relative to the repository root, for messages.
    path: String,
    dependencies: Vec<Dependency>,
}

struct Dependency {
    /// The package name (`package = "…"` when the dependency is renamed).
    name: String,
    /// The table it is listed in, such as `dependencies` or `target.'cfg(unix)'.dev-dependencies`.
    section: String,
    dev: bool,
}

impl Dependency {
    fn internal(&self) -> bool {
        self.name.starts_with("triage-") || self.name.starts_with("xtask")
    }
}

/// Every `crates/*/Cargo.toml`, `xtask/Cargo.toml` and `xtask/train/Cargo.toml`, by package
/// name.
fn manifests() -> BTreeMap<String, Manifest> {
    let root = project_root();
    let mut paths: Vec<PathBuf> = read_dir_sorted(&root.join("crates"))
        .into_iter()
        .map(|dir| dir.join("Cargo.toml"))
        .filter(|path| path.is_file())
        .collect();
    paths.push(root.join("xtask/Cargo.toml"));
    paths.push(root.join("xtask/train/Cargo.toml"));
    paths
        .iter()
        .map(|path| {
            let manifest = parse_manifest(&root, path);
            (manifest.name.clone(), manifest)
        })
        .collect()
}

fn parse_manifest(root: &Path, path: &Path) -> Manifest {
    let display = relative(root, path);
    let text = fs::read_to_string(path).unwrap_or_else(|error| panic!("{display}: {error}"));
    let table: toml::Table =
        toml::from_str(&text).unwrap_or_else(|error| panic!("{display}: {error}"));
    let name = table
        .get("package")
        .and_then(|package| package.get("name"))
        .and_then(toml::Value::as_str)
        .unwrap_or_else(|| panic!("{display}: no package.name"))
        .to_owned();
    let mut dependencies = Vec::new();
    let mut collect = |prefix: &str, tables: &toml::Table| {
        for (kind, dev) in [
            ("dependencies", false),
            ("build-dependencies", false),
            ("dev-dependencies", true),
        ] {
            let Some(listed) = tables.get(kind).and_then(toml::Value::as_table) else {
                continue;
            };
            for (key, value) in listed {
                let name = value
                    .get("package")
                    .and_then(toml::Value::as_str)
                    .unwrap_or(key);
                dependencies.push(Dependency {
                    name: name.to_owned(),
                    section: format!("{prefix}{kind}"),
                    dev,
                });
            }
        }
    };
    collect("", &table);
    if let Some(targets) = table.get("target").and_then(toml::Value::as_table) {
        for (target, tables) in targets {
            if let Some(tables) = tables.as_table() {
                collect(&format!("target.'{target}'."), tables);
            }
        }
    }
    Manifest {
        name,
        path: display,
        dependencies,
    }
}

// ---------------------------------------------------------------------------------------------
// Module cycles.

/// No import cycles between the modules of one crate (every `crates/*` and xtask).
///
/// The rule, precisely:
/// - The modules are those reached from `src/lib.rs` (or `src/main.rs`) through `mod name;`
///   declarations. An item under `#[cfg(test)]` (a `mod tests;`, an inline `mod tests { … }`,
///   a test-only `use`) is ignored, and so are comments and string literals.
/// - A file is its module: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`; `lib.rs`/`main.rs` is
///   the root. Its references are the paths starting with `crate::`, `super::` or `self::`,
///   in `use` declarations (braces expanded) and anywhere in code.
/// - A path is resolved to the module that defines the item: it descends through child
///   modules, and a name imported into a module (`pub use child::Item` in `lib.rs`, say) is
///   followed to where it comes from. So `use crate::Item` counts as a reference to `child`,
///   not to the root.
/// - An edge joins two siblings: a reference from `a::b::c` to `a::d::e` is the edge
///   `a::b -> a::d`, drawn at the level where the two paths part. A module referring to its own
///   descendants or ancestors (including the root, and `super::Item` from a child) draws no
///   edge: a parent may use everything below it, and a child may use items its parent defines
///   without that being a cycle.
/// - A cycle is a path of such edges back to where it started; each is reported with the
///   `file:line` of the first reference behind each edge. There is no allow-list.
#[test]
fn no_import_cycles_between_modules() {
    let root = project_root();
    let mut problems = Vec::new();
    for source in crate_sources(&root) {
        let graph = module_graph(&root, &source);
        for cycle in cycles(&graph) {
            problems.push(format!("{}: {cycle}", relative(&root, &source)));
        }
    }
    assert_problems("module import cycles", &problems);
}

/// The `src` directories of every crate and of xtask.
fn crate_sources(root: &Path) -> Vec<PathBuf> {
    let mut sources: Vec<PathBuf> = read_dir_sorted(&root.join("crates"))
        .into_iter()
        .map(|dir| dir.join("src"))
        .filter(|src| src.is_dir())
        .collect();
    sources.push(root.join("xtask/src"));
    sources.push(root.join("xtask/train/src"));
    sources
}

/// A module's place in the tree and what its file imports.
#[derive(Default)]
struct Module {
    children: BTreeSet<String>,
    /// Name brought into scope by a `use` → the path it stands for (absolute within the
    /// crate, or `None` for an external crate).
    imports: BTreeMap<String, Option<Vec<String>>>,
}

/// One path out of a file: where it points and on which line.
struct Reference {
    path: Vec<String>,
    line: usize,
}

/// Edges between sibling modules (`a::b` → `a::c`), each with the first `file:line` behind it.
type Graph = BTreeMap<(String, String), String>;

fn module_graph(root: &Path, src: &Path) -> Graph {
    let entry = ["lib.rs", "main.rs"]
        .iter()
        .map(|name| src.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{}: no lib.rs or main.rs", relative(root, src)));

    // Walk the module tree, collecting each module's references.
    let mut modules: BTreeMap<Vec<String>, Module> = BTreeMap::new();
    let mut references: Vec<(Vec<String>, String, Reference)> = Vec::new();
    let mut queue = VecDeque::from([(Vec::<String>::new(), entry)]);
    while let Some((path, file)) = queue.pop_front() {
        let display = relative(root, &file);
        let text = fs::read_to_string(&file).unwrap_or_else(|error| panic!("{display}: {error}"));
        let code = strip_test_items(&code_only(&text));
        let children_dir = match file.file_name().and_then(|name| name.to_str()) {
            Some("lib.rs" | "main.rs" | "mod.rs") => file.parent().map(Path::to_path_buf),
            _ => Some(file.with_extension("")),
        }
        .unwrap_or_default();
        let mut module = Module::default();
        for child in module_declarations(&code) {
            let candidates = [
                children_dir.join(format!("{child}.rs")),
                children_dir.join(&child).join("mod.rs"),
            ];
            if let Some(child_file) = candidates.into_iter().find(|path| path.is_file()) {
                let mut child_path = path.clone();
                child_path.push(child.clone());
                queue.push_back((child_path, child_file));
            }
            module.children.insert(child);
        }
        for (tree, line) in use_declarations(&code) {
            for (segments, name) in tree {
                let resolved = absolute(&path, &module.children, &segments);
                if let Some(absolute) = &resolved {
                    references.push((
                        path.clone(),
                        display.clone(),
                        Reference {
                            path: absolute.clone(),
                            line,
                        },
                    ));
                }
                if let Some(name) = name {
                    module.imports.insert(name, resolved);
                }
            }
        }
        for (segments, line) in inline_paths(&code) {
            if let Some(absolute) = absolute(&path, &module.children, &segments) {
                references.push((
                    path.clone(),
                    display.clone(),
                    Reference {
                        path: absolute,
                        line,
                    },
                ));
            }
        }
        modules.insert(path, module);
    }

    let mut graph = Graph::new();
    for (from, file, reference) in references {
        let target = resolve(&modules, &reference.path);
        let shared = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
        if shared == from.len() || shared == target.len() {
            continue; // Own module, a descendant or an ancestor.
        }
        let node = |path: &[String]| path[..=shared].join("::");
        graph
            .entry((node(&from), node(&target)))
            .or_insert_with(|| format!("{file}:{}", reference.line));
    }
    graph
}

/// The path of `segments` (as written in module `current`) from the crate root, or `None` for
/// a path into another crate.
fn absolute(
    current: &[String],
    children: &BTreeSet<String>,
    segments: &[String],
) -> Option<Vec<String>> {
    let first = segments.first()?;
    let mut path = current.to_vec();
    let rest = match first.as_str() {
        "crate" => {
            path.clear();
            &segments[1..]
        }
        "self" => &segments[1..],
        "super" => {
            let supers = segments
                .iter()
                .take_while(|segment| *segment == "super")
                .count();
            path.truncate(path.len().saturating_sub(supers));
            &segments[supers..]
        }
        // Relative to the current module, as edition 2018 allows: only children count.
        _ if children.contains(first) => segments,
        _ => return None,
    };
    path.extend(rest.iter().cloned());
    Some(path)
}

/// The module that defines the item at `path`: descends through child modules and follows
/// names a module imports (`pub use` re-exports included) to where they come from.
fn resolve(modules: &BTreeMap<Vec<String>, Module>, path: &[String]) -> Vec<String> {
    let mut path = path.to_vec();
    // Bounded, in case imports refer to each other in a loop.
    for _ in 0..16 {
        let mut module_path = Vec::new();
        let mut followed = None;
        for (index, segment) in path.iter().enumerate() {
            let Some(module) = modules.get(&module_path) else {
                break;
            };
            if module.children.contains(segment) {
                module_path.push(segment.clone());
                continue;
            }
            if let Some(Some(imported)) = module.imports.get(segment) {
                let mut next = imported.clone();
                next.extend(path[index + 1..].iter().cloned());
                followed = Some(next);
            }
            break;
        }
        match followed {
            Some(next) if next != path => path = next,
            _ => return module_path,
        }
    }
    path
}

/// The names of `mod name;` declarations (inline modules keep their references in their file).
fn module_declarations(code: &str) -> Vec<String> {
    let tokens = tokens(code);
    tokens
        .windows(3)
        .filter(|window| window[0].text == "mod" && window[2].text == ";")
        .map(|window| window[1].text.trim_start_matches("r#").to_owned())
        .collect()
}

/// A use tree expanded into paths: each with the name it binds (`None` for a glob or `_`).
type UseTree = Vec<(Vec<String>, Option<String>)>;

/// Every `use` declaration, expanded, with the line it starts on.
fn use_declarations(code: &str) -> Vec<(UseTree, usize)> {
    let tokens = tokens(code);
    let mut declarations = Vec::new();
    let mut index = 0;
    while index < tokens.len() {
        if tokens[index].text != "use" {
            index += 1;
            continue;
        }
        let line = tokens[index].line;
        let end = tokens[index..]
            .iter()
            .position(|token| token.text == ";")
            .map_or(tokens.len(), |offset| index + offset);
        let body: Vec<&str> = tokens[index + 1..end]
            .iter()
            .map(|token| token.text.as_str())
            .collect();
        let mut tree = Vec::new();
        let mut position = 0;
        parse_use_tree(&body, &mut position, &[], &mut tree);
        declarations.push((tree, line));
        index = end;
    }
    declarations
}

fn parse_use_tree(tokens: &[&str], position: &mut usize, prefix: &[String], out: &mut UseTree) {
    let mut path = prefix.to_vec();
    if tokens.get(*position) == Some(&"::") {
        // `use ::name` is always another crate.
        path.push("::".to_owned());
        *position += 1;
    }
    while let Some(token) = tokens.get(*position) {
        match *token {
            "{" => {
                *position += 1;
                while let Some(next) = tokens.get(*position) {
                    match *next {
                        "}" => {
                            *position += 1;
                            break;
                        }
                        "," => *position += 1,
                        _ => parse_use_tree(tokens, position, &path, out),
                    }
                }
                return;
            }
            "*" => {
                *position += 1;
                out.push((path, None));
                return;
            }
            "::" => *position += 1,
            "," | "}" => break,
            "as" => {
                *position += 1;
                let alias = tokens.get(*position).map(|alias| (*alias).to_owned());
                *position += 1;
                let alias = alias.filter(|alias| alias != "_");
                out.push((path, alias));
                return;
            }
            "self" if !path.is_empty() => {
                // `use a::{self}` binds `a`.
                *position += 1;
            }
            segment => {
                path.push(segment.trim_start_matches("r#").to_owned());
                *position += 1;
            }
        }
    }
    let name = path
        .last()
        .cloned()
        .filter(|name| !matches!(name.as_str(), "crate" | "super"));
    out.push((path, name));
}

/// Paths starting with `crate::` or `super::` outside `use` declarations (and inside them;
/// duplicates do not matter), with their line.
fn inline_paths(code: &str) -> Vec<(Vec<String>, usize)> {
    let tokens = tokens(code);
    let mut paths = Vec::new();
    let mut index = 0;
    while index < tokens.len() {
        let token = &tokens[index];
        let starts = matches!(token.text.as_str(), "crate" | "super")
            && tokens.get(index + 1).is_some_and(|next| next.text == "::")
            && !(index > 0 && matches!(tokens[index - 1].text.as_str(), "::" | "$"));
        if !starts {
            index += 1;
            continue;
        }
        let mut segments = vec![token.text.clone()];
        index += 1;
        while tokens.get(index).is_some_and(|next| next.text == "::")
            && tokens
                .get(index + 1)
                .is_some_and(|next| is_identifier(&next.text))
        {
            segments.push(tokens[index + 1].text.trim_start_matches("r#").to_owned());
            index += 2;
        }
        paths.push((segments, token.line));
    }
    paths
}

// ---------------------------------------------------------------------------------------------
// Environment variables.

/// Only `triage-cli` and xtask read environment variables (tests and benches may too);
/// libraries take the values as arguments.
#[test]
fn only_the_cli_reads_environment_variables() {
    let root = project_root();
    let mut problems = Vec::new();
    for file in rust_files(&root) {
        let display = relative(&root, &file);
        let exempt = display.starts_with("crates/triage-cli/")
            || display.starts_with("xtask/")
            || display
                .split('/')
                .any(|part| matches!(part, "tests" | "benches" | "examples"));
        if exempt {
            continue;
        }
        let code = strip_test_items(&code_only(&read(&root, &file)));
        let tokens = tokens(&code);
        for window in tokens.windows(3) {
            let reads = window[0].text == "env"
                && window[1].text == "::"
                && matches!(
                    window[2].text.as_str(),
                    "var" | "var_os" | "vars" | "vars_os"
                );
            if reads {
                problems.push(format!(
                    "{display}:{}: env::{} outside triage-cli; take the value as an argument",
                    window[0].line, window[2].text
                ));
            }
        }
    }
    assert_problems("environment variables", &problems);
}

/// clap's `env = …` names a documented constant (`triage_config::env`), never a literal.
#[test]
fn clap_env_names_are_constants() {
    let root = project_root();
    let mut problems = Vec::new();
    for file in rust_files(&root) {
        let display = relative(&root, &file);
        let code = code_only(&read(&root, &file));
        let tokens = tokens(&code);
        for window in tokens.windows(3) {
            if window[0].text == "env" && window[1].text == "=" && window[2].text.starts_with('"') {
                problems.push(format!(
                    "{display}:{}: `env = \"…\"`; name a constant from triage_config::env",
                    window[0].line
                ));
            }
        }
    }
    assert_problems("clap env attributes", &problems);
}

// ---------------------------------------------------------------------------------------------
// Module docs.

/// Every `.rs` file under `crates/` and `xtask/` starts with a `//!` line saying what it is for.
#[test]
fn every_file_starts_with_a_module_doc() {
    let root = project_root();
    let problems: Vec<String> = rust_files(&root)
        .into_iter()
        .filter(|file| !read(&root, file).starts_with("//!"))
        .map(|file| {
            format!(
                "{}:1: does not start with a `//!` line",
                relative(&root, &file)
            )
        })
        .collect();
    assert_problems("module docs", &problems);
}

// ---------------------------------------------------------------------------------------------
// Plumbing.

/// Every `.rs` file under `crates/` and `xtask/`, skipping `target` and hidden directories.
fn rust_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![root.join("crates"), root.join("xtask")];
    while let Some(dir) = pending.pop() {
        for path in read_dir_sorted(&dir) {
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    pending.push(path);
                }
            } else if name.ends_with(".rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let entries = fs::read_dir(dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| Some(entry.ok()?.path()))
        .collect();
    paths.sort();
    paths
}

fn read(root: &Path, file: &Path) -> String {
    fs::read_to_string(file).unwrap_or_else(|error| panic!("{}: {error}", relative(root, file)))
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
        .replace('\\', "/")
}

fn assert_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "tidy: {what}: {} problem(s)\n  {}\n",
        problems.len(),
        problems.join("\n  ")
    );
}

/// Whether `to` can be reached from `from` along the graph's edges.
fn reaches(graph: &Graph, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut pending = vec![from.to_owned()];
    while let Some(node) = pending.pop() {
        if node == to {
            return true;
        }
        if seen.insert(node.clone()) {
            pending.extend(
                graph
                    .keys()
                    .filter(|(a, _)| *a == node)
                    .map(|(_, b)| b.clone()),
            );
        }
    }
    false
}

/// For every node on a cycle, the shortest cycle through it, each reported once, as
/// `a -> b -> a (a -> b at file:line; b -> a at file:line)`.
fn cycles(graph: &Graph) -> Vec<String> {
    let nodes: BTreeSet<&String> = graph.keys().map(|(from, _)| from).collect();
    let mut seen: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut reported = Vec::new();
    for start in nodes {
        // Breadth-first from `start` back to `start`.
        let mut previous: BTreeMap<&String, &String> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        let mut closing = None;
        'search: while let Some(node) = queue.pop_front() {
            for (from, to) in graph.keys().filter(|(from, _)| from == node) {
                if to == start {
                    closing = Some(from);
                    break 'search;
                }
                if !previous.contains_key(to) {
                    previous.insert(to, from);
                    queue.push_back(to);
                }
            }
        }
        let Some(mut node) = closing else {
            continue;
        };
        let mut cycle = vec![start.clone()];
        while node != start {
            cycle.push(node.clone());
            node = previous[node];
        }
        cycle.push(start.clone());
        cycle.reverse();
        // `cycle` is start -> … -> start; report each cycle once whichever node it starts at.
        let mut key = cycle[1..].to_vec();
        key.sort();
        if !seen.insert(key) {
            continue;
        }
        let edges: Vec<String> = cycle
            .windows(2)
            .map(|pair| {
                let place = &graph[&(pair[0].clone(), pair[1].clone())];
                format!("{} -> {} at {place}", pair[0], pair[1])
            })
            .collect();
        reported.push(format!("{} ({})", cycle.join(" -> "), edges.join("; ")));
    }
    reported
}

/// One token of Rust source: an identifier, a punctuation mark (`::` is one), or a string
/// literal (kept as its opening quote).
struct Token {
    text: String,
    line: usize,
}

fn is_identifier(text: &str) -> bool {
    text.chars()
        .next()
        .is_some_and(|first| first.is_alphabetic() || first == '_')
}

/// A rough tokenizer over [`code_only`] text: enough for paths, `use` trees and attributes.
fn tokens(code: &str) -> Vec<Token> {
    let chars: Vec<char> = code.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut index = 0;
    while index < chars.len() {
        let current = chars[index];
        if current == '\n' {
            line += 1;
            index += 1;
        } else if current.is_whitespace() {
            index += 1;
        } else if current.is_alphanumeric() || current == '_' {
            let start = index;
            while index < chars.len()
                && (chars[index].is_alphanumeric() || chars[index] == '_' || chars[index] == '#')
            {
                index += 1;
            }
            tokens.push(Token {
                text: chars[start..index].iter().collect(),
                line,
            });
        } else if current == ':' && chars.get(index + 1) == Some(&':') {
            tokens.push(Token {
                text: "::".to_owned(),
                line,
            });
            index += 2;
        } else if current == '"' {
            // `code_only` left the quotes and blanked what is between them.
            let start_line = line;
            index += 1;
            while index < chars.len() && chars[index] != '"' {
                if chars[index] == '\n' {
                    line += 1;
                }
                index += 1;
            }
            index += 1;
            tokens.push(Token {
                text: "\"".to_owned(),
                line: start_line,
            });
        } else {
            tokens.push(Token {
                text: current.to_string(),
                line,
            });
            index += 1;
        }
    }
    tokens
}

/// The source with comments blanked and string and char literals emptied (their quotes stay),
/// keeping every newline so that line numbers still hold.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, character: char| {
        out.push(if character == '\n' { '\n' } else { ' ' });
    };
    let mut index = 0;
    while index < chars.len() {
        let current = chars[index];
        let next = chars.get(index + 1).copied();
        let after_identifier =
            index > 0 && (chars[index - 1].is_alphanumeric() || chars[index - 1] == '_');
        if current == '/' && next == Some('/') {
            while index < chars.len() && chars[index] != '\n' {
                index += 1;
                out.push(' ');
            }
        } else if current == '/' && next == Some('*') {
            let mut depth = 0;
            while index < chars.len() {
                if chars[index] == '/' && chars.get(index + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    index += 2;
                } else if chars[index] == '*' && chars.get(index + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    index += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[index]);
                    index += 1;
                }
            }
        } else if current == 'r'
            && matches!(next, Some('"' | '#'))
            && (!after_identifier || (index > 0 && chars[index - 1] == 'b'))
            && chars[index + 1..].iter().find(|c| **c != '#') == Some(&'"')
        {
            // Raw string: r"…", r#"…"#, br"…".
            let hashes = chars[index + 1..].iter().take_while(|c| **c == '#').count();
            out.push('"');
            index += 2 + hashes;
            let closing: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while index < chars.len() && !chars[index..].starts_with(&closing) {
                blank(&mut out, chars[index]);
                index += 1;
            }
            out.push('"');
            out.extend(std::iter::repeat_n(' ', hashes));
            index += closing.len();
        } else if current == '"' {
            out.push('"');
            index += 1;
            while index < chars.len() && chars[index] != '"' {
                if chars[index] == '\\' {
                    out.push(' ');
                    index += 1;
                }
                if let Some(escaped) = chars.get(index) {
                    blank(&mut out, *escaped);
                }
                index += 1;
            }
            out.push('"');
            index += 1;
        } else if current == '\'' && next == Some('\\') {
            // Escaped char literal: '\n', '\'', '\u{…}'.
            out.push_str("' ");
            // Past the quote, the backslash and the escaped character.
            index += 3;
            while index < chars.len() && chars[index] != '\'' {
                index += 1;
            }
            out.push('\'');
            index += 1;
        } else if current == '\'' && chars.get(index + 2) == Some(&'\'') {
            out.push_str("' '");
            index += 3;
        } else {
            out.push(current);
            index += 1;
        }
    }
    out
}

/// [`code_only`] text with every item under `#[cfg(test)]` blanked.
fn strip_test_items(code: &str) -> String {
    let mut chars: Vec<char> = code.chars().collect();
    let marker: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut index = 0;
    while index + marker.len() <= chars.len() {
        if chars[index..index + marker.len()] != marker[..] {
            index += 1;
            continue;
        }
        let start = index;
        index += marker.len();
        // The item ends at the first `;` or at the brace matching the first `{`, outside any
        // brackets; further attributes before it are part of it.
        let mut depth = 0_i32;
        while index < chars.len() {
            match chars[index] {
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                ';' if depth == 0 => break,
                '{' if depth == 0 => {
                    let mut braces = 0;
                    while index < chars.len() {
                        match chars[index] {
                            '{' => braces += 1,
                            '}' => {
                                braces -= 1;
                                if braces == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        index += 1;
                    }
                    break;
                }
                _ => {}
            }
            index += 1;
        }
        let end = (index + 1).min(chars.len());
        for character in &mut chars[start..end] {
            if *character != '\n' {
                *character = ' ';
            }
        }
        index = end;
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod self_tests {
    //! The tidy machinery on small inputs, so that a silent parser bug cannot make the real
    //! checks pass.

    use super::*;

    fn paths(code: &str) -> Vec<String> {
        use_declarations(&strip_test_items(&code_only(code)))
            .into_iter()
            .flat_map(|(tree, _)| tree)
            .map(|(path, name)| format!("{} as {}", path.join("::"), name.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn use_trees_expand() {
        assert_eq!(
            paths("use crate::{a::{self, B}, c::*, d as e};\npub(crate) use super::f;"),
            [
                "crate::a as a",
                "crate::a::B as B",
                "crate::c as ",
                "crate::d as e",
                "super::f as f"
            ]
        );
    }

    #[test]
    fn comments_strings_and_test_items_are_ignored() {
        let code = "// use crate::a;\nlet s = \"use crate::b;\";\nlet r = r#\"crate::c\"#;\n\
                    let c = '{';\n#[cfg(test)]\nmod tests { use crate::d; fn f() { crate::e(); } }\n\
                    use crate::f;";
        let code = strip_test_items(&code_only(code));
        assert_eq!(paths(&code), ["crate::f as f"]);
        let inline: Vec<_> = inline_paths(&code)
            .into_iter()
            .map(|(path, line)| (path.join("::"), line))
            .collect();
        assert_eq!(inline, [("crate::f".to_owned(), 7)]);
    }

    #[test]
    fn module_edges_follow_re_exports_and_skip_parents() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("a")).unwrap();
        let files = [
            (
                "lib.rs",
                "//! r\nmod a;\nmod b;\npub use b::Thing;\npub const ROOT: u8 = 1;\n",
            ),
            (
                "a/mod.rs",
                "//! a\nmod c;\npub(crate) const PARENT: u8 = 1;\n",
            ),
            // A child using its parent's item and the root's item: no edge.
            (
                "a/c.rs",
                "//! c\nuse super::PARENT;\nuse crate::ROOT;\nuse crate::Thing;\n",
            ),
            (
                "b.rs",
                "//! b\npub struct Thing;\nfn f() { crate::a::PARENT; }\n#[cfg(test)]\nmod t;\n",
            ),
        ];
        for (name, text) in files {
            std::fs::write(src.join(name), text).unwrap();
        }
        let graph = module_graph(dir.path(), &src);
        let edges: Vec<String> = graph
            .iter()
            .map(|((from, to), place)| format!("{from} -> {to} at {place}"))
            .collect();
        assert_eq!(edges, ["a -> b at src/a/c.rs:4", "b -> a at src/b.rs:3"]);
        assert_eq!(cycles(&graph).len(), 1);
    }

    #[test]
    fn cycles_are_found_once_with_their_edges() {
        let graph: Graph = [
            (("a", "b"), "x.rs:1"),
            (("b", "a"), "y.rs:2"),
            (("b", "c"), "y.rs:3"),
        ]
        .into_iter()
        .map(|((from, to), place)| ((from.to_owned(), to.to_owned()), place.to_owned()))
        .collect();
        assert_eq!(
            cycles(&graph),
            ["a -> b -> a (a -> b at x.rs:1; b -> a at y.rs:2)"]
        );
    }
}
