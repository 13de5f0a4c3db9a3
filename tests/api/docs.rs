//! The documentation's examples, run: every fenced block marked
//! `sh example` in README.md and docs/ runs against a fresh orderly, so an
//! example that stops working fails CI instead of misleading a reader.
//!
//! The convention (docs/testing.md, "Examples that CI runs"):
//! - one file's blocks run in order in one bash session (`set -euo
//!   pipefail`), as a reader follows a guide in one terminal, against one
//!   orderly started for that file on a fresh SQLite database with no API
//!   key, where the text says `127.0.0.1:8080` or `localhost:8080`;
//!   `orderly` is on PATH and `DATABASE_URL` names that database;
//! - each block must succeed, and when the block right after it is marked
//!   `text output`, the HTTP status lines shown there (`HTTP/1.1 201 ...`)
//!   must be the ones the example printed, in order.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::helpers::process::OrderlyProcess;
use crate::helpers::Backend;

/// The address the documentation writes; each run serves elsewhere.
const DOCUMENTED_ADDRESSES: [&str; 2] = ["127.0.0.1:8080", "localhost:8080"];
const MARK: &str = "@@orderly-docs-block@@";

#[derive(Debug)]
struct Example {
    /// Where the block starts (1-based), for the failure message.
    line: usize,
    script: String,
    /// The HTTP statuses its output block shows, if it has one.
    shown_statuses: Option<Vec<u16>>,
}

#[derive(Debug)]
struct Fence {
    line: usize,
    info: String,
    body: String,
}

/// The fenced blocks of a Markdown text, with what lies between them
/// reduced to whether it was blank.
fn fences(markdown: &str) -> Vec<(Fence, bool)> {
    let mut found = Vec::new();
    let mut open: Option<(usize, String, String, String)> = None;
    let mut only_blank_since_last = true;
    for (n, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let indent = line[..line.len() - trimmed.len()].to_owned();
                    open = Some((n + 1, info.trim().to_owned(), indent, String::new()));
                } else if !trimmed.is_empty() {
                    only_blank_since_last = false;
                }
            }
            Some((start, info, indent, mut body)) => {
                if trimmed.starts_with("```") {
                    found.push((
                        Fence {
                            line: start,
                            info,
                            body,
                        },
                        only_blank_since_last,
                    ));
                    only_blank_since_last = true;
                } else {
                    body.push_str(line.strip_prefix(indent.as_str()).unwrap_or(trimmed));
                    body.push('\n');
                    open = Some((start, info, indent, body));
                }
            }
        }
    }
    assert!(open.is_none(), "a fenced block is never closed");
    found
}

fn examples(markdown: &str) -> Vec<Example> {
    let fences = fences(markdown);
    let mut examples = Vec::new();
    for (i, (fence, _)) in fences.iter().enumerate() {
        if fence.info != "sh example" {
            continue;
        }
        let shown_statuses = fences
            .get(i + 1)
            .filter(|(next, adjacent)| *adjacent && next.info == "text output")
            .map(|(output, _)| statuses(&output.body));
        examples.push(Example {
            line: fence.line,
            script: fence.body.clone(),
            shown_statuses,
        });
    }
    examples
}

/// The status codes of the HTTP status lines in `text`, in order. A line
/// may start right after a body without a final newline, as curl prints
/// it, so a status line is found wherever `HTTP/` is followed by a version,
/// a space and three digits.
fn statuses(text: &str) -> Vec<u16> {
    text.match_indices("HTTP/")
        .filter_map(|(at, _)| {
            let rest = &text[at + "HTTP/".len()..];
            let (version, rest) = rest.split_once(' ')?;
            let is_version =
                !version.is_empty() && version.chars().all(|c| c.is_ascii_digit() || c == '.');
            let code = rest.get(..3)?;
            let ends = rest[3..].starts_with([' ', '\r', '\n']) || rest.len() == 3;
            (is_version && ends).then(|| code.parse().ok()).flatten()
        })
        .collect()
}

/// README.md and every Markdown file under docs/.
fn documentation() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut folders = vec![root.join("docs")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("docs/ is readable") {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Runs one file's examples against an orderly of its own; the failure,
/// if any, says which block and what it printed.
async fn run_file(path: &Path, examples: &[Example]) -> Result<(), String> {
    let orderly = OrderlyProcess::start(Backend::Sqlite, &[]).await;
    let served = orderly.address.trim_start_matches("http://").to_owned();
    let mut script = String::from("set -euo pipefail\n");
    for (n, example) in examples.iter().enumerate() {
        let mut body = example.script.clone();
        for documented in DOCUMENTED_ADDRESSES {
            body = body.replace(documented, &served);
        }
        script.push_str(&format!("echo '{MARK} {n}'\n{body}\n"));
    }
    let workdir = tempfile::tempdir().unwrap();
    let binary_dir = Path::new(env!("CARGO_BIN_EXE_orderly")).parent().unwrap();
    let path_var = format!(
        "{}:{}",
        binary_dir.display(),
        std::env::var("PATH").unwrap()
    );
    let run = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(workdir.path())
        .env("PATH", path_var)
        .env("DATABASE_URL", orderly.database_url())
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .map_err(|_| format!("{}: the examples still run after 120 s", path.display()))?
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // What each block printed: the text after its mark.
    let printed: Vec<&str> = stdout.split(MARK).skip(1).collect();
    let last = printed.len().checked_sub(1);
    if !output.status.success() {
        let example = &examples[last.unwrap_or(0)];
        return Err(format!(
            "{}:{}: this example failed ({}).\nIt printed:\n{}\nand on stderr:\n{stderr}",
            path.display(),
            example.line,
            output.status,
            printed.last().unwrap_or(&""),
        ));
    }
    for (example, printed) in examples.iter().zip(&printed) {
        let Some(shown) = &example.shown_statuses else {
            continue;
        };
        let got = statuses(printed);
        if &got != shown {
            return Err(format!(
                "{}:{}: the output shown has statuses {shown:?}, the example gave {got:?}.\nIt printed:\n{printed}",
                path.display(),
                example.line,
            ));
        }
    }
    Ok(())
}

#[tokio::test]
async fn every_marked_example_runs_as_shown() {
    let mut runs = Vec::new();
    let mut counted = Vec::new();
    for path in documentation() {
        let text = std::fs::read_to_string(&path).unwrap();
        let examples = examples(&text);
        if examples.is_empty() {
            continue;
        }
        counted.push(format!("{} ({})", path.display(), examples.len()));
        runs.push(async move {
            let started = Instant::now();
            let result = run_file(&path, &examples).await;
            (path, examples.len(), started.elapsed(), result)
        });
    }
    // Guards the extraction itself: the front page's walk-through is
    // always among the examples.
    assert!(
        counted.iter().any(|f| f.contains("README.md")),
        "no `sh example` block found in README.md; found: {counted:?}"
    );
    let mut failures = Vec::new();
    for (path, count, took, result) in futures::future::join_all(runs).await {
        println!("{}: {count} examples in {took:.1?}", path.display());
        if let Err(failure) = result {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn an_output_block_counts_only_right_after_its_example() {
    let markdown = "```sh example\ncurl -si x\n```\n\n```text output\nHTTP/1.1 201 Created\nHTTP/1.1 404 Not Found\n```\n\
                    ```sh example\ntrue\n```\nprose\n```text output\nHTTP/1.1 500 x\n```\n  ```sh\nnot run\n  ```\n";
    let found = examples(markdown);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].shown_statuses, Some(vec![201, 404]));
    assert_eq!(found[0].line, 1);
    assert_eq!(found[1].shown_statuses, None);
    assert_eq!(found[1].script, "true\n");
    assert_eq!(
        statuses("HTTP/1.1 201 Created\r\n\r\n{}HTTP/1.1 409 Conflict\r\nnot HTTP/ 1 2"),
        vec![201, 409]
    );
}

/// The README's layout names every top-level folder, every folder of
/// tests/ and scripts/, and every module of src/: a newcomer looking for
/// a file finds its folder there.
#[test]
fn the_readme_layout_names_every_folder_and_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let layout = readme
        .split("## Layout")
        .nth(1)
        .and_then(|rest| rest.split("```").nth(1))
        .expect("README.md has a Layout section with a fenced block");
    let names = |folder: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root.join(folder))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let mut missing = Vec::new();
    // The repository's own folders: not git's, the build's or a venv.
    for top in names(".") {
        let own = root.join(&top).is_dir() && top != ".git" && top != "target";
        if own && !top.starts_with(".venv") && !layout.contains(&format!("{top}/")) {
            missing.push(format!("{top}/"));
        }
    }
    for folder in ["tests", "scripts"] {
        for name in names(folder) {
            if root.join(folder).join(&name).is_dir()
                && !layout.contains(&format!("{folder}/{name}/"))
            {
                missing.push(format!("{folder}/{name}/"));
            }
        }
    }
    for name in names("src") {
        let module = name.trim_end_matches(".rs");
        if !layout.contains(&format!("src/{module}.rs"))
            && !layout.contains(&format!("src/{module}/"))
        {
            missing.push(format!("src/{name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "the README's layout leaves out {missing:?}"
    );
}
