//! `bollard audit keygen`, `checkpoints export`, `prove`, `verify --checkpoints`, `prune` and
//! `find`: proving the audit log to someone who does not trust the database (`audit::tree`).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{CliResult, Failure, outln};
use crate::audit::change::Draft;
use crate::audit::checkpoint::{CheckpointKey, PublicKey};
use crate::audit::pii::PiiHasher;
use crate::audit::sink::file_name;
use crate::audit::tree;
use crate::ops;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the private signing key (refused if the file exists); the public key
    /// goes beside it as FILE.pub.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The log's name, the checkpoints' origin line (default: bollard/audit/HOST).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CheckpointsCommand {
    /// Print the newest signed checkpoint (or every one, each followed by an empty line).
    Export {
        /// Every checkpoint kept, oldest first.
        #[arg(long)]
        all: bool,
        /// Write each checkpoint as a file in this directory instead (as checkpoint_dir does),
        /// leaving files already there as they are.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ProveArgs {
    /// The call's request id (`x-request-id`, or `bollard.request_id` in a refusal).
    pub request_id: String,
    /// Print JSON, for programs.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConsistencyArgs {
    /// The size of the older checkpoint (its second line).
    #[arg(long, value_name = "SIZE")]
    pub from: u64,
    /// The size of the newer checkpoint (default: the newest).
    #[arg(long, value_name = "SIZE")]
    pub to: Option<u64>,
    /// Print JSON, for programs.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove entries written before this: a date (2026-01-31), an RFC 3339 time, or a
    /// duration back from now (90d).
    #[arg(long, value_name = "DATE")]
    pub before: String,
    /// Print JSON, for programs.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["email", "phone", "name"])))]
pub struct FindArgs {
    /// An email address.
    #[arg(long)]
    pub email: Option<String>,
    /// A phone number, as the agent sent it (its digits alone are tried too).
    #[arg(long)]
    pub phone: Option<String>,
    /// A person's name, as the agent sent it in a name field.
    #[arg(long)]
    pub name: Option<String>,
    /// At most this many calls, newest first.
    #[arg(long, default_value_t = 200)]
    pub limit: u32,
    /// Print JSON, for programs.
    #[arg(long)]
    pub json: bool,
}

pub fn keygen(a: &KeygenArgs) -> CliResult {
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("bollard/audit/{}", crate::recovery::host_name()));
    let key = CheckpointKey::generate(&name)?;
    write_new(&a.out, key.to_file_text().as_bytes(), 0o600)?;
    let vkey = key.public().vkey();
    let mut public = a.out.clone().into_os_string();
    public.push(".pub");
    let public = PathBuf::from(public);
    write_new(&public, format!("{vkey}\n").as_bytes(), 0o644)?;
    outln!(
        "Wrote the checkpoint signing key to {} (readable only by you: keep it secret and keep a copy).",
        a.out.display()
    );
    outln!(
        "Its public key, also in {}, is for whoever checks the log (`bollard audit verify --public-key`):",
        public.display()
    );
    outln!("{vkey}");
    outln!(
        "Set [audit] checkpoint_key_file = \"{}\" and a checkpoint_dir or witness_url.",
        a.out.display()
    );
    Ok(())
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Failure> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
    let mut f = opts.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Failure::Message(format!(
            "{} already exists; it is left as it is (choose another --out)",
            path.display()
        )),
        _ => Failure::Message(format!("cannot create {}: {e}", path.display())),
    })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Failure::Message(format!("cannot write {}: {e}", path.display())))
}

pub async fn checkpoints(store: &dyn Store, c: &CheckpointsCommand) -> CliResult {
    let CheckpointsCommand::Export { all, dir } = c;
    let mut cps = store.proofs().checkpoints().await?;
    if cps.is_empty() {
        return Err(Failure::Message(
            "no checkpoint has been signed yet: set [audit] checkpoint_key_file and run the gateway"
                .into(),
        ));
    }
    if !*all && dir.is_none() {
        cps.drain(..cps.len() - 1);
    }
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Message(format!("cannot create {}: {e}", dir.display())))?;
        let mut written = 0;
        for cp in &cps {
            let path = dir.join(file_name(cp.size));
            if path.exists() {
                continue;
            }
            write_new(&path, cp.note.as_bytes(), 0o644)?;
            written += 1;
        }
        outln!(
            "Wrote {written} checkpoint file{} to {} ({} kept in all).",
            if written == 1 { "" } else { "s" },
            dir.display(),
            cps.len()
        );
        return Ok(());
    }
    for (i, cp) in cps.iter().enumerate() {
        if i > 0 {
            outln!();
        }
        super::out!("{}", cp.note);
    }
    Ok(())
}

pub async fn prove(store: &dyn Store, a: &ProveArgs) -> CliResult {
    let p = tree::prove(store, &a.request_id).await?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&p)?);
    } else {
        outln!(
            "Call {}: {} entr{} proved against the checkpoint of {} entries (root {}).",
            p.request_id,
            p.entries.len(),
            if p.entries.len() == 1 { "y" } else { "ies" },
            p.tree_size,
            p.root
        );
        for e in &p.entries {
            outln!();
            outln!(
                "Entry {} ({}): leaf index {} in a tree of {}",
                e.seq,
                e.kind,
                e.leaf_index,
                p.tree_size
            );
            outln!("  entry hash  {}", e.entry_hash);
            outln!(
                "  leaf hash   {}  (SHA-256 of 0x00 and the entry hash text)",
                e.leaf_hash
            );
            for (i, h) in e.path.iter().enumerate() {
                outln!("  path[{i:>2}]    {h}");
            }
            if !e.verified {
                outln!(
                    "  THIS PROOF DOES NOT LEAD TO THE CHECKPOINT'S ROOT: the log changed after it was signed."
                );
            }
        }
        if !p.not_yet_covered.is_empty() {
            outln!();
            outln!(
                "Entr{} {} {} written after this checkpoint; the next one covers {}.",
                if p.not_yet_covered.len() == 1 {
                    "y"
                } else {
                    "ies"
                },
                p.not_yet_covered
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                if p.not_yet_covered.len() == 1 {
                    "was"
                } else {
                    "were"
                },
                if p.not_yet_covered.len() == 1 {
                    "it"
                } else {
                    "them"
                },
            );
        }
        outln!();
        outln!("The checkpoint (RFC 9162 hashing, C2SP signed note):");
        super::out!("{}", p.checkpoint);
    }
    if p.entries.iter().all(|e| e.verified) {
        Ok(())
    } else {
        Err(Failure::Message(
            "the log does not match its latest checkpoint".into(),
        ))
    }
}

pub async fn verify_with(
    store: &dyn Store,
    dir: &Path,
    public_key: &Path,
    json: bool,
) -> CliResult {
    let vkey = std::fs::read_to_string(public_key)
        .map_err(|e| Failure::Message(format!("cannot read {}: {e}", public_key.display())))?;
    let public = PublicKey::parse(&vkey)?;
    let mut notes = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Failure::Message(format!("cannot read {}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type()?.is_file() || name.starts_with('.') {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).map_err(|e| {
            Failure::Message(format!("cannot read {}: {e}", entry.path().display()))
        })?;
        notes.push((name, text));
    }
    if notes.is_empty() {
        return Err(Failure::Message(format!(
            "{} holds no checkpoints to verify against",
            dir.display()
        )));
    }
    let report = tree::verify_checkpoints(store, &public, &notes).await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        outln!("{}", report.sentence());
    }
    if report.ok {
        Ok(())
    } else {
        Err(Failure::Message(
            "the audit log does not extend its checkpoints".into(),
        ))
    }
}

fn parse_before(s: &str, now: OffsetDateTime) -> Result<OffsetDateTime, Failure> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s.trim(), &fmt) {
        return Ok(d.midnight().assume_utc());
    }
    ops::query::parse_since(s, now).map_err(|_| {
        Failure::Message(format!(
            "--before '{s}' is not a date like 2026-01-31, a time like 2026-01-31T09:00:00Z or a duration like 90d"
        ))
    })
}

pub async fn prune(store: &dyn Store, a: &PruneArgs) -> CliResult {
    let now = OffsetDateTime::now_utc();
    let before = parse_before(&a.before, now)?;
    let Some(plan) = tree::plan_prune(store, before, now).await? else {
        let msg = format!(
            "Nothing to prune: no checkpoint after the last prune covers only entries written before {}.",
            before.format(&Rfc3339).unwrap_or_default()
        );
        if a.json {
            outln!("{}", json!({"pruned": false, "message": msg}));
        } else {
            outln!("{msg}");
        }
        return Ok(());
    };
    let (from, to) = (plan.old_cut + 1, plan.state.cut);
    let actor = super::command_line();
    let draft = Draft {
        by: &actor,
        at: now,
        agent: None,
        what: "audit.prune",
        clauses: vec![format!(
            "pruned the audit log: entries {from} to {to}, written before {}, were removed with \
             their personal-data hashes, and the log stays provable from the checkpoint of {to} \
             entries",
            before.date()
        )],
        before: json!({"first_entry": from}),
        after: json!({"first_entry": to + 1, "checkpoint_size": to}),
    };
    // On the record before it is done, as every admin change is.
    store
        .append_audit(&[draft.into_record().to_entry()])
        .await?;
    let removed = tree::apply_prune(store, &plan).await?;
    if a.json {
        outln!(
            "{}",
            json!({"pruned": true, "removed": removed, "first_entry": to + 1, "checkpoint_size": to})
        );
    } else {
        outln!(
            "Removed {removed} entr{} ({from} to {to}); the log is provable from the checkpoint of {to} entries.",
            if removed == 1 { "y" } else { "ies" }
        );
    }
    Ok(())
}

pub async fn find(store: &dyn Store, a: &FindArgs) -> CliResult {
    let hasher = PiiHasher::new(store.installation_secret().await?, false);
    let (kind, given) = match (&a.email, &a.phone, &a.name) {
        (Some(e), _, _) => ("an email address", e.clone()),
        (_, Some(p), _) => ("a phone number", p.clone()),
        (_, _, Some(n)) => ("a name", n.clone()),
        (None, None, None) => {
            return Err(Failure::Message("give --email, --phone or --name".into()));
        }
    };
    if given.trim().is_empty() {
        return Err(Failure::Message("the value to look for is empty".into()));
    }
    let mut forms = vec![given.clone()];
    if a.phone.is_some() {
        let digits: String = given.chars().filter(char::is_ascii_digit).collect();
        forms.push(digits.clone());
        forms.push(format!("+{digits}"));
    }
    forms.dedup();
    let hashes: Vec<String> = forms.iter().map(|f| hasher.hash(f)).collect();
    let short = hashes
        .first()
        .and_then(|h| h.strip_prefix("hmac:"))
        .and_then(|h| h.get(..4))
        .unwrap_or_default()
        .to_owned();
    // The lookup is itself on the record, before anything is read: who looked for whom (by
    // the same keyed hash, never in clear).
    let actor = super::command_line();
    let draft = Draft {
        by: &actor,
        at: OffsetDateTime::now_utc(),
        agent: None,
        what: "audit.find",
        clauses: vec![format!(
            "looked up the calls about {kind} (#{short}…) in the audit log"
        )],
        before: json!(null),
        after: json!({"hashes": hashes}),
    };
    store
        .append_audit(&[draft.into_record().to_entry()])
        .await?;
    // An installation that keeps personal data in clear (`keep_personal_data`, or entries
    // written while it did) holds the value itself, as a JSON string: searched as one, whole
    // (quoted, so "Ada" does not find "Adam"), as given and in lower case (found in review:
    // such entries were reported as "no call touched").
    // Only in the call's arguments, where personal data is: a value also found elsewhere
    // (an agent named after its owner, in every record's agent name) is no call about it.
    let mut needles: Vec<(String, bool)> = hashes.iter().map(|h| (h.clone(), false)).collect();
    for f in &forms {
        for v in [f.trim().to_owned(), f.trim().to_lowercase()] {
            let quoted = serde_json::to_string(&v)?;
            if !needles.iter().any(|(n, _)| *n == quoted) {
                needles.push((quoted, true));
            }
        }
    }
    let in_arguments = |e: &crate::store::AuditEntry, needle: &str| {
        serde_json::from_str::<crate::audit::Record>(&e.content)
            .ok()
            .and_then(|r| serde_json::to_string(&r.arguments).ok())
            .is_some_and(|args| args.contains(needle))
    };
    let mut found = Vec::new();
    for (h, clear) in &needles {
        for e in store.proofs().audit_containing(h, a.limit).await? {
            if *clear && !in_arguments(&e, h) {
                continue;
            }
            if e.kind != "admin"
                && !found
                    .iter()
                    .any(|f: &crate::store::AuditEntry| f.seq == e.seq)
            {
                found.push(e);
            }
        }
    }
    found.sort_by_key(|e| std::cmp::Reverse(e.seq));
    found.truncate(usize::try_from(a.limit).unwrap_or(usize::MAX));
    let lines: Vec<_> = found
        .iter()
        .map(|e| {
            let r: Option<crate::audit::Record> = serde_json::from_str(&e.content).ok();
            json!({
                "seq": e.seq,
                "request_id": e.request_id,
                "kind": e.kind,
                "at": e.at.format(&Rfc3339).unwrap_or_default(),
                "agent": r.as_ref().and_then(|r| r.agent_name.clone()),
                "action": e.action,
                "decision": e.decision,
                "sentence": r.map(|r| r.sentence).unwrap_or_default(),
            })
        })
        .collect();
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({"hashes": hashes, "entries": lines}))?
        );
        return Ok(());
    }
    if lines.is_empty() {
        outln!(
            "No call in the log touched {kind} with the keyed hash {} (nor held it in clear).",
            hashes.join(" or ")
        );
        return Ok(());
    }
    outln!(
        "{} entr{} touched {kind} with the keyed hash {}:",
        lines.len(),
        if lines.len() == 1 { "y" } else { "ies" },
        hashes.join(" or ")
    );
    for l in &lines {
        outln!(
            "{}  {}  {}  {}",
            l["at"].as_str().unwrap_or_default(),
            l["request_id"].as_str().unwrap_or_default(),
            l["kind"].as_str().unwrap_or_default(),
            l["sentence"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}

pub async fn consistency(store: &dyn Store, a: &ConsistencyArgs) -> CliResult {
    let p = tree::consistency(store, a.from, a.to).await?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&p)?);
    } else {
        outln!(
            "The log of {} entries (root {}) is a prefix of the log of {} entries (root {}){}",
            p.old_size,
            p.old_root,
            p.new_size,
            p.new_root,
            if p.verified {
                ":"
            } else {
                ", but THIS PROOF DOES NOT LINK THE TWO ROOTS: the log changed after they were signed."
            }
        );
        for (i, h) in p.path.iter().enumerate() {
            outln!("  proof[{i:>2}]   {h}");
        }
        outln!();
        outln!("The older checkpoint:");
        super::out!("{}", p.old_checkpoint);
        outln!();
        outln!("The newer checkpoint:");
        super::out!("{}", p.new_checkpoint);
    }
    if p.verified {
        Ok(())
    } else {
        Err(Failure::Message(
            "the two checkpoints are not consistent".into(),
        ))
    }
}
