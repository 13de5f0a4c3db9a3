//! The configuration reference (`docs/reference/configuration.md`) and the
//! man page (`docs/reference/orderly.1`), generated from the clap
//! definitions above and compared with the committed files: a flag added,
//! renamed or re-described without regenerating them fails these tests.
//! `UPDATE_EXPECT=1 cargo test --lib reference` rewrites both.

use std::collections::BTreeSet;

use clap::{Arg, Command, CommandFactory};
use expect_test::expect_file;

use super::Cli;

#[test]
fn the_configuration_reference_is_generated_from_the_flags() {
    expect_file!["../../docs/reference/configuration.md"].assert_eq(&markdown(Cli::command()));
}

#[test]
fn the_man_page_is_generated_from_the_flags() {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .unwrap();
    expect_file!["../../docs/reference/orderly.1"].assert_eq(&String::from_utf8(page).unwrap());
}

const PREAMBLE: &str = "\
# Configuration reference

<!-- Generated from the clap definitions in src/config.rs and src/config/ by
     `UPDATE_EXPECT=1 cargo test --lib reference`; a unit test fails when
     this file and the code differ. Do not edit by hand. -->

Every setting of every `orderly` command: its flag, the environment
variable it also reads (a flag given wins over its variable), its default
and what it does. The guide to choosing them is
[configuration.md](../configuration.md); `orderly --help` and
`orderly COMMAND --help` print the same text, and `man
docs/reference/orderly.1` shows it as a manual page.
";

/// The whole page: the serving command's settings by group, then each
/// other command with the groups it shares and its own arguments.
fn markdown(mut orderly: Command) -> String {
    orderly.build();
    let mut page = String::from(PREAMBLE);
    push_heading(&mut page, "`orderly` (serve)", &orderly);
    let serving: Vec<&Arg> = documented(&orderly).collect();
    push_groups(&mut page, &serving);
    let served_ids: BTreeSet<&str> = serving.iter().map(|a| a.get_id().as_str()).collect();
    for command in orderly.get_subcommands() {
        push_command(&mut page, command, "orderly", &served_ids);
    }
    page
}

fn push_command(page: &mut String, command: &Command, parent: &str, served_ids: &BTreeSet<&str>) {
    if command.get_name() == "help" {
        return;
    }
    let name = format!("{parent} {}", command.get_name());
    push_heading(page, &format!("`{name}`"), command);
    // A setting serving also has, under the same heading, is named by its
    // group only; the command's own arguments get rows.
    let (shared, own): (Vec<&Arg>, Vec<&Arg>) = documented(command)
        .partition(|a| a.get_help_heading().is_some() && served_ids.contains(a.get_id().as_str()));
    if !shared.is_empty() {
        let groups: BTreeSet<&str> = shared.iter().map(|a| heading(a)).collect();
        let groups = groups.into_iter().collect::<Vec<_>>().join(", ");
        page.push_str(&format!(
            "\nTakes the settings of `orderly` in: {groups}.\n"
        ));
    }
    if !own.is_empty() {
        page.push('\n');
        push_table(page, &own);
    }
    for sub in command.get_subcommands() {
        push_command(page, sub, &name, served_ids);
    }
}

/// A command's section: its name, usage line and description.
fn push_heading(page: &mut String, title: &str, command: &Command) {
    page.push_str(&format!(
        "\n## {title}\n\n```text\n{}\n```\n\n{}\n",
        usage(&mut command.clone()),
        text(command.get_long_about().or(command.get_about()))
    ));
}

/// The arguments worth a row: not hidden, not clap's own help and version.
fn documented(command: &Command) -> impl Iterator<Item = &Arg> {
    command
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version"))
}

fn heading(arg: &Arg) -> &str {
    arg.get_help_heading().unwrap_or("Options")
}

/// One table per help heading, in the order `--help` shows them.
fn push_groups(page: &mut String, args: &[&Arg]) {
    let mut headings: Vec<&str> = Vec::new();
    for arg in args {
        if !headings.contains(&heading(arg)) {
            headings.push(heading(arg));
        }
    }
    for group in headings {
        page.push_str(&format!("\n### {group}\n\n"));
        let in_group: Vec<&Arg> = args
            .iter()
            .copied()
            .filter(|a| heading(a) == group)
            .collect();
        push_table(page, &in_group);
    }
}

fn push_table(page: &mut String, args: &[&Arg]) {
    page.push_str("| flag | environment | default | description |\n| --- | --- | --- | --- |\n");
    for arg in args {
        page.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            cell(&flag(arg)),
            env(arg),
            default(arg),
            cell(&description(arg)),
        ));
    }
}

/// The environment variable an argument reads, as the tables show it.
fn env(arg: &Arg) -> String {
    arg.get_env()
        .map(|e| format!("`{}`", e.to_string_lossy()))
        .unwrap_or_default()
}

fn flag(arg: &Arg) -> String {
    let value = arg
        .get_value_names()
        .map(|names| {
            names
                .iter()
                .map(|n| format!("<{n}>"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| format!("<{}>", arg.get_id().as_str().to_uppercase()));
    let takes_value = arg.get_action().takes_values();
    match (arg.get_long(), arg.get_short()) {
        (Some(long), _) if takes_value => format!("`--{long} {value}`"),
        (Some(long), _) => format!("`--{long}`"),
        (None, Some(short)) => format!("`-{short}`"),
        (None, None) => format!("`{value}`"),
    }
}

fn default(arg: &Arg) -> String {
    let values: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .filter(|v| !v.is_empty())
        .collect();
    if !arg.get_action().takes_values() {
        "off".to_owned()
    } else if values.is_empty() {
        String::new()
    } else {
        format!("`{}`", values.join(","))
    }
}

fn description(arg: &Arg) -> String {
    let mut said = text(arg.get_long_help().or(arg.get_help()));
    if !said.is_empty() && !said.ends_with('.') {
        said.push('.');
    }
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    if !values.is_empty() && arg.get_action().takes_values() {
        said.push_str(&format!(" Values: {}.", values.join(", ")));
    }
    if arg.is_required_set() {
        said.push_str(" Required.");
    }
    said
}

fn usage(command: &mut Command) -> String {
    command
        .render_usage()
        .to_string()
        .trim_start_matches("Usage: ")
        .to_owned()
}

fn text(styled: Option<&clap::builder::StyledStr>) -> String {
    styled.map(|s| s.to_string()).unwrap_or_default()
}

/// A description as one table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// The README's table of the settings people change first names real
/// flags, with the environment variable and default the code has: a
/// hand-written table that could drift is held to the code.
#[test]
fn the_readme_settings_table_matches_the_flags() {
    let mut orderly = Cli::command();
    orderly.build();
    let readme = read("README.md");
    let rows: Vec<Vec<&str>> = readme
        .lines()
        .filter(|line| line.starts_with("| `--"))
        .map(|line| line.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    assert!(rows.len() >= 10, "the README's settings table: {rows:?}");
    for row in rows {
        let long = row[0].trim_matches('`').trim_start_matches("--");
        let arg = orderly
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .unwrap_or_else(|| panic!("the README names --{long}, which orderly does not have"));
        assert_eq!(
            row[1],
            env(arg),
            "--{long}'s environment variable in the README"
        );
        assert_eq!(row[2], default(arg), "--{long}'s default in the README");
    }
}

/// Every `ORDERLY_...` variable the documentation names is one orderly
/// reads, or one that the scripts, tests or benchmarks use.
#[test]
fn every_variable_the_documentation_names_exists() {
    let mut orderly = Cli::command();
    orderly.build();
    let mut known = BTreeSet::new();
    collect_variables(&orderly, &mut known);
    for file in files_under(&["scripts", "tests", "bench", ".ci"], |f| {
        !f.ends_with(".md")
    }) {
        if let Ok(text) = std::fs::read_to_string(repository().join(&file)) {
            known.extend(variables(&text));
        }
    }
    for file in files_under(&["docs"], |f| f.ends_with(".md"))
        .into_iter()
        .chain(["README.md".to_owned()])
    {
        for name in variables(&read(&file)) {
            assert!(
                known.contains(&name),
                "{file} names {name}, which nothing reads"
            );
        }
    }
}

fn variables(text: &str) -> BTreeSet<String> {
    text.match_indices("ORDERLY_")
        .map(|(at, _)| {
            text[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .collect()
}

fn collect_variables(command: &Command, known: &mut BTreeSet<String>) {
    for arg in command.get_arguments() {
        if let Some(env) = arg.get_env() {
            known.insert(env.to_string_lossy().into_owned());
        }
    }
    for sub in command.get_subcommands() {
        collect_variables(sub, known);
    }
}

/// The files under `folders` (relative to the repository) that `keep`
/// accepts, skipping virtual environments and build output.
fn files_under(folders: &[&str], keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut files = Vec::new();
    let mut folders: Vec<String> = folders.iter().map(|f| f.to_string()).collect();
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(repository().join(&folder)).unwrap() {
            let entry = entry.unwrap();
            let path = format!("{folder}/{}", entry.file_name().to_string_lossy());
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if entry.file_type().unwrap().is_dir() {
                if !name.starts_with('.') && name != "target" && name != "__pycache__" {
                    folders.push(path);
                }
            } else if keep(&path) {
                files.push(path);
            }
        }
    }
    files
}

fn repository() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(file: &str) -> String {
    std::fs::read_to_string(repository().join(file)).unwrap()
}
