//! Proving the audit log to someone who does not trust the database (#17): signed
//! checkpoints kept outside it, inclusion proofs checked by an independent implementation,
//! rewrites that the hash chain alone cannot see, pruning that keeps the log provable, and
//! sinks that are down for a while. Every command runs through the real binary.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bollard::audit::checkpoint::{Checkpoint, CheckpointKey, PublicKey};
use bollard::audit::sink::{CheckpointConfig, Signer, SinkMetrics};
use bollard::store::{NewAuditEntry, chain_hash};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::helpers::{Options, TestApp};

const SEARCH: &str = "/api/v1/mixed_people/api_search";
const ORIGIN: &str = "bollard.test/audit";

fn bin(db: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_bollard"));
    c.env("BOLLARD_DATABASE_URL", format!("sqlite://{}", db.display()))
        .env_remove("APOLLO_API_KEY")
        .current_dir(db.parent().expect("the database has a folder"))
        .kill_on_drop(true);
    c
}

async fn run(db: &Path, args: &[&str]) -> Output {
    bin(db).args(args).output().await.expect("bollard runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn ok(db: &Path, args: &[&str]) -> String {
    let o = run(db, args).await;
    assert!(o.status.success(), "bollard {args:?} failed: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `audit verify` against the checkpoints in `dir`, signed by the key in `public`.
fn verify_against<'a>(dir: &'a str, public: &'a str) -> [&'a str; 6] {
    [
        "audit",
        "verify",
        "--checkpoints",
        dir,
        "--public-key",
        public,
    ]
}

async fn fails(db: &Path, args: &[&str]) -> String {
    let o = run(db, args).await;
    assert!(
        !o.status.success(),
        "bollard {args:?} should fail: {}",
        text(&o)
    );
    text(&o)
}

/// `bollard audit keygen` through the binary: the key file, its public key file, and what
/// it printed.
struct Keys {
    dir: tempfile::TempDir,
    key: PathBuf,
    public: PathBuf,
}

impl Keys {
    async fn new() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("checkpoint.key");
        let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_bollard"))
            .args(["audit", "keygen", "--out"])
            .arg(&key)
            .args(["--name", ORIGIN])
            .current_dir(dir.path())
            .output()
            .await
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let printed = String::from_utf8_lossy(&o.stdout).into_owned();
        let public = dir.path().join("checkpoint.key.pub");
        let vkey = std::fs::read_to_string(&public).unwrap();
        assert!(vkey.starts_with(&format!("{ORIGIN}+")), "{vkey}");
        assert!(
            printed.contains(vkey.trim()),
            "the public key is printed: {printed}"
        );
        assert!(printed.contains("checkpoint_key_file"), "{printed}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o777,
                0o600,
                "the private key is readable only by its owner"
            );
        }
        // A second keygen never overwrites a key.
        let again = tokio::process::Command::new(env!("CARGO_BIN_EXE_bollard"))
            .args(["audit", "keygen", "--out"])
            .arg(&key)
            .output()
            .await
            .unwrap();
        assert!(!again.status.success());
        assert!(text(&again).contains("already exists"), "{}", text(&again));
        Keys { dir, key, public }
    }

    fn config(
        &self,
        dir: Option<PathBuf>,
        witness: Option<String>,
        every: Duration,
    ) -> CheckpointConfig {
        let key = CheckpointKey::parse(&std::fs::read_to_string(&self.key).unwrap()).unwrap();
        CheckpointConfig {
            key: Arc::new(key),
            dir,
            interval: every,
            witness_url: witness,
        }
    }

    fn public(&self) -> PublicKey {
        PublicKey::parse(&std::fs::read_to_string(&self.public).unwrap()).unwrap()
    }

    fn public_arg(&self) -> String {
        self.public.display().to_string()
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut f: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    f.sort();
    f
}

async fn search(t: &TestApp, key: &str, body: Value) -> String {
    let a = t.post(SEARCH, key, body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.headers["x-bollard-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// An independent check of `bollard audit prove --json`: RFC 9162 2.1.3.2 in Python with
/// hashlib, against the root read from the signed checkpoint's own text.
fn python_verifies(proof: &Value) -> String {
    const SCRIPT: &str = r#"
import base64, hashlib, json, sys
p = json.load(sys.stdin)
root = base64.b64decode(p["checkpoint"].split("\n")[2])
size = int(p["checkpoint"].split("\n")[1])
assert size == p["tree_size"]
ok = len(p["entries"]) > 0
FIELDS = ["prev_hash", "seq", "at", "request_id", "kind", "agent_id", "action", "decision", "content"]
for e in p["entries"]:
    # The entry hash from the call itself: each field, length-prefixed (8 bytes, big-endian).
    pre = e["preimage"]
    h = hashlib.sha256()
    for f in FIELDS:
        b = pre[f].encode()
        h.update(len(b).to_bytes(8, "big") + b)
    ok = ok and h.hexdigest() == e["entry_hash"] and pre["request_id"] == p["request_id"]
    fn, sn = e["leaf_index"], size - 1
    r = hashlib.sha256(b"\x00" + e["entry_hash"].encode()).digest()
    for h in e["path"]:
        h = bytes.fromhex(h)
        if sn == 0:
            ok = False
            break
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + h + r).digest()
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + h).digest()
        fn >>= 1
        sn >>= 1
    ok = ok and sn == 0 and r == root
print("verified" if ok else "FAILED")
"#;
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(proof.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An independent check of `bollard audit consistency --json`: RFC 9162 2.1.4.2 in Python,
/// against the roots read from the two signed checkpoints' own text.
fn python_verifies_consistency(proof: &Value) -> String {
    const SCRIPT: &str = r#"
import base64, hashlib, json, sys
p = json.load(sys.stdin)
H = lambda b: hashlib.sha256(b"\x01" + b).digest()
old = base64.b64decode(p["old_checkpoint"].split("\n")[2])
new = base64.b64decode(p["new_checkpoint"].split("\n")[2])
m, n = int(p["old_checkpoint"].split("\n")[1]), int(p["new_checkpoint"].split("\n")[1])
path = [bytes.fromhex(h) for h in p["path"]]
def check():
    if m == n:
        return not path and old == new
    q = ([old] if m & (m - 1) == 0 else []) + path
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = q[0]
    for c in q[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = H(c + fr), H(c + sr)
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = H(sr + c)
        fn >>= 1
        sn >>= 1
    return fr == old and sr == new and sn == 0
print("verified" if 0 < m < n and check() else "FAILED")
"#;
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(proof.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What someone who can write the database does to hide a call: edits an entry near the end,
/// then recomputes every hash after it and the stored head, so the chain is whole again.
async fn rewrite_tail_and_head(db: &Path, from_end: i64, find: &str, replace: &str) -> i64 {
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let (head,): (i64,) = sqlx::query_as("SELECT seq FROM audit_head")
        .fetch_one(&mut c)
        .await
        .unwrap();
    let first = head - from_end;
    type Row = (
        i64,
        i64,
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        Vec<u8>,
        Vec<u8>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        // SQLite keeps Bollard's ids as their 16 bytes and an entry's link to the one before
        // as that entry's hash; an attacker reads them back as text as easily.
        "SELECT seq, at, \
           CASE typeof(request_id) WHEN 'blob' THEN 'req_' || lower(hex(request_id)) ELSE request_id END, \
           kind, \
           CASE typeof(agent_id) WHEN 'blob' THEN 'agt_' || lower(hex(agent_id)) ELSE agent_id END, \
           action, decision, content, \
           (SELECT p.hash FROM audit AS p WHERE p.seq = audit.seq - 1) \
         FROM audit WHERE seq >= ? ORDER BY seq",
    )
    .bind(first)
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut prev: Option<String> = None;
    let mut last = String::new();
    for (seq, at, request_id, kind, agent_id, action, decision, content, prev_hash) in rows {
        let content =
            bollard::store::audit_content_text(&content, &request_id, agent_id.as_deref(), at)
                .unwrap();
        let prev_hash = bollard::store::audit_hash_text(&prev_hash);
        let content = if seq == first {
            assert!(content.contains(find), "{content}");
            content.replace(find, replace)
        } else {
            content
        };
        let e = NewAuditEntry {
            at: time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at)).unwrap(),
            request_id,
            kind,
            agent_id,
            action,
            decision,
            content: content.clone(),
        };
        let p = prev.clone().unwrap_or(prev_hash);
        let hash = chain_hash(&p, seq, &e);
        sqlx::query("UPDATE audit SET content = ?, prev_hash = ?, hash = ? WHERE seq = ?")
            .bind(&content)
            .bind(&p)
            .bind(&hash)
            .bind(seq)
            .execute(&mut c)
            .await
            .unwrap();
        prev = Some(hash.clone());
        last = hash;
    }
    sqlx::query("UPDATE audit_head SET hash = ? WHERE id = 1")
        .bind(&last)
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    first
}

#[tokio::test]
async fn checkpoints_catch_a_tail_and_head_rewritten_together_which_the_chain_misses() {
    let keys = Keys::new().await;
    let cps = keys.dir.path().join("checkpoints");
    let t = TestApp::spawn_with(Options {
        // An hour: the one checkpoint here is the one signed at shutdown.
        checkpoints: Some(keys.config(Some(cps.clone()), None, Duration::from_secs(3600))),
        ..Options::default()
    })
    .await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    let mut rids = Vec::new();
    for title in ["VP Sales", "CTO", "Founder"] {
        rids.push(search(&t, &key, json!({"person_titles": [title]})).await);
    }
    let db = t.db_path.clone();
    let _folder = t.stop().await;
    let written = files(&cps);
    assert_eq!(written.len(), 1, "shutdown signs a checkpoint: {written:?}");
    let note = std::fs::read_to_string(&written[0]).unwrap();
    let cp = keys.public().open_checkpoint(&note).unwrap();
    assert_eq!(cp.origin, ORIGIN);
    assert!(note.contains("\n\n\u{2014} bollard.test/audit "), "{note}");

    let public = keys.public_arg();
    let dir = cps.display().to_string();
    let out = ok(&db, &verify_against(&dir, &public)).await;
    assert!(out.contains("extends all 1 checkpoint given"), "{out}");
    assert_eq!(ok(&db, &["audit", "checkpoints", "export"]).await, note);

    // Each call's entries, proved against the checkpoint, checked by Python.
    for rid in &rids {
        let proof: Value =
            serde_json::from_str(&ok(&db, &["audit", "prove", rid, "--json"]).await).unwrap();
        assert_eq!(
            proof["entries"].as_array().unwrap().len(),
            2,
            "decision and outcome"
        );
        assert_eq!(python_verifies(&proof), "verified", "{proof:#}");
        // A proof for another leaf does not verify, nor one whose record was changed, nor
        // another call's entries passed off as this call's.
        let mut wrong = proof.clone();
        wrong["entries"][0]["leaf_index"] = json!(proof["entries"][1]["leaf_index"]);
        assert_eq!(python_verifies(&wrong), "FAILED");
        let mut edited = proof.clone();
        let content = proof["entries"][0]["preimage"]["content"].as_str().unwrap();
        edited["entries"][0]["preimage"]["content"] = json!(content.replace("allowed", "denied"));
        assert_eq!(python_verifies(&edited), "FAILED");
        let mut other = proof.clone();
        other["request_id"] = json!("req_someone_else");
        assert_eq!(python_verifies(&other), "FAILED");
    }
    let printed = ok(&db, &["audit", "prove", &rids[0]]).await;
    assert!(printed.contains("leaf index"), "{printed}");
    assert!(printed.contains("path[ 0]"), "{printed}");
    assert!(
        printed.contains(&note),
        "the checkpoint is printed with the proof: {printed}"
    );

    // The last call's decision said "Founder"; the tail and the head are rewritten so it
    // says "Janitor" and the chain is whole again.
    let first = rewrite_tail_and_head(&db, 1, "Founder", "Janitor").await;
    let plain = ok(&db, &["audit", "verify"]).await;
    assert!(
        plain.contains("intact"),
        "the chain alone is fooled: {plain}"
    );
    let out = fails(&db, &verify_against(&dir, &public)).await;
    let file = written[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(out.contains(&file), "names the checkpoint: {out}");
    assert!(out.contains(&format!("entries 1 to {}", cp.size)), "{out}");
    assert!(out.contains("changed, removed or reordered"), "{out}");
    let json: Value = serde_json::from_str(&String::from_utf8_lossy(
        &run(
            &db,
            &[
                "audit",
                "verify",
                "--checkpoints",
                &dir,
                "--public-key",
                &public,
                "--json",
            ],
        )
        .await
        .stdout,
    ))
    .unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["first_bad_checkpoint"], file.as_str());
    assert!(first <= i64::try_from(cp.size).unwrap());
    // And the proof of that call no longer reaches the signed root.
    let out = fails(&db, &["audit", "prove", &rids[2]]).await;
    assert!(
        out.contains("DOES NOT LEAD TO THE CHECKPOINT'S ROOT"),
        "{out}"
    );

    // Nor does a gateway started on the rewritten log sign a checkpoint over it (it would
    // link a genuine signature over the forgery to the real checkpoint before it).
    let store = bollard::store::sqlite::SqliteStore::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let e = Signer::new(
        Arc::new(store),
        keys.config(Some(cps.clone()), None, Duration::from_secs(3600)),
        SinkMetrics::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with(&format!(
            "the audit log no longer extends its latest signed checkpoint (of {} entries)",
            cp.size
        )),
        "{e}"
    );
    assert_eq!(files(&cps).len(), 1, "nothing more was signed");
}

#[tokio::test]
async fn a_forged_or_altered_checkpoint_is_rejected() {
    let keys = Keys::new().await;
    let cps = keys.dir.path().join("checkpoints");
    let t = TestApp::spawn_with(Options {
        checkpoints: Some(keys.config(Some(cps.clone()), None, Duration::from_secs(3600))),
        ..Options::default()
    })
    .await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    search(&t, &key, json!({"person_titles": ["CTO"]})).await;
    let db = t.db_path.clone();
    let _folder = t.stop().await;
    let note = std::fs::read_to_string(&files(&cps)[0]).unwrap();
    let cp = keys.public().open_checkpoint(&note).unwrap();
    let public = keys.public_arg();

    // The size changed, the signature kept.
    let altered = keys.dir.path().join("altered");
    std::fs::create_dir(&altered).unwrap();
    let size_line = format!("\n{}\n", cp.size);
    std::fs::write(
        altered.join("checkpoint.txt"),
        note.replacen(&size_line, &format!("\n{}\n", cp.size - 1), 1),
    )
    .unwrap();
    let out = fails(
        &db,
        &verify_against(&altered.display().to_string(), &public),
    )
    .await;
    assert!(out.contains("is not to be trusted"), "{out}");
    assert!(out.contains("altered or forged"), "{out}");

    // A checkpoint of the true root, signed by another key that took the log's name.
    let forger = CheckpointKey::generate(ORIGIN).unwrap();
    let forged = keys.dir.path().join("forged");
    std::fs::create_dir(&forged).unwrap();
    std::fs::write(
        forged.join("checkpoint.txt"),
        forger.sign_note(
            &Checkpoint {
                previous: None,
                ..cp.clone()
            }
            .text(),
        ),
    )
    .unwrap();
    let out = fails(&db, &verify_against(&forged.display().to_string(), &public)).await;
    assert!(out.contains("no signature by the key"), "{out}");
}

#[tokio::test]
async fn prune_keeps_the_log_provable_and_find_lists_a_persons_calls_until_then() {
    let keys = Keys::new().await;
    let cps = keys.dir.path().join("checkpoints");
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    let mut signer = Signer::new(
        t.store.clone(),
        keys.config(Some(cps.clone()), None, Duration::from_secs(3600)),
        SinkMetrics::default(),
    )
    .await
    .unwrap();
    let old = search(&t, &key, json!({"q_keywords": "ada@acme.com"})).await;
    t.flush_audit().await;
    let cp0 = signer.sign().await.unwrap().expect("a first checkpoint");
    search(&t, &key, json!({"person_titles": ["CTO"]})).await;
    t.flush_audit().await;
    let cp1 = signer.sign().await.unwrap().expect("a second checkpoint");
    assert!(
        signer.sign().await.unwrap().is_none(),
        "no new entries, no checkpoint"
    );
    t.clock.advance(time::Duration::days(10));
    let recent = search(&t, &key, json!({"person_titles": ["CFO"]})).await;
    t.flush_audit().await;
    signer.sign().await.unwrap().expect("a third checkpoint");
    signer.deliver().await;
    assert_eq!(files(&cps).len(), 3);
    let db = t.db_path.clone();
    let dir = cps.display().to_string();
    let public = keys.public_arg();

    // Find: the calls that touched this address, by its keyed hash; the lookup is recorded.
    let found: Value = serde_json::from_str(
        &ok(&db, &["audit", "find", "--email", "Ada@Acme.com", "--json"]).await,
    )
    .unwrap();
    let rids: Vec<&str> = found["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rids,
        [old.as_str(), old.as_str()],
        "decision and outcome: {found:#}"
    );
    let text = ok(&db, &["audit", "find", "--email", "ada@acme.com"]).await;
    assert!(text.contains(&old) && text.contains("hmac:"), "{text}");
    assert!(
        !text.contains("ada@acme.com"),
        "the address is never printed back from the log"
    );
    let none = ok(&db, &["audit", "find", "--name", "Nobody Here"]).await;
    assert!(
        none.starts_with("No call in the log touched a name"),
        "{none}"
    );
    // An entry written by an installation that keeps personal data in clear holds the value
    // itself: found too, as a whole value (a part of it finds nothing).
    let clear = bollard::audit::Record {
        arguments: json!({"email": "grace@hopper.example"}),
        sentence: "Sales Agent looked up a person: allowed.".into(),
        ..bollard::audit::Record::blank(
            "decision",
            "req_0000000000000000000000000000c1ea".into(),
            time::OffsetDateTime::now_utc(),
            "rest",
        )
    };
    t.store.append_audit(&[clear.to_entry()]).await.unwrap();
    let text = ok(&db, &["audit", "find", "--email", "Grace@Hopper.example"]).await;
    assert!(
        text.contains("req_0000000000000000000000000000c1ea"),
        "{text}"
    );
    let part = ok(&db, &["audit", "find", "--email", "hopper.example"]).await;
    assert!(part.starts_with("No call in the log touched"), "{part}");
    // A value found only outside the arguments (every record names its agent) is no call
    // about a person of that name.
    let agent = ok(&db, &["audit", "find", "--name", "Sales Agent"]).await;
    assert!(
        agent.starts_with("No call in the log touched a name"),
        "{agent}"
    );
    let admin = ok(&db, &["audit", "--kind", "admin"]).await;
    assert!(
        admin.contains("looked up the calls about an email address (#"),
        "{admin}"
    );
    assert!(
        fails(&db, &["audit", "find"]).await.contains("--email"),
        "one of the three is required"
    );

    // Each checkpoint's log is a prefix of the next one's, as Python checks too.
    let from = cp0.size.to_string();
    let proof: Value =
        serde_json::from_str(&ok(&db, &["audit", "consistency", "--from", &from, "--json"]).await)
            .unwrap();
    assert_eq!(proof["verified"], true);
    assert_eq!(python_verifies_consistency(&proof), "verified", "{proof:#}");
    let mut wrong = proof.clone();
    wrong["path"][0] = json!("00".repeat(32));
    assert_eq!(python_verifies_consistency(&wrong), "FAILED");
    let to = cp1.size.to_string();
    let printed = ok(&db, &["audit", "consistency", "--from", &from, "--to", &to]).await;
    assert!(
        printed.starts_with(&format!("The log of {from} entries (root "))
            && printed.contains("proof[ 0]"),
        "{printed}"
    );
    let none = fails(&db, &["audit", "consistency", "--from", "1"]).await;
    assert!(none.contains("no checkpoint of 1 entry is kept"), "{none}");
    let later = fails(&db, &["audit", "consistency", "--from", "999"]).await;
    assert!(
        later.contains("must not be larger than the newer"),
        "{later}"
    );

    // Prune everything written more than five days ago: up to the second checkpoint.
    let before = (t.clock.now() - time::Duration::days(5))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let out = ok(&db, &["audit", "prune", "--before", &before]).await;
    assert!(
        out.contains(&format!("(1 to {})", cp1.size))
            && out.contains(&format!("checkpoint of {} entries", cp1.size)),
        "{out}"
    );
    assert!(
        out.starts_with(&format!("Removed {} entries", cp1.size)),
        "{out}"
    );
    let again = ok(&db, &["audit", "prune", "--before", &before]).await;
    assert!(again.starts_with("Nothing to prune"), "{again}");
    assert!(
        fails(&db, &["audit", "prune", "--before", "last tuesday"])
            .await
            .contains("is not a date"),
    );

    // The chain is verified from the cut; the checkpoints from before the cut by the proofs
    // kept at the prune, the later ones from the entries.
    assert!(ok(&db, &["audit", "verify"]).await.contains("intact"));
    let out = ok(&db, &verify_against(&dir, &public)).await;
    assert!(out.contains("extends all 3 checkpoints given"), "{out}");
    let proof: Value =
        serde_json::from_str(&ok(&db, &["audit", "prove", &recent, "--json"]).await).unwrap();
    assert_eq!(python_verifies(&proof), "verified", "{proof:#}");
    // The compact range kept at the cut is all a consistency proof from an older checkpoint
    // needs.
    let after: Value =
        serde_json::from_str(&ok(&db, &["audit", "consistency", "--from", &from, "--json"]).await)
            .unwrap();
    assert_eq!(python_verifies_consistency(&after), "verified", "{after:#}");
    let gone = fails(&db, &["audit", "prove", &old]).await;
    assert!(gone.contains("no call with the request id"), "{gone}");
    // The personal-data hashes went with the entries.
    let found: Value = serde_json::from_str(
        &ok(&db, &["audit", "find", "--email", "ada@acme.com", "--json"]).await,
    )
    .unwrap();
    assert_eq!(found["entries"], json!([]), "{found:#}");
    let admin = ok(&db, &["audit", "--kind", "admin"]).await;
    assert!(
        admin.contains(&format!("pruned the audit log: entries 1 to {}", cp1.size)),
        "the prune is itself an entry: {admin}"
    );

    // A signer started after the prune carries on from the kept compact range.
    let mut later = Signer::new(
        t.store.clone(),
        keys.config(Some(cps.clone()), None, Duration::from_secs(3600)),
        SinkMetrics::default(),
    )
    .await
    .unwrap();
    later
        .sign()
        .await
        .unwrap()
        .expect("the prune's entries are signed");
    later.deliver().await;
    let out = ok(&db, &verify_against(&dir, &public)).await;
    assert!(out.contains("extends all 4 checkpoints given"), "{out}");
    assert!(
        out.contains(&format!(
            "Entries 1 to {} were pruned (the last prune on ",
            cp1.size
        )),
        "a verification says the prune: {out}"
    );

    // An entry at or before the cut is one the prune removed: put back (say, edited and
    // restored by someone who forged the prune's record), it is named, not shown unchecked.
    const COPY_AS_FIRST: &str = "INSERT INTO audit \
         (seq, at, request_id, kind, agent_id, action, decision, content, prev_hash, hash) \
         SELECT 1, at, request_id, kind, agent_id, action, decision, content, prev_hash, hash \
         FROM audit WHERE seq = (SELECT max(seq) FROM audit)";
    t.raw_sql(COPY_AS_FIRST).await;
    for args in [
        vec!["audit", "verify"],
        verify_against(&dir, &public).to_vec(),
    ] {
        let out = fails(&db, &args).await;
        assert!(
            out.contains(&format!(
                "broken at entry 1: the log was pruned up to entry {}, yet entry 1 is still there",
                cp1.size
            )),
            "{args:?}: {out}"
        );
    }
    t.raw_sql("DELETE FROM audit WHERE seq = 1").await;
    ok(&db, &["audit", "verify"]).await;

    // What a prune keeps is checked too: a changed kept hash breaks the proof of the oldest
    // checkpoint (and the root at the cut).
    t.raw_sql(
        // The first hex digit changed, whatever it was ('ffff' in place of the first four
        // would change nothing when they already were).
        "UPDATE audit_prune SET frontier = \
         CASE WHEN substr(frontier, 1, 1) = 'f' THEN '0' ELSE 'f' END || substr(frontier, 2)",
    )
    .await;
    let out = fails(&db, &verify_against(&dir, &public)).await;
    let first = cps.join(bollard::audit::sink::file_name(cp0.size));
    assert!(
        out.contains(&first.file_name().unwrap().to_string_lossy().into_owned()),
        "{out}"
    );
    let _ = t.stop().await;
}

/// A witness that answers 503 while `down`, and keeps what it took.
async fn witness(down: Arc<AtomicBool>) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::routing::post;
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/checkpoints",
        post(move |body: String| {
            let down = down.clone();
            let keep = keep.clone();
            async move {
                if down.load(Ordering::SeqCst) {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    keep.lock().unwrap().push(body);
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/checkpoints", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, got)
}

async fn metric(t: &TestApp, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://{}/metrics", t.app.admin_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn wait_for(t: &TestApp, name: &str, want: f64) {
    for _ in 0..120 {
        if metric(t, name).await == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{name} never became {want}");
}

/// The console's audit page, signed in with a fresh admin key through the sign-in form.
async fn console_audit_page(t: &TestApp) -> String {
    let (_, key) = bollard::ops::create_admin_key(&*t.store, &crate::helpers::tester(), "checker")
        .await
        .unwrap();
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("http://{}", t.app.admin_addr);
    let page = c.get(format!("{base}/sign-in")).send().await.unwrap();
    let cookie = |r: &reqwest::Response| {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let pre = cookie(&page)[0].clone();
    let html = page.text().await.unwrap();
    let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = html[at..at + html[at..].find('"').unwrap()].to_owned();
    let signed = c
        .post(format!("{base}/sign-in"))
        .header("cookie", &pre)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("csrf", csrf.as_str()),
                    ("key", key.expose()),
                    ("next", "/audit"),
                ])
                .finish(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let session = cookie(&signed)
        .into_iter()
        .find(|c| c.starts_with("bollard_session="))
        .unwrap();
    c.get(format!("{base}/audit"))
        .header("cookie", session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn sinks_that_are_down_never_block_calls_and_catch_up_when_back() {
    let keys = Keys::new().await;
    let down = Arc::new(AtomicBool::new(true));
    let (url, got) = witness(down.clone()).await;
    // The directory cannot be made while a file stands where its parent should be.
    let blocker = keys.dir.path().join("blocker");
    std::fs::write(&blocker, "not a directory").unwrap();
    let cps = blocker.join("checkpoints");
    let t = TestApp::spawn_with(Options {
        checkpoints: Some(keys.config(Some(cps.clone()), Some(url), Duration::from_secs(1))),
        ..Options::default()
    })
    .await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    search(&t, &key, json!({"person_titles": ["CTO"]})).await;
    wait_for(&t, "bollard_checkpoint_sink_up{sink=\"witness\"}", 0.0).await;
    wait_for(&t, "bollard_checkpoint_sink_up{sink=\"directory\"}", 0.0).await;
    assert!(
        metric(
            &t,
            "bollard_checkpoint_sink_failures_total{sink=\"witness\"}"
        )
        .await
            >= Some(1.0)
    );
    // Calls go on while both sinks are down.
    search(&t, &key, json!({"person_titles": ["CFO"]})).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(metric(&t, "bollard_checkpoint_sink_queued{sink=\"witness\"}").await >= Some(1.0));
    let page = console_audit_page(&t).await;
    assert!(page.contains("The witness is failing: "), "{page}");
    assert!(
        page.contains("The checkpoint directory is failing: "),
        "{page}"
    );

    down.store(false, Ordering::SeqCst);
    std::fs::remove_file(&blocker).unwrap();
    wait_for(&t, "bollard_checkpoint_sink_up{sink=\"witness\"}", 1.0).await;
    wait_for(&t, "bollard_checkpoint_sink_up{sink=\"directory\"}", 1.0).await;
    wait_for(&t, "bollard_checkpoint_sink_queued{sink=\"witness\"}", 0.0).await;
    wait_for(
        &t,
        "bollard_checkpoint_sink_queued{sink=\"directory\"}",
        0.0,
    )
    .await;
    let page = console_audit_page(&t).await;
    assert!(page.contains("The witness has every checkpoint."), "{page}");
    assert!(
        page.contains("The newest signed checkpoint covers the first "),
        "{page}"
    );
    let db = t.db_path.clone();
    let _folder = t.stop().await;

    // Everything signed while they were down reached both, in order, and verifies.
    let notes = got.lock().unwrap().clone();
    assert!(notes.len() >= 2, "{notes:?}");
    let public = keys.public();
    let sizes: Vec<u64> = notes
        .iter()
        .map(|n| public.open_checkpoint(n).unwrap().size)
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    assert_eq!(files(&cps).len(), notes.len(), "{sizes:?}");
    let out = ok(
        &db,
        &verify_against(&cps.display().to_string(), &keys.public_arg()),
    )
    .await;
    assert!(
        out.contains(&format!("extends all {} checkpoints", notes.len())),
        "{out}"
    );
}

/// A syslog server over TCP that keeps every byte it receives.
async fn syslog_server() -> (String, Arc<std::sync::Mutex<Vec<u8>>>) {
    use tokio::io::AsyncReadExt;
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let keep = got.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = c.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    keep.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
    });
    (addr, got)
}

/// RFC 6587 octet counting: "LEN SP MSG", again and again.
fn syslog_frames(mut bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(sp) = bytes.iter().position(|b| *b == b' ') {
        let len: usize = std::str::from_utf8(&bytes[..sp]).unwrap().parse().unwrap();
        out.push(String::from_utf8(bytes[sp + 1..sp + 1 + len].to_vec()).unwrap());
        bytes = &bytes[sp + 1 + len..];
    }
    out
}

#[tokio::test]
async fn entries_stream_to_a_rotating_file_syslog_and_http_which_catches_up_after_being_down() {
    use axum::routing::post;
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("audit.jsonl");
    let (syslog, frames) = syslog_server().await;
    let down = Arc::new(AtomicBool::new(true));
    let batches = Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let (d, keep) = (down.clone(), batches.clone());
    let app = axum::Router::new().route(
        "/siem",
        post(move |body: String| {
            let (d, keep) = (d.clone(), keep.clone());
            async move {
                if d.load(Ordering::SeqCst) {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                keep.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap());
                axum::http::StatusCode::OK
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = format!("http://{}/siem", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let t = TestApp::spawn_with(Options {
        export: Some(bollard::audit::export::ExportConfig {
            file: Some(file.clone()),
            file_max_bytes: 3000,
            file_keep: 3,
            syslog_tcp: Some(syslog),
            http_url: Some(http),
            http_batch: 2,
        }),
        ..Options::default()
    })
    .await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    search(&t, &key, json!({"person_titles": ["CTO"]})).await;
    let denied = t
        .post(
            "/api/v1/people/match",
            &key,
            json!({"email": "ada@acme.com", "reveal_phone_number": true}),
        )
        .await;
    assert_eq!(denied.status, 403);
    search(&t, &key, json!({"person_titles": ["CFO"]})).await;
    t.flush_audit().await;
    let (head, _) = t.store.audit_head().await.unwrap();
    let entries = t.store.audit_range(0, 0).await.unwrap();
    assert_eq!(entries.len() as i64, head);

    wait_for(
        &t,
        "bollard_audit_export_position{sink=\"syslog\"}",
        head as f64,
    )
    .await;
    wait_for(
        &t,
        "bollard_audit_export_position{sink=\"file\"}",
        head as f64,
    )
    .await;
    assert!(metric(&t, "bollard_audit_export_failures_total{sink=\"http\"}").await >= Some(1.0));
    assert!(batches.lock().unwrap().is_empty());
    down.store(false, Ordering::SeqCst);
    wait_for(
        &t,
        "bollard_audit_export_position{sink=\"http\"}",
        head as f64,
    )
    .await;
    let _ = t.stop().await;

    // Every sink has every entry once, in order, with the chain's hashes.
    let want: Vec<(i64, String)> = entries.iter().map(|e| (e.seq, e.hash.clone())).collect();
    let of = |v: &Value| {
        (
            v["seq"].as_i64().unwrap(),
            v["hash"].as_str().unwrap().to_owned(),
        )
    };
    let http: Vec<(i64, String)> = batches
        .lock()
        .unwrap()
        .iter()
        .flat_map(|b| {
            let b = b.as_array().unwrap();
            assert!(b.len() <= 2, "batches of at most http_batch");
            b.iter().map(of).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(http, want);
    let frames = syslog_frames(&frames.lock().unwrap());
    let sys: Vec<(i64, String)> = frames
        .iter()
        .map(|f| {
            assert!(f.starts_with("<110>1 ") || f.starts_with("<109>1 "), "{f}");
            assert!(f.contains(" bollard - audit - {"), "{f}");
            of(&serde_json::from_str(&f[f.find('{').unwrap()..]).unwrap())
        })
        .collect();
    assert_eq!(sys, want);
    assert!(
        frames.iter().any(|f| f.starts_with("<109>1 ")),
        "a denied call is a notice"
    );
    let mut rotated = Vec::new();
    for n in (1..=3).rev() {
        rotated.extend(
            std::fs::read_to_string(format!("{}.{n}", file.display()))
                .unwrap_or_default()
                .lines()
                .map(str::to_owned),
        );
    }
    rotated.extend(
        std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .map(str::to_owned),
    );
    assert!(
        std::path::Path::new(&format!("{}.1", file.display())).exists(),
        "it rotated"
    );
    let lines: Vec<(i64, String)> = rotated
        .iter()
        .map(|l| of(&serde_json::from_str(l).unwrap()))
        .collect();
    // Rotation keeps three old files: the oldest lines may be gone, never reordered.
    assert!(want.ends_with(&lines), "{lines:?}");
    let all = rotated.join("\n");
    assert!(
        !all.contains("ada@acme.com"),
        "personal data stays hashed in every sink"
    );
}

#[tokio::test]
async fn replicas_sign_one_chain_and_each_ones_sinks_get_all_of_it() {
    let keys = Keys::new().await;
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    let dirs = [keys.dir.path().join("a"), keys.dir.path().join("b")];
    let signer = |dir: &PathBuf| {
        Signer::new(
            t.store.clone(),
            keys.config(Some(dir.clone()), None, Duration::from_secs(3600)),
            SinkMetrics::default(),
        )
    };
    let (mut a, mut b) = (
        signer(&dirs[0]).await.unwrap(),
        signer(&dirs[1]).await.unwrap(),
    );
    search(&t, &key, json!({"person_titles": ["CTO"]})).await;
    t.flush_audit().await;
    a.sign().await.unwrap().expect("a signs first");
    search(&t, &key, json!({"person_titles": ["CFO"]})).await;
    t.flush_audit().await;
    let second = b.sign().await.unwrap().expect("b signs next, after a's");
    assert!(a.sign().await.unwrap().is_none(), "nothing new since b's");
    a.deliver().await;
    b.deliver().await;
    let db = t.db_path.clone();
    for dir in &dirs {
        let notes = files(dir);
        assert_eq!(notes.len(), 2, "{notes:?}");
        let last = std::fs::read_to_string(&notes[1]).unwrap();
        assert_eq!(last, second.note);
        let out = ok(
            &db,
            &verify_against(&dir.display().to_string(), &keys.public_arg()),
        )
        .await;
        assert!(out.contains("extends all 2 checkpoints"), "{out}");
    }
    let _ = t.stop().await;
}
