//! Conformance: rate windows and credit budgets, alone and under concurrency.

use super::*;

// --- rate windows -------------------------------------------------------------------------

pub(super) async fn takes_a_request_in_every_window_or_in_none(s: &dyn Store) {
    let windows = [minute(60, 2), hour(0, 3)];
    assert_eq!(
        s.take_rate("agt_a", "agent", &windows).await.unwrap(),
        RateTake::Taken(vec![1, 1])
    );
    assert_eq!(
        s.take_rate("agt_a", "agent", &windows).await.unwrap(),
        RateTake::Taken(vec![2, 2])
    );
    assert_eq!(
        s.take_rate("agt_a", "agent", &windows).await.unwrap(),
        RateTake::Full { index: 0, count: 2 }
    );
    assert_eq!(
        s.rate_counts("agt_a", "agent", &windows).await.unwrap(),
        vec![2, 2],
        "a refusal counts nowhere"
    );

    // The next minute: the hour has room for one more.
    let next = [minute(120, 2), hour(0, 3)];
    assert_eq!(
        s.take_rate("agt_a", "agent", &next).await.unwrap(),
        RateTake::Taken(vec![1, 3])
    );
    assert_eq!(
        s.take_rate("agt_a", "agent", &next).await.unwrap(),
        RateTake::Full { index: 1, count: 3 }
    );
    assert_eq!(
        s.rate_counts("agt_a", "agent", &next).await.unwrap(),
        vec![1, 3],
        "the minute was rolled back"
    );

    let closed = [
        minute(180, 5),
        WindowCheck {
            window: "day",
            start: 0,
            limit: 0,
        },
    ];
    assert_eq!(
        s.take_rate("agt_a", "agent", &closed).await.unwrap(),
        RateTake::Full { index: 1, count: 0 },
        "limit 0"
    );
    assert_eq!(
        s.rate_counts("agt_a", "agent", &closed).await.unwrap(),
        vec![0, 0]
    );
    assert_eq!(
        s.take_rate("agt_a", "agent", &[]).await.unwrap(),
        RateTake::Taken(vec![])
    );
}

pub(super) async fn counts_rate_windows_per_agent_scope_and_start(s: &dyn Store) {
    let w = [minute(60, 10)];
    s.take_rate("agt_a", "agent", &w).await.unwrap();
    s.take_rate("agt_a", "agent", &w).await.unwrap();
    s.take_rate("agt_a", "people.search", &w).await.unwrap();
    s.take_rate("agt_b", "agent", &w).await.unwrap();
    assert_eq!(s.rate_counts("agt_a", "agent", &w).await.unwrap(), vec![2]);
    assert_eq!(
        s.rate_counts("agt_a", "people.search", &w).await.unwrap(),
        vec![1]
    );
    assert_eq!(s.rate_counts("agt_b", "agent", &w).await.unwrap(), vec![1]);
    assert_eq!(
        s.rate_counts("agt_c", "agent", &w).await.unwrap(),
        vec![0],
        "never touched"
    );
    assert_eq!(
        s.rate_counts("agt_a", "agent", &[minute(120, 10)])
            .await
            .unwrap(),
        vec![0],
        "a new window"
    );
}

pub(super) async fn never_takes_more_than_the_rate_limit_under_concurrency(s: &dyn Store) {
    let w = [minute(60, 20), hour(0, 1000)];
    let results = join_all((0..100).map(|_| s.take_rate("agt_a", "agent", &w))).await;
    let taken = results
        .iter()
        .filter(|r| matches!(r, Ok(RateTake::Taken(_))))
        .count();
    let full = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Ok(RateTake::Full {
                    index: 0,
                    count: 20
                })
            )
        })
        .count();
    assert_eq!(
        (taken, full),
        (20, 80),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    assert_eq!(
        s.rate_counts("agt_a", "agent", &w).await.unwrap(),
        vec![20, 20]
    );
}

// --- credit budgets -----------------------------------------------------------------------

pub(super) async fn reserves_credits_in_every_period_or_in_none(s: &dyn Store) {
    let periods = [day(86_400, 5_000), month(0, 8_000)];
    assert_eq!(
        s.reserve_credits("agt_a", 3_000, &periods, None)
            .await
            .unwrap(),
        Reserve::Reserved(vec![3_000, 3_000])
    );
    assert_eq!(
        s.reserve_credits("agt_a", 3_000, &periods, None)
            .await
            .unwrap(),
        Reserve::Short {
            index: 0,
            committed_milli: 3_000
        }
    );
    assert_eq!(
        s.reserve_credits("agt_a", 2_000, &periods, None)
            .await
            .unwrap(),
        Reserve::Reserved(vec![5_000, 5_000])
    );
    // A new day, the same month: the month is short and the new day is left untouched.
    let next_day = [day(2 * 86_400, 5_000), month(0, 8_000)];
    assert_eq!(
        s.reserve_credits("agt_a", 4_000, &next_day, None)
            .await
            .unwrap(),
        Reserve::Short {
            index: 1,
            committed_milli: 5_000
        }
    );
    let usage = s.budget_usage("agt_a", &next_day).await.unwrap();
    assert_eq!(
        (usage[0].reserved_milli, usage[1].reserved_milli),
        (0, 5_000)
    );
    assert_eq!(
        s.reserve_credits("agt_b", 6_000, &[day(0, 5_000)], None)
            .await
            .unwrap(),
        Reserve::Short {
            index: 0,
            committed_milli: 0
        },
        "more than the whole budget, on a fresh period"
    );
    assert_eq!(
        s.budget_usage("agt_b", &[day(0, 5_000)]).await.unwrap()[0].reserved_milli,
        0
    );
}

pub(super) async fn settles_credits_releasing_the_reservation_and_adding_the_spending(
    s: &dyn Store,
) {
    let periods = [day(0, 10_000), month(0, 100_000)];
    s.reserve_credits("agt_a", 4_000, &periods, None)
        .await
        .unwrap();
    s.settle_credits("agt_a", &periods, 4_000, 1_500, None)
        .await
        .unwrap();
    let usage = s.budget_usage("agt_a", &periods).await.unwrap();
    assert_eq!(
        usage,
        vec![
            BudgetUsage {
                period: "day".into(),
                start: 0,
                spent_milli: 1_500,
                reserved_milli: 0
            },
            BudgetUsage {
                period: "month".into(),
                start: 0,
                spent_milli: 1_500,
                reserved_milli: 0
            },
        ]
    );
    // Releasing more than is reserved leaves zero, never less.
    s.reserve_credits("agt_a", 1_000, &periods, None)
        .await
        .unwrap();
    s.settle_credits("agt_a", &periods, 5_000, 0, None)
        .await
        .unwrap();
    assert_eq!(
        s.budget_usage("agt_a", &periods).await.unwrap()[0].reserved_milli,
        0
    );
    // Spending settled without a reservation (an unexpected charge) still counts.
    s.settle_credits("agt_b", &periods, 0, 700, None)
        .await
        .unwrap();
    assert_eq!(
        s.budget_usage("agt_b", &periods).await.unwrap()[1].spent_milli,
        700
    );
    // Spent credits count against the limit.
    assert_eq!(
        s.reserve_credits("agt_a", 9_000, &periods, None)
            .await
            .unwrap(),
        Reserve::Short {
            index: 0,
            committed_milli: 1_500
        }
    );
    assert_eq!(
        s.reserve_credits("agt_a", 8_500, &periods, None)
            .await
            .unwrap(),
        Reserve::Reserved(vec![10_000, 10_000])
    );
}

pub(super) async fn never_reserves_more_than_the_budget_under_concurrency(s: &dyn Store) {
    let periods = [day(0, 20_000), month(0, 1_000_000)];
    let results =
        join_all((0..100).map(|_| s.reserve_credits("agt_a", 1_000, &periods, None))).await;
    let reserved = results
        .iter()
        .filter(|r| matches!(r, Ok(Reserve::Reserved(_))))
        .count();
    let short = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Ok(Reserve::Short {
                    index: 0,
                    committed_milli: 20_000
                })
            )
        })
        .count();
    assert_eq!(
        (reserved, short),
        (20, 80),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    let usage = s.budget_usage("agt_a", &periods).await.unwrap();
    assert_eq!(
        (usage[0].reserved_milli, usage[1].reserved_milli),
        (20_000, 20_000)
    );
}

pub(super) async fn reports_budget_usage_per_period(s: &dyn Store) {
    let periods = [day(86_400, 1_000), month(0, 1_000)];
    let usage = s.budget_usage("agt_a", &periods).await.unwrap();
    assert_eq!(
        usage,
        vec![
            BudgetUsage {
                period: "day".into(),
                start: 86_400,
                spent_milli: 0,
                reserved_milli: 0
            },
            BudgetUsage {
                period: "month".into(),
                start: 0,
                spent_milli: 0,
                reserved_milli: 0
            },
        ],
        "zero for a period never touched"
    );
    s.reserve_credits("agt_a", 250, &periods, None)
        .await
        .unwrap();
    s.reserve_credits("agt_b", 100, &periods, None)
        .await
        .unwrap();
    let usage = s.budget_usage("agt_a", &periods).await.unwrap();
    assert_eq!(
        usage.iter().map(|u| u.reserved_milli).collect::<Vec<_>>(),
        vec![250, 250]
    );
    assert_eq!(
        s.budget_usage("agt_a", &[day(0, 1_000)]).await.unwrap()[0].reserved_milli,
        0,
        "another day"
    );
}

pub(super) async fn finds_the_reservations_of_dead_processes_and_settles_each_once(s: &dyn Store) {
    let t0 = datetime!(2026-12-01 10:00:00 UTC);
    let alive = Instance {
        id: "ins_alive".into(),
        host: "h1".into(),
        started_at: t0,
    };
    let dead = Instance {
        id: "ins_dead".into(),
        host: "h2".into(),
        started_at: t0,
    };
    s.heartbeat(&dead, t0).await.unwrap();
    s.heartbeat(&alive, t0).await.unwrap();
    let periods = [day(0, 10_000), month(0, 100_000)];
    let hold = |request_id, instance| Hold {
        request_id,
        instance,
        at: t0,
    };
    for (req, ins) in [
        ("req_1", "ins_dead"),
        ("req_2", "ins_alive"),
        ("req_3", "ins_dead"),
    ] {
        s.reserve_credits("agt_a", 2_000, &periods, Some(&hold(req, ins)))
            .await
            .unwrap();
    }
    // A reservation of nothing is not held.
    s.reserve_credits("agt_a", 0, &periods, Some(&hold("req_0", "ins_dead")))
        .await
        .unwrap();
    // Both alive at t0: nothing is abandoned.
    assert!(s.dead_reservations(t0).await.unwrap().is_empty());

    // The live one beats again; the dead one does not.
    let t1 = t0 + time::Duration::seconds(60);
    s.heartbeat(&alive, t1).await.unwrap();
    assert_eq!(dead_ids(s, t1).await, ["req_1", "req_3"]);
    let held = s.dead_reservations(t1).await.unwrap();
    assert_eq!(held[0].agent_id, "agt_a");
    assert_eq!(held[0].instance, "ins_dead");
    assert_eq!(held[0].reserved_milli, 2_000);
    assert_eq!(
        held[0]
            .periods
            .iter()
            .map(|p| (p.period, p.start))
            .collect::<Vec<_>>(),
        [("day", 0), ("month", 0)]
    );

    // Settled once: the second attempt (another replica, or the call itself coming back)
    // changes nothing.
    let h = &held[0];
    assert!(
        s.settle_credits(
            "agt_a",
            &h.periods,
            h.reserved_milli,
            2_000,
            Some(&h.request_id)
        )
        .await
        .unwrap()
    );
    assert!(
        !s.settle_credits(
            "agt_a",
            &h.periods,
            h.reserved_milli,
            0,
            Some(&h.request_id)
        )
        .await
        .unwrap()
    );
    let h = &held[1];
    assert!(
        s.settle_credits(
            "agt_a",
            &h.periods,
            h.reserved_milli,
            0,
            Some(&h.request_id)
        )
        .await
        .unwrap()
    );
    let usage = s.budget_usage("agt_a", &periods).await.unwrap();
    assert_eq!(usage[0].spent_milli, 2_000);
    assert_eq!(
        usage[0].reserved_milli, 2_000,
        "req_2 is still held, by a live process"
    );
    let ids = dead_ids(s, t1).await;
    assert!(ids.is_empty(), "{ids:?}");

    // A process that retires leaves what it holds to the next sweep at once.
    s.retire_instance("ins_alive").await.unwrap();
    assert_eq!(dead_ids(s, t1).await, ["req_2"]);
}

async fn dead_ids(s: &dyn Store, alive_since: OffsetDateTime) -> Vec<String> {
    s.dead_reservations(alive_since)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.request_id)
        .collect()
}

// --- learned prices -----------------------------------------------------------------------

pub(super) async fn learns_a_price_only_upwards_and_forgets_them_all(s: &dyn Store) {
    let at = datetime!(2026-12-03 10:00 UTC);
    assert_eq!(s.learned_price("people.bulk_enrich").await.unwrap(), None);
    assert!(s.learn_price("people.bulk_enrich", 3000, at).await.unwrap());
    assert!(
        !s.learn_price("people.bulk_enrich", 2000, at + time::Duration::hours(1))
            .await
            .unwrap(),
        "a lower bill does not lower what was learned"
    );
    assert!(
        s.learn_price("people.bulk_enrich", 4500, at + time::Duration::hours(2))
            .await
            .unwrap()
    );
    assert!(
        s.learn_price("organizations.enrich", 1500, at)
            .await
            .unwrap()
    );
    let one = s
        .learned_price("people.bulk_enrich")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.factor_milli, 4500);
    assert_eq!(one.learned_at, at + time::Duration::hours(2));
    let all = s.learned_prices().await.unwrap();
    assert_eq!(
        all.iter()
            .map(|l| (l.action.as_str(), l.factor_milli))
            .collect::<Vec<_>>(),
        vec![("organizations.enrich", 1500), ("people.bulk_enrich", 4500)]
    );
    assert_eq!(s.forget_prices().await.unwrap(), 2);
    assert!(s.learned_prices().await.unwrap().is_empty());
}

pub(super) async fn keeps_one_reconciliation_per_interval_and_the_latest(s: &dyn Store) {
    use crate::store::prices::Reconciliation;
    assert_eq!(s.last_reconciliation().await.unwrap(), None);
    let r = |bucket: i64, apollo: i64| Reconciliation {
        bucket,
        at: datetime!(2026-12-05 10:00 UTC) + time::Duration::minutes(bucket),
        cycle_start: "2026-12-01".into(),
        cycle_end: "2026-12-31".into(),
        apollo_milli: apollo,
        bollard_milli: 5_000,
    };
    assert!(s.record_reconciliation(&r(7, 4_000)).await.unwrap());
    // Another replica, the same interval: not kept, the first stands.
    assert!(!s.record_reconciliation(&r(7, 9_000)).await.unwrap());
    assert!(s.record_reconciliation(&r(8, 6_000)).await.unwrap());
    assert_eq!(s.last_reconciliation().await.unwrap(), Some(r(8, 6_000)));
}

pub(super) async fn counts_the_calls_sent_to_apollo_per_action_since_a_time(s: &dyn Store) {
    let mut late = entry(
        "r4",
        Some("agt_a"),
        Some("people.enrich"),
        "allowed",
        "decision",
    );
    late.at = T0 + time::Duration::hours(2);
    s.append_audit(&[
        entry(
            "r1",
            Some("agt_a"),
            Some("people.search"),
            "allowed",
            "decision",
        ),
        // An outcome, a denial and an admin change are not calls sent.
        entry(
            "r1",
            Some("agt_a"),
            Some("people.search"),
            "allowed",
            "outcome",
        ),
        entry(
            "r2",
            Some("agt_a"),
            Some("people.enrich"),
            "denied",
            "decision",
        ),
        entry(
            "r3",
            Some("agt_b"),
            Some("people.search"),
            "allowed",
            "decision",
        ),
        entry("c1", None, None, "changed", "admin"),
        late,
    ])
    .await
    .unwrap();
    assert_eq!(
        s.sent_since(T0).await.unwrap(),
        vec![
            ("people.enrich".to_owned(), 1),
            ("people.search".to_owned(), 2)
        ]
    );
    assert_eq!(
        s.sent_since(T0 + time::Duration::hours(1)).await.unwrap(),
        vec![("people.enrich".to_owned(), 1)]
    );
}

pub(super) async fn releases_spending_that_proved_not_charged_never_below_zero(s: &dyn Store) {
    let id = "agt_a";
    let periods = [day(100, 50_000), month(0, 500_000)];
    s.settle_credits(id, &periods, 0, 9_000, None)
        .await
        .unwrap();
    s.release_spent(id, &periods, 8_000).await.unwrap();
    let spent = |u: Vec<BudgetUsage>| {
        u.iter()
            .map(|b| (b.period.clone(), b.spent_milli))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        spent(s.budget_usage(id, &periods).await.unwrap()),
        vec![("day".to_owned(), 1_000), ("month".to_owned(), 1_000)]
    );
    s.release_spent(id, &periods, 8_000).await.unwrap();
    assert_eq!(
        spent(s.budget_usage(id, &periods).await.unwrap()),
        vec![("day".to_owned(), 0), ("month".to_owned(), 0)],
        "never below zero"
    );
}
