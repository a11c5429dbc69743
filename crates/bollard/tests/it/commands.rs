//! Every subcommand `bollard --help` lists runs through the real binary in some test: the
//! ones no other file covers run here, and a new subcommand without a test fails the
//! coverage check below.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use clap::CommandFactory;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cli::Bin;

/// Subcommands other test files run through the binary, and the test that does.
const ELSEWHERE: [(&str, &str); 32] = [
    (
        "agent update",
        "first_day::an_expired_agent_gets_no_key_until_its_expiry_is_moved",
    ),
    (
        "serve",
        "binary::json_logs_are_only_json_lines_and_plain_logs_carry_no_colour_codes",
    ),
    ("usage", "binary::usage_sets_bollards_ledger_beside_apollos"),
    (
        "mcp",
        "mcp::stdio_bridge_lists_and_calls_through_the_real_binary",
    ),
    (
        "agent create",
        "cli::limit_sets_every_flag_and_none_clears_it",
    ),
    (
        "agent list",
        "cli::printing_into_a_closed_pipe_ends_quietly",
    ),
    (
        "agent show",
        "cli::agent_show_counts_what_a_permit_rule_allows",
    ),
    (
        "grant",
        "cli::grant_takes_the_console_labels_for_capabilities",
    ),
    (
        "rule add",
        "cli::agent_show_counts_what_a_permit_rule_allows",
    ),
    ("limit", "cli::limit_sets_every_flag_and_none_clears_it"),
    ("check", "readme::the_readme_runs_as_written"),
    ("audit", "readme::the_readme_runs_as_written"),
    ("audit verify", "readme::the_readme_runs_as_written"),
    (
        "audit export",
        "cli::printing_into_a_closed_pipe_ends_quietly",
    ),
    (
        "admin-key create",
        "cli::admin_key_create_prints_json_with_the_key_once",
    ),
    (
        "admin-key list",
        "cli::admin_key_create_prints_json_with_the_key_once",
    ),
    (
        "doctor",
        "doctor::a_good_setup_passes_every_check_with_a_sentence_each",
    ),
    (
        "catalog",
        "catalog::the_catalog_command_prints_what_is_governed_and_what_is_not",
    ),
    (
        "completions",
        "cli::printing_into_a_closed_pipe_ends_quietly",
    ),
    (
        "audit keygen",
        "proof::checkpoints_catch_a_tail_and_head_rewritten_together_which_the_chain_misses",
    ),
    (
        "audit checkpoints export",
        "proof::checkpoints_catch_a_tail_and_head_rewritten_together_which_the_chain_misses",
    ),
    (
        "audit prove",
        "proof::checkpoints_catch_a_tail_and_head_rewritten_together_which_the_chain_misses",
    ),
    (
        "audit prune",
        "proof::prune_keeps_the_log_provable_and_find_lists_a_persons_calls_until_then",
    ),
    (
        "audit consistency",
        "proof::prune_keeps_the_log_provable_and_find_lists_a_persons_calls_until_then",
    ),
    (
        "audit find",
        "proof::prune_keeps_the_log_provable_and_find_lists_a_persons_calls_until_then",
    ),
    (
        "approvals list",
        "approvals::over_mcp_the_tool_error_says_the_same_and_the_binary_approves",
    ),
    (
        "approvals approve",
        "approvals::over_mcp_the_tool_error_says_the_same_and_the_binary_approves",
    ),
    (
        "approvals deny",
        "approvals::a_denied_call_is_refused_with_the_note_until_it_expires",
    ),
    (
        "approvals show",
        "approvals::an_approver_can_reveal_the_personal_data_and_the_reveal_is_recorded",
    ),
    (
        "agent connections",
        "oauth::connections_and_connect_links_through_the_binary",
    ),
    (
        "agent disconnect",
        "oauth::connections_and_connect_links_through_the_binary",
    ),
    (
        "connect-link",
        "oauth::connections_and_connect_links_through_the_binary",
    ),
];

/// Subcommands the tests in this file run.
const HERE: [&str; 8] = [
    "demo",
    "sandbox",
    "bench",
    "agent revoke",
    "agent rotate-key",
    "rule list",
    "rule remove",
    "admin-key revoke",
];

/// Every command a user can run: leaves of the tree, plus groups that run on their own
/// (`audit` lists calls; `audit verify` is its subcommand).
fn commands(cmd: &clap::Command, prefix: &str, out: &mut BTreeSet<String>) {
    for sub in cmd.get_subcommands() {
        let name = if prefix.is_empty() {
            sub.get_name().to_owned()
        } else {
            format!("{prefix} {}", sub.get_name())
        };
        if sub.get_name() == "help" && !prefix.is_empty() {
            continue;
        }
        if !sub.has_subcommands() || !sub.is_subcommand_required_set() {
            out.insert(name.clone());
        }
        commands(sub, &name, out);
    }
}

#[test]
fn every_subcommand_has_a_test_through_the_binary() {
    let mut all = BTreeSet::new();
    commands(&bollard::cli::Cli::command(), "", &mut all);
    let tested: BTreeSet<String> = ELSEWHERE
        .iter()
        .map(|(c, _)| (*c).to_owned())
        .chain(HERE.iter().map(|c| (*c).to_owned()))
        .collect();
    let untested: Vec<&String> = all.difference(&tested).collect();
    assert!(
        untested.is_empty(),
        "subcommands without a test: {untested:?}"
    );
    let gone: Vec<&String> = tested.difference(&all).collect();
    assert!(
        gone.is_empty(),
        "tests for subcommands that no longer exist: {gone:?}"
    );
}

#[tokio::test]
async fn revoke_rotate_rules_and_admin_keys_through_the_binary() {
    let bin = Bin::new();
    bin.ok(&["agent", "create", "Sales Agent"]).await;
    let rotated = bin
        .json(&["agent", "rotate-key", "Sales Agent", "--json"])
        .await;
    assert!(
        rotated["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("bol_agent_")),
        "{rotated}"
    );
    bin.add_rule(
        "Sales Agent",
        "small-pages",
        "forbid(principal, action, resource) when { context.per_page > 25 };",
    )
    .await;
    let listed = bin.ok(&["rule", "list", "Sales Agent"]).await;
    assert!(listed.contains("# small-pages"), "{listed}");
    let removed = bin
        .ok(&["rule", "remove", "Sales Agent", "small-pages"])
        .await;
    assert!(
        removed.contains("Removed the rule 'small-pages'."),
        "{removed}"
    );
    let out = bin
        .run(&["rule", "remove", "Sales Agent", "small-pages"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let id = rotated["agent"]["id"].as_str().unwrap_or("?");
    assert!(
        err.contains(&format!("`bollard rule list {id}` shows its rules.")),
        "the sentence names a command that works: {err}"
    );
    bin.ok(&["rule", "list", id]).await;
    let revoked = bin.ok(&["agent", "revoke", "Sales Agent"]).await;
    assert!(revoked.contains("Sales Agent is revoked"), "{revoked}");
    bin.ok(&["admin-key", "create", "--name", "Dana"]).await;
    let gone = bin.ok(&["admin-key", "revoke", "Dana"]).await;
    assert!(gone.contains("is revoked"), "{gone}");
    let help = bin.ok(&["help", "limit"]).await;
    assert!(help.contains("--credits-per-day"), "{help}");
}

/// Stops a child as Ctrl-C or systemd would, and waits for it.
async fn interrupt(mut child: tokio::process::Child) -> std::process::ExitStatus {
    // The page is printed as the signal handler is being installed; a person reads it first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .await;
    }
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stops on SIGINT")
        .expect("exit status")
}

/// Lines of the child's stdout until one contains `last`.
async fn read_until(child: &mut tokio::process::Child, last: &str) -> Vec<String> {
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            let done = line.contains(last);
            seen.push(line);
            if done {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the expected output in time");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_prints_commands_that_work_with_the_installed_binary() {
    let bin = Bin::new();
    // A port known before the demo starts, so OAuth is on (its public URL names the port).
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let mut demo = bin
        .command()
        .args([
            "demo",
            "--listen",
            listen.as_str(),
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("demo starts");
    let page = read_until(&mut demo, "Ctrl-C stops the demo").await;
    assert!(
        page.iter().any(|l| l.contains(&format!(
            "Hosted assistants (OAuth, no key): add http://{listen}/mcp as a remote MCP server"
        ))),
        "{page:#?}"
    );
    let commands: Vec<&String> = page
        .iter()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("bollard ") || l.starts_with("BOLLARD_PUBLIC_URL=")
        })
        .collect();
    assert_eq!(commands.len(), 3, "{page:#?}");
    assert!(!page.iter().any(|l| l.contains("cargo run")), "{page:#?}");
    let bins = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_bollard"), bins.path().join("bollard"))
        .expect("symlink");
    for command in commands {
        let out = tokio::process::Command::new("sh")
            .args(["-c", command.trim()])
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bins.path().display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .output()
            .await
            .expect("sh runs");
        assert!(
            out.status.success(),
            "`{command}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(interrupt(demo).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_prints_its_keys_and_the_bench_measures() {
    let bin = Bin::new();
    let mut sandbox = bin
        .command()
        .args(["sandbox", "--listen", "127.0.0.1:0", "--seed", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sandbox starts");
    let page = read_until(&mut sandbox, "Ctrl-C stops it.").await;
    assert!(page.iter().any(|l| l.contains("master key:")), "{page:#?}");
    assert!(interrupt(sandbox).await.success());

    let bench = bin
        .run(&[
            "bench",
            "--seconds",
            "1",
            "--rate",
            "50",
            "--mcp-rate",
            "20",
            "--concurrency",
            "2",
        ])
        .await;
    let printed = String::from_utf8_lossy(&bench.stdout);
    assert!(
        bench.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&bench.stderr)
    );
    assert!(printed.contains("calls/s"), "{printed}");
}
