//! The webhook relay's addresses (`store::relays`).

use futures::future::join_all;
use time::macros::datetime;

use crate::store::Store;
use crate::store::relays::{Claim, Relay, RelayState};

fn address(token_hash: &str, expires_in_minutes: i64) -> Relay {
    let at = datetime!(2026-12-05 10:00 UTC);
    Relay {
        token_hash: token_hash.into(),
        request_id: format!("req_{token_hash}"),
        agent_id: "agt_1".into(),
        action: "people.enrich".into(),
        target: "https://hooks.example.com/in/1".into(),
        created_at: at,
        expires_at: at + time::Duration::minutes(expires_in_minutes),
        state: RelayState::Open,
        attempts: 0,
    }
}

pub(super) async fn a_relay_address_takes_one_delivery_before_it_expires(s: &dyn Store) {
    let now = datetime!(2026-12-05 10:01 UTC);
    let open = address("aa", 60);
    s.open_relay(&open).await.unwrap();
    s.open_relay(&address("bb", 0)).await.unwrap();
    assert_eq!(s.claim_relay("zz", now).await.unwrap(), Claim::Unknown);
    // Ten replicas racing for one address: exactly one gets it.
    let claims = join_all((0..10).map(|_| s.claim_relay("aa", now))).await;
    let won: Vec<_> = claims
        .iter()
        .filter(|c| matches!(c, Ok(Claim::Claimed(_))))
        .collect();
    assert_eq!(won.len(), 1, "{claims:?}");
    let Ok(Claim::Claimed(r)) = won[0] else {
        unreachable!()
    };
    assert_eq!(
        (r.state, &r.target, &r.request_id),
        (RelayState::Received, &open.target, &open.request_id)
    );
    assert!(
        claims
            .iter()
            .all(|c| matches!(c, Ok(Claim::Claimed(_)) | Ok(Claim::Spent(_)))),
        "{claims:?}"
    );
    // An expired address takes nothing, and says so rather than "unknown".
    match s.claim_relay("bb", now).await.unwrap() {
        Claim::Spent(r) => assert_eq!(r.state, RelayState::Open),
        other => panic!("{other:?}"),
    }
    s.finish_relay("aa", RelayState::Delivered, 2)
        .await
        .unwrap();
    match s.claim_relay("aa", now).await.unwrap() {
        Claim::Spent(r) => assert_eq!((r.state, r.attempts), (RelayState::Delivered, 2)),
        other => panic!("{other:?}"),
    }
    // Purging forgets what expired before the cut, whatever its state.
    assert_eq!(
        s.purge_relays(datetime!(2026-12-05 10:30 UTC))
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.claim_relay("bb", now).await.unwrap(), Claim::Unknown);
    assert!(matches!(
        s.claim_relay("aa", now).await.unwrap(),
        Claim::Spent(_)
    ));
}
