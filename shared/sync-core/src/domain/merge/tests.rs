//! The three-way merge: examples per strategy, then properties over random records.

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn fields(pairs: &[(&str, Value)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn policy(strategy: ConflictStrategy) -> ConflictPolicy {
    ConflictPolicy {
        strategy: Some(strategy),
        ..Default::default()
    }
}

#[test]
fn different_fields_changed_on_each_side_merge_without_conflict() {
    let base = fields(&[("Amount", json!(100)), ("StageName", json!("Open"))]);
    let target = fields(&[("Amount", json!(150)), ("StageName", json!("Open"))]);
    let source = fields(&[("Amount", json!(100)), ("StageName", json!("Won"))]);
    let out = three_way(
        &base,
        &target,
        &source,
        &policy(ConflictStrategy::Manual),
        &[],
    );
    assert!(out.unresolved.is_empty() && out.settled.is_empty());
    assert_eq!(
        out.merged,
        fields(&[("Amount", json!(150)), ("StageName", json!("Won"))])
    );
    assert_eq!(out.to_source, fields(&[("Amount", json!(150))]));
    assert_eq!(out.to_target, fields(&[("StageName", json!("Won"))]));
}

#[test]
fn each_strategy_settles_a_same_field_conflict_its_way() {
    let base = fields(&[("Amount", json!(100)), ("Name", json!("A"))]);
    let target = fields(&[("Amount", json!(150)), ("Name", json!("A"))]);
    let source = fields(&[("Amount", json!(200)), ("Name", json!("A"))]);
    let source_wins = three_way(
        &base,
        &target,
        &source,
        &policy(ConflictStrategy::SourceWins),
        &[],
    );
    assert_eq!(source_wins.merged["Amount"], 200);
    assert_eq!(source_wins.to_target, fields(&[("Amount", json!(200))]));
    assert!(source_wins.to_source.is_empty());
    let target_wins = three_way(
        &base,
        &target,
        &source,
        &policy(ConflictStrategy::TargetWins),
        &[],
    );
    assert_eq!(target_wins.merged["Amount"], 150);
    assert_eq!(target_wins.to_source, fields(&[("Amount", json!(150))]));
    let manual = three_way(
        &base,
        &target,
        &source,
        &policy(ConflictStrategy::Manual),
        &[],
    );
    assert!(manual.needs_person());
    assert!(
        manual.to_source.is_empty() && manual.to_target.is_empty(),
        "nothing is overwritten"
    );
    let mut rules = policy(ConflictStrategy::Merge);
    rules.field_rules.insert("Amount".into(), Side::Target);
    let merged = three_way(&base, &target, &source, &rules, &[]);
    assert_eq!(merged.merged["Amount"], 150);
    let no_rule = three_way(
        &base,
        &target,
        &source,
        &policy(ConflictStrategy::Merge),
        &[],
    );
    assert!(
        no_rule.needs_person(),
        "merge without a rule becomes manual"
    );
}

#[test]
fn ignored_fields_are_left_to_their_owner() {
    let base = fields(&[("Id", json!("1"))]);
    let target = fields(&[("Id", json!("2"))]);
    let source = fields(&[("Id", json!("3"))]);
    let out = three_way(
        &base,
        &target,
        &source,
        &policy(ConflictStrategy::Manual),
        &["Id"],
    );
    assert!(out.unresolved.is_empty() && out.to_source.is_empty() && out.to_target.is_empty());
}

#[test]
fn a_change_set_lists_field_old_and_new() {
    let before = fields(&[("Amount", json!(1)), ("Gone", json!(true))]);
    let after = fields(&[("Amount", json!(2)), ("New", json!("x"))]);
    let changes = change_set(&before, &after, &[]);
    assert_eq!(
        serde_json::to_value(&changes).unwrap(),
        json!([
            {"field": "Amount", "old": 1, "new": 2},
            {"field": "Gone", "old": true, "new": null},
            {"field": "New", "old": null, "new": "x"},
        ])
    );
}

fn value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![Just(None), (0i64..3).prop_map(|n| Some(json!(n)))]
}

fn record() -> impl Strategy<Value = Fields> {
    proptest::collection::vec(value(), 4).prop_map(|values| {
        values
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (format!("f{i}"), v)))
            .collect()
    })
}

fn strategy() -> impl Strategy<Value = ConflictPolicy> {
    prop_oneof![
        Just(policy(ConflictStrategy::SourceWins)),
        Just(policy(ConflictStrategy::TargetWins)),
        Just(policy(ConflictStrategy::Manual)),
        Just(policy(ConflictStrategy::Merge)),
        Just(ConflictPolicy {
            strategy: Some(ConflictStrategy::Merge),
            default_rule: Some(Side::Target),
            ..Default::default()
        }),
    ]
}

proptest! {
    #[test]
    fn the_merge_is_deterministic(base in record(), target in record(), source in record(), policy in strategy()) {
        prop_assert_eq!(
            three_way(&base, &target, &source, &policy, &[]),
            three_way(&base, &target, &source, &policy, &[])
        );
    }

    #[test]
    fn a_one_sided_change_is_never_lost(base in record(), target in record(), source in record(), policy in strategy()) {
        let out = three_way(&base, &target, &source, &policy, &[]);
        for i in 0..4 {
            let f = format!("f{i}");
            let (b, t, s) = (base.get(&f), target.get(&f), source.get(&f));
            if t == b && s != b {
                prop_assert_eq!(out.merged.get(&f), s, "the source's change to {} was lost", f);
            }
            if s == b && t != b {
                prop_assert_eq!(out.merged.get(&f), t, "the target's change to {} was lost", f);
            }
        }
    }

    #[test]
    fn a_conflict_only_when_both_sides_changed_a_field_differently(base in record(), target in record(), source in record(), policy in strategy()) {
        let out = three_way(&base, &target, &source, &policy, &[]);
        for conflict in out.settled.iter().chain(&out.unresolved) {
            let f = &conflict.field;
            let (b, t, s) = (base.get(f), target.get(f), source.get(f));
            prop_assert!(t != b && s != b && t != s, "{} is not a real conflict", f);
        }
        for i in 0..4 {
            let f = format!("f{i}");
            let (b, t, s) = (base.get(&f), target.get(&f), source.get(&f));
            let conflicted = out.settled.iter().chain(&out.unresolved).any(|c| c.field == f);
            prop_assert_eq!(conflicted, t != b && s != b && t != s);
        }
    }

    #[test]
    fn after_writing_both_sides_agree_on_every_settled_field(base in record(), target in record(), source in record(), policy in strategy()) {
        let out = three_way(&base, &target, &source, &policy, &[]);
        let apply = |side: &Fields, writes: &Fields| {
            let mut side = side.clone();
            for (k, v) in writes {
                if v.is_null() { side.remove(k); } else { side.insert(k.clone(), v.clone()); }
            }
            side
        };
        let (new_source, new_target) = (apply(&source, &out.to_source), apply(&target, &out.to_target));
        for i in 0..4 {
            let f = format!("f{i}");
            if out.unresolved.iter().any(|c| c.field == f) { continue; }
            prop_assert_eq!(new_source.get(&f), new_target.get(&f));
            prop_assert_eq!(new_source.get(&f), out.merged.get(&f));
        }
    }
}
