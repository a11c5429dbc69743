//! The README, run: its "Running it for real" and `bollard doctor` blocks go through the real
//! binary against the sandbox, and every full-line `#` comment under a command must match
//! what the command printed. Every other `bollard ...` line must at least parse. A README
//! that drifts from the product fails `cargo test`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use apollo_sandbox::{Sandbox, SandboxConfig};

const README: &str = include_str!("../../../../README.md");

/// The sections whose ```sh blocks run, in order, in one working directory.
const RUN: [&str; 2] = [
    "## Running it for real",
    "## Check a setup: `bollard doctor`",
];

/// One shell command of a block (continuations and here-documents joined) and the output
/// its following full-line comments promise.
#[derive(Debug)]
struct Step {
    command: String,
    expect: Vec<String>,
}

/// The ```sh blocks of `section` (up to the next `## ` heading).
fn blocks(section: &str) -> Vec<String> {
    let start = README
        .find(section)
        .unwrap_or_else(|| panic!("the README has no section {section}"));
    let rest = &README[start + section.len()..];
    let body = rest.find("\n## ").map_or(rest, |end| &rest[..end]);
    sh_blocks(body)
}

fn sh_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim() == "```sh" => current = Some(String::new()),
            Some(block) if line.trim() == "```" => {
                out.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    out
}

fn steps(block: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut lines = block.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            // Before any command, a comment is only a note to the reader.
            if let Some(step) = steps.last_mut() {
                step.expect.push(comment.trim().to_owned());
            }
            continue;
        }
        let mut command = line.to_owned();
        if let Some(word) = heredoc_end(line) {
            for l in lines.by_ref() {
                command.push('\n');
                command.push_str(l);
                if l.trim() == word {
                    break;
                }
            }
        }
        while command.trim_end().ends_with('\\') {
            let Some(next) = lines.next() else { break };
            command.push('\n');
            command.push_str(next);
        }
        steps.push(Step {
            command,
            expect: Vec::new(),
        });
    }
    steps
}

/// `cat > f <<'EOF'` -> `EOF`.
fn heredoc_end(line: &str) -> Option<String> {
    let after = line.split_once("<<")?.1.trim();
    Some(after.trim_matches(['\'', '"']).to_owned())
}

fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A directory holding only `bollard`, for PATH: the commands run as an installed binary.
fn bin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_bollard"), dir.path().join("bollard"))
        .expect("symlink");
    dir
}

fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_runs_as_written() {
    let sandbox = Sandbox::spawn(SandboxConfig::new(3), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("sandbox");
    let bins = bin_dir();
    let work = tempfile::tempdir().expect("tempdir");
    let mut env: HashMap<String, String> = HashMap::from([
        ("PATH".into(), path_with(bins.path())),
        ("APOLLO_BASE_URL".into(), sandbox.base_url()),
        // The README's addresses are the defaults; a test never takes fixed ports.
        ("BOLLARD_LISTEN".into(), "127.0.0.1:0".into()),
        ("BOLLARD_ADMIN_LISTEN".into(), "127.0.0.1:0".into()),
        ("NO_COLOR".into(), "1".into()),
    ]);
    let mut served = Vec::new();
    let mut ran = 0;
    for section in RUN {
        let blocks = blocks(section);
        assert!(!blocks.is_empty(), "{section} has no ```sh block");
        for step in blocks.iter().flat_map(|b| steps(b)) {
            let command = step.command.trim();
            // `export NAME=VALUE`: the placeholder `...` stands for the sandbox's key.
            if let Some(assignment) = command.strip_prefix("export ") {
                let assignment = assignment.split('#').next().unwrap_or("").trim();
                let (name, value) = assignment.split_once('=').expect("NAME=VALUE");
                let value = if value == "..." {
                    sandbox.master_key().to_owned()
                } else {
                    value.to_owned()
                };
                env.insert(name.to_owned(), value);
                continue;
            }
            // `exec`: the command replaces the shell, so stopping the child stops the command.
            let mut sh = tokio::process::Command::new("sh");
            sh.args(["-c", &format!("exec {command}")])
                .current_dir(work.path())
                .env_clear()
                .envs(&env)
                .kill_on_drop(true);
            // The server runs until the test ends; it must come up with the README's setup.
            if command.starts_with("bollard serve") {
                let mut child = sh
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("bollard serve starts");
                let stderr = child.stderr.take().expect("stderr");
                let mut lines =
                    tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
                let first =
                    tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
                        .await
                        .expect("serve says where it listens")
                        .expect("stderr readable")
                        .unwrap_or_default();
                assert!(first.contains("Bollard is serving agents"), "{first}");
                served.push(child);
                ran += 1;
                continue;
            }
            let out = sh.output().await.expect("sh runs");
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .replace(&sandbox.base_url(), "https://api.apollo.io");
            assert!(
                out.status.success(),
                "`{command}` failed ({:?}):\n{printed}",
                out.status.code()
            );
            if !step.expect.is_empty() {
                let expected = normalize(&step.expect.join(" "));
                assert!(
                    normalize(&printed).contains(&expected),
                    "`{command}` printed:\n{printed}\nbut the README says:\n{expected}"
                );
            }
            ran += 1;
        }
    }
    assert!(ran >= 10, "only {ran} README commands ran");
    for mut child in served {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    sandbox.shutdown().await;
}

/// Words as `sh` would split them, up to an unquoted `#`, `|` or `>`; enough for the
/// README's command lines.
fn shell_words(command: &str) -> Vec<String> {
    let command = command.replace("\\\n", " ");
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, '#' | '|' | '>') if word.is_none() => break,
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// Every `bollard ...` line anywhere in the README parses as the command line it claims to
/// be: command, arguments and flags.
#[test]
fn every_bollard_line_in_the_readme_parses() {
    use clap::Parser;
    let mut checked = 0;
    for block in sh_blocks(README) {
        for step in steps(&block) {
            let command = step.command.trim();
            if !command.starts_with("bollard ") {
                continue;
            }
            let words = shell_words(command);
            if let Err(e) = bollard::cli::Cli::try_parse_from(&words) {
                panic!("`{command}` does not parse: {e}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} bollard lines found");
}
