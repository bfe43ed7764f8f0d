//! The documents hold to the code and the files: the README's CLI summary names the commands and
//! flags `--help` has, every `results/…` path a document cites exists, and every relative link
//! resolves.

mod support;
use std::collections::BTreeSet;
use std::path::Path;
use support::neuropos;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The documents a reader follows: the README, docs/, the model cards and the results index.
fn documents() -> Vec<String> {
    let mut docs = vec!["README.md".to_string(), "results/README.md".to_string()];
    for dir in ["docs", "checkpoints"] {
        for entry in std::fs::read_dir(Path::new(ROOT).join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let file = if path.is_dir() {
                path.join("README.md")
            } else {
                path
            };
            if file.extension().is_some_and(|e| e == "md") && file.is_file() {
                let rel = file.strip_prefix(ROOT).unwrap();
                docs.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    docs
}

/// `{a,b}` alternatives expanded: `x/{a,b}.json` is `x/a.json` and `x/b.json`.
fn expand(pattern: &str) -> Vec<String> {
    let Some(open) = pattern.find('{') else {
        return vec![pattern.to_string()];
    };
    let close = open + pattern[open..].find('}').expect("a closing brace");
    pattern[open + 1..close]
        .split(',')
        .flat_map(|alt| {
            expand(&format!(
                "{}{alt}{}",
                &pattern[..open],
                &pattern[close + 1..]
            ))
        })
        .collect()
}

#[test]
fn every_cited_results_path_exists() {
    let mut missing = Vec::new();
    for doc in documents() {
        let text = read(&doc);
        for (at, _) in text.match_indices("results/") {
            let cited: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "_./{},*<>-".contains(*c))
                .collect();
            let cited = cited.trim_end_matches(['.', ',']);
            // Placeholders (`results/<spec>`, `results/sweeps/NAME`, globs) name no one file.
            if cited.contains(['*', '<']) || cited.ends_with("NAME") {
                continue;
            }
            for path in expand(cited) {
                if !Path::new(ROOT).join(&path).exists() {
                    missing.push(format!("{doc}: {path}"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "cited but missing:\n{}",
        missing.join("\n")
    );
}

#[test]
fn relative_links_resolve() {
    let mut broken = Vec::new();
    for doc in documents() {
        let text = read(&doc);
        let dir = Path::new(ROOT).join(&doc).parent().unwrap().to_path_buf();
        for (at, _) in text.match_indices("](") {
            let target: String = text[at + 2..].chars().take_while(|c| *c != ')').collect();
            let file = target.split('#').next().unwrap_or_default();
            if file.is_empty() || file.contains("://") || file.starts_with("mailto:") {
                continue;
            }
            if !dir.join(file).exists() {
                broken.push(format!("{doc}: {target}"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The subcommands `neuropos --help` lists.
fn commands() -> BTreeSet<String> {
    let help = String::from_utf8(neuropos(&["--help"]).stdout).unwrap();
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// Every `--flag` a command's `--help` knows.
fn flags(command: &str) -> BTreeSet<String> {
    let help = String::from_utf8(neuropos(&[command, "--help"]).stdout).unwrap();
    help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '=')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_string()
        })
        .collect()
}

/// The README's CLI summary: each bullet names its commands first (`train`, or `pull`,
/// `predict` and `export`), then flags of theirs.
#[test]
fn the_readme_cli_summary_matches_help() {
    let readme = read("README.md");
    let start = readme
        .find("<!-- cli:start -->")
        .expect("the CLI summary markers");
    let end = readme.find("<!-- cli:end -->").unwrap();
    let quoted = |text: &str| -> Vec<String> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let all = commands();
    let mut summarised = BTreeSet::new();
    for bullet in readme[start..end].split("\n- ").skip(1) {
        let words = quoted(bullet);
        let named: Vec<&String> = words.iter().take_while(|w| all.contains(*w)).collect();
        assert!(!named.is_empty(), "a CLI bullet names no command: {bullet}");
        let known: BTreeSet<String> = named.iter().flat_map(|c| flags(c)).collect();
        for flag in words.iter().filter(|w| w.starts_with("--")) {
            let flag = flag.split_whitespace().next().unwrap();
            assert!(
                known.contains(flag),
                "README: `{flag}` is not a flag of {named:?} (their --help)"
            );
        }
        summarised.extend(named.into_iter().cloned());
    }
    let unsummarised: Vec<&String> = all.difference(&summarised).collect();
    assert!(
        unsummarised.is_empty(),
        "README's CLI summary leaves out {unsummarised:?}"
    );
}

/// A flag the summary names for the wrong command is caught (the check can fail).
#[test]
fn a_wrong_flag_is_not_a_flag_of_the_command() {
    assert!(flags("train").contains("--init-from"));
    assert!(!flags("eval").contains("--init-from"));
    assert!(commands().contains("sweep"));
}
