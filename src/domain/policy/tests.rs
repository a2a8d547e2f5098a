//! Every rule kind and the precedence between rules.

use super::window::Recent;
use super::*;
use crate::domain::intent::{AchClass, Network, TransferType};

fn money(text: &str) -> Money {
    Money::parse(text).expect("valid amount")
}

/// 2026-12-02 (a Wednesday) 15:00 UTC.
const WEDNESDAY_3PM: i64 = 1_796_223_600_000;

fn facts<'a>(amount: &str, recent: &'a [Recent]) -> Facts<'a> {
    Facts {
        direction: TransferType::Debit,
        network: Network::Ach,
        ach_class: Some(AchClass::Web),
        amount: money(amount),
        agent_id: "ag_1",
        item_id: "it_1",
        account_id: "acc_1",
        account_label: "••0000",
        submitted_before: false,
        at_ms: WEDNESDAY_3PM,
        recent,
    }
}

fn earlier(agent: &str, account: &str, direction: TransferType, amount: &str, minutes_ago: i64) -> Recent {
    Recent {
        agent_id: agent.into(),
        item_id: "it_1".into(),
        account_id: account.into(),
        direction,
        amount: money(amount),
        created_at_ms: WEDNESDAY_3PM - minutes_ago * 60_000,
    }
}

fn policy(rules: &str) -> Policy {
    Policy::from_toml(rules).unwrap_or_else(|e| panic!("policy should parse: {e}"))
}

fn tier(policy: &Policy, facts: &Facts<'_>) -> Tier {
    policy.assess(facts).tier
}

#[test]
fn small_transfers_need_one_approver_without_step_up() {
    let a = Policy::default().assess(&facts("999.99", &[]));
    assert_eq!((a.tier, a.step_up, a.approvals_required), (Tier::Approve, false, 1));
    assert_eq!(a.reasons, vec!["every transfer needs a human approval".to_owned()]);
}

#[test]
fn step_up_starts_exactly_at_the_threshold() {
    let a = Policy::default().assess(&facts("1000.00", &[]));
    assert_eq!((a.tier, a.step_up, a.approvals_required), (Tier::Approve, true, 1));
    assert!(a.reasons.iter().any(|r| r.contains("$1,000.00")));
}

#[test]
fn tier_three_starts_at_its_threshold_and_needs_quorum_with_step_up() {
    let a = Policy::default().assess(&facts("10000.00", &[]));
    assert_eq!((a.tier, a.step_up, a.approvals_required), (Tier::MultiParty, true, 2));
    assert_eq!(tier(&Policy::default(), &facts("9999.99", &[])), Tier::Approve);
}

#[test]
fn tier_three_always_steps_up_even_with_a_higher_step_up_amount() {
    let policy = Policy::builtin(money("50000.00"), money("10000.00"), 2);
    assert!(policy.assess(&facts("10000.00", &[])).step_up);
}

#[test]
fn the_builtin_window_makes_the_split_debit_that_crosses_the_limit_tier_three() {
    let history: Vec<Recent> =
        (1..=3).map(|i| earlier("ag_1", "acc_1", TransferType::Debit, "2500.00", i * 10)).collect();
    assert_eq!(tier(&Policy::default(), &facts("2500.00", &history)), Tier::MultiParty);
    let a = Policy::default().assess(&facts("2500.00", &history));
    assert!(a.reasons.iter().any(|r| r.starts_with("4th debit to ••0000 by this agent in 24 h: $10,000.00 in total")));
    assert_eq!(tier(&Policy::default(), &facts("2500.00", &history[..2])), Tier::Approve, "$7,500.00 stays tier 2");
}

#[test]
fn windows_ignore_other_agents_other_accounts_credits_and_old_requests() {
    let history = vec![
        earlier("ag_2", "acc_1", TransferType::Debit, "9000.00", 5),
        earlier("ag_1", "acc_2", TransferType::Debit, "9000.00", 5),
        earlier("ag_1", "acc_1", TransferType::Credit, "9000.00", 5),
        earlier("ag_1", "acc_1", TransferType::Debit, "9000.00", 25 * 60),
    ];
    assert_eq!(tier(&Policy::default(), &facts("2500.00", &history)), Tier::Approve);
}

#[test]
fn window_scopes_count_per_agent_per_account_and_by_count() {
    let per_agent = policy(
        "[[rule]]\nname = \"busy agent\"\nwhen.window = { scope = \"agent\", period = \"1h\", count_at_least = 3 }\nthen.tier = 3\n",
    );
    let per_account = policy(
        "[[rule]]\nname = \"busy account\"\nwhen.window = { scope = \"account\", period = \"7d\", total_at_least = \"5000.00\" }\nthen.tier = 3\n",
    );
    let two = vec![
        earlier("ag_1", "acc_9", TransferType::Credit, "1.00", 5),
        earlier("ag_2", "acc_1", TransferType::Debit, "4000.00", 3 * 24 * 60),
    ];
    assert_eq!(tier(&per_agent, &facts("1.00", &two[..1])), Tier::Approve, "2 in the hour");
    let three = vec![two[0].clone(), earlier("ag_1", "acc_8", TransferType::Debit, "1.00", 59)];
    assert_eq!(tier(&per_agent, &facts("1.00", &three)), Tier::MultiParty);
    assert_eq!(tier(&per_account, &facts("1000.00", &two)), Tier::MultiParty, "another agent's debit counts");
    assert_eq!(tier(&per_account, &facts("999.99", &two)), Tier::Approve);
}

#[test]
fn direction_network_class_amount_agent_item_and_account_all_must_match() {
    let p = policy(
        r#"[[rule]]
name = "wires"
when.direction = "debit"
when.network = ["ach", "wire"]
when.ach_class = ["web"]
when.amount_at_least = "100.00"
when.amount_at_most = "200.00"
when.agent = ["ag_1"]
when.item = ["it_1"]
when.account = ["acc_1"]
then.tier = 3
"#,
    );
    assert_eq!(tier(&p, &facts("150.00", &[])), Tier::MultiParty);
    for (change, f) in [
        ("direction", Facts { direction: TransferType::Credit, ..facts("150.00", &[]) }),
        ("network", Facts { network: Network::Rtp, ..facts("150.00", &[]) }),
        ("class", Facts { ach_class: Some(AchClass::Ccd), ..facts("150.00", &[]) }),
        ("below", facts("99.99", &[])),
        ("above", facts("200.01", &[])),
        ("agent", Facts { agent_id: "ag_2", ..facts("150.00", &[]) }),
        ("item", Facts { item_id: "it_2", ..facts("150.00", &[]) }),
        ("account", Facts { account_id: "acc_2", ..facts("150.00", &[]) }),
    ] {
        assert_eq!(tier(&p, &f), Tier::Approve, "{change} differs: the rule must not fire");
    }
}

#[test]
fn first_transfer_to_an_account_escalates_and_says_so() {
    let p = policy("[[rule]]\nname = \"new payee\"\nwhen.counterparty = \"new\"\nthen.tier = 3\n");
    let a = p.assess(&facts("10.00", &[]));
    assert_eq!(a.tier, Tier::MultiParty);
    assert!(a.reasons.iter().any(|r| r.contains("first transfer to ••0000")), "{:?}", a.reasons);
    assert_eq!(tier(&p, &Facts { submitted_before: true, ..facts("10.00", &[]) }), Tier::Approve);
}

#[test]
fn day_of_week_and_time_of_day_are_read_in_the_configured_offset() {
    let p = policy(
        "timezone = \"-05:00\"\n[[rule]]\nname = \"office hours\"\nwhen.days = [\"wed\"]\nwhen.hours = \"09:00-11:00\"\nthen.tier = 3\n",
    );
    assert_eq!(tier(&p, &facts("1.00", &[])), Tier::MultiParty, "15:00 UTC is 10:00 at -05:00");
    let later = Facts { at_ms: WEDNESDAY_3PM + 2 * 3_600_000, ..facts("1.00", &[]) };
    assert_eq!(tier(&p, &later), Tier::Approve);
    let night = policy("[[rule]]\nname = \"night\"\nwhen.hours = \"22:00-06:00\"\nthen.tier = 3\n");
    let at_two = Facts { at_ms: WEDNESDAY_3PM + 11 * 3_600_000, ..facts("1.00", &[]) };
    assert_eq!((tier(&night, &at_two), tier(&night, &facts("1.00", &[]))), (Tier::MultiParty, Tier::Approve));
}

#[test]
fn outcomes_set_approvals_groups_step_up_ttl_and_deny() {
    let p = policy(
        r#"[[rule]]
name = "big"
when.amount_at_least = "500.00"
then.approvals = 2
then.approver_groups = ["finance", "ops"]
then.ttl = "20m"
then.step_up = true

[[rule]]
name = "rtp"
when.network = ["rtp"]
then.deny = "RTP is not enabled for agents"
"#,
    );
    let a = p.assess(&facts("600.00", &[]));
    assert_eq!((a.tier, a.approvals_required, a.step_up, a.ttl_secs), (Tier::Approve, 2, true, Some(1200)));
    assert_eq!(a.approver_groups, vec!["finance".to_owned(), "ops".to_owned()]);
    assert_eq!(a.denied, None);
    let denied = p.assess(&Facts { network: Network::Rtp, ..facts("1.00", &[]) });
    assert_eq!(denied.denied.as_deref(), Some("RTP is not enabled for agents"));
}

#[test]
fn the_strictest_outcome_wins_whatever_the_order() {
    let p = policy(
        r#"[[rule]]
name = "short"
when.amount_at_least = "1.00"
then.ttl = "30m"
then.approvals = 3

[[rule]]
name = "shorter"
when.amount_at_least = "1.00"
then.ttl = "10m"
then.tier = 2
then.approvals = 1
"#,
    );
    let a = p.assess(&facts("5.00", &[]));
    assert_eq!((a.ttl_secs, a.approvals_required), (Some(600), 3));
    assert_eq!(a.reasons.len(), 3, "the tier-2 base and both rules say why: {:?}", a.reasons);
}

const TIER_ONE: &str = r#"step_up_amount = "1000.00"
[[rule]]
name = "small credits to known payees"
when.direction = "credit"
when.amount_at_most = "25.00"
when.counterparty = "seen"
when.window = { scope = "agent", period = "24h", total_at_most = "200.00" }
then.tier = 1
"#;

#[test]
fn a_capped_tier_one_rule_lets_small_credits_to_known_payees_execute() {
    let p = policy(TIER_ONE);
    let known =
        |amount, recent| Facts { direction: TransferType::Credit, submitted_before: true, ..facts(amount, recent) };
    let a = p.assess(&known("25.00", &[]));
    assert_eq!((a.tier, a.approvals_required, a.step_up), (Tier::Notify, 0, false));
    assert!(a.reasons[0].contains("Digest"), "{:?}", a.reasons);
    assert_eq!(tier(&p, &known("25.01", &[])), Tier::Approve, "above the per-transfer cap");
    let day: Vec<Recent> = (0..7).map(|i| earlier("ag_1", "acc_1", TransferType::Credit, "25.00", i)).collect();
    assert_eq!(tier(&p, &known("25.00", &day)), Tier::Notify, "$200.00 exactly");
    let more = [day.clone(), vec![earlier("ag_1", "acc_3", TransferType::Credit, "0.01", 1)]].concat();
    assert_eq!(tier(&p, &known("25.00", &more)), Tier::Approve, "past the daily cap");
    let new_payee = Facts { direction: TransferType::Credit, ..facts("5.00", &[]) };
    assert_eq!(tier(&p, &new_payee), Tier::Approve);
}

#[test]
fn any_escalation_beats_a_tier_one_rule() {
    let p = policy(&format!("{TIER_ONE}\n[[rule]]\nname = \"agent 1\"\nwhen.agent = [\"ag_1\"]\nthen.ttl = \"30m\"\n"));
    let f = Facts { direction: TransferType::Credit, submitted_before: true, ..facts("5.00", &[]) };
    assert_eq!(tier(&p, &f), Tier::Approve);
}

#[test]
fn an_edit_keeps_the_tier_step_up_groups_and_quorum_of_the_version_it_replaces() {
    let policy = Policy::default();
    let mut replaced = policy.assess(&facts("12000.00", &[]));
    replaced.approver_groups = vec!["finance".into()];
    let edited = policy.assess(&facts("9999.99", &[])).at_least(&replaced);
    assert_eq!((edited.tier, edited.step_up, edited.approvals_required), (Tier::MultiParty, true, 2));
    assert_eq!(edited.approver_groups, vec!["finance".to_owned()]);
    assert!(edited.reasons.iter().any(|r| r.contains("an edit keeps")));
    let raised = policy.assess(&facts("20000.00", &[])).at_least(&policy.assess(&facts("5.00", &[])));
    assert_eq!((raised.tier, raised.approvals_required), (Tier::MultiParty, 2), "an edit may raise it");
}

#[test]
fn tiers_round_trip_through_numbers() {
    for tier in [Tier::Auto, Tier::Notify, Tier::Approve, Tier::MultiParty] {
        assert_eq!(Tier::from_number(tier.number()), Some(tier));
    }
    assert_eq!(Tier::from_number(4), None);
}

fn refused(source: &str) -> PolicyError {
    Policy::from_toml(source).expect_err("the policy must be refused")
}

#[test]
fn tier_zero_for_a_transfer_is_refused_with_its_line_and_column() {
    let error = refused("label = \"x\"\n\n[[rule]]\nname = \"free money\"\nthen.tier = 0\n");
    assert_eq!((error.line, error.column), (5, 13), "{error}");
    assert!(error.message.contains("tier 0"), "{error}");
}

#[test]
fn syntax_errors_unknown_fields_and_bad_values_name_their_place() {
    assert_eq!(refused("label = \n").line, 1);
    let unknown = refused("[[rule]]\nname = \"a\"\nwhen.colour = \"red\"\nthen.tier = 3\n");
    assert!(unknown.message.contains("colour"), "{unknown}");
    assert_eq!(unknown.line, 3);
    let amount = refused("[[rule]]\nname = \"a\"\nwhen.amount_at_least = \"12.345\"\nthen.tier = 3\n");
    assert_eq!((amount.line, amount.column), (3, 24), "{amount}");
    let ttl = refused("[[rule]]\nname = \"a\"\nthen.ttl = \"2h\"\n");
    assert!(ttl.message.contains("60-minute"), "{ttl}");
    assert!(refused("[[rule]]\nname = \"a\"\nwhen.network = [\"ach\"]\n").message.contains("then"));
    let twice = refused("[[rule]]\nname = \"a\"\nthen.tier = 3\n[[rule]]\nname = \"a\"\nthen.tier = 3\n");
    assert_eq!(twice.line, 5, "{twice}");
}

#[test]
fn a_tier_one_rule_without_both_caps_is_refused() {
    let no_cap = refused("[[rule]]\nname = \"free\"\nwhen.direction = \"credit\"\nthen.tier = 1\n");
    assert!(no_cap.message.contains("amount_at_most"), "{no_cap}");
    let no_window = refused("[[rule]]\nname = \"free\"\nwhen.amount_at_most = \"25.00\"\nthen.tier = 1\n");
    assert!(no_window.message.contains("total_at_most"), "{no_window}");
    let above_step_up = refused(&TIER_ONE.replace("\"25.00\"", "\"1000.00\""));
    assert!(above_step_up.message.contains("step-up"), "{above_step_up}");
}

#[test]
fn the_version_is_the_hash_of_the_content_not_of_its_layout() {
    let a = policy("label = \"v1\"\n[[rule]]\nname = \"a\"\nthen.tier = 3\n");
    let b = policy(
        "# a comment\n[[rule]]\nthen.tier = 3\nname = \"a\"\n\nlabel = \"v1\"\n"
            .replace("\n\nlabel = \"v1\"\n", "\n")
            .as_str(),
    );
    let same = policy("label =   \"v1\"\n\n[[rule]]\nthen = { tier = 3 }\nname = \"a\"\n");
    assert_eq!(a.version, same.version);
    assert_ne!(a.version, b.version, "the label is part of the content");
    assert_eq!(a.version.len(), 64);
    assert_eq!(a.describe(), format!("v1 ({})", &a.version[..12]));
    let other = policy("label = \"v1\"\n[[rule]]\nname = \"a\"\nthen.tier = 2\n");
    assert_ne!(a.version, other.version);
}

#[test]
fn the_documented_example_policy_is_valid() {
    let example = policy(EXAMPLE);
    assert_eq!(example.rules.len(), 6);
    assert_eq!(example.label.as_deref(), Some("example 2026-12"));
}

#[test]
fn the_builtin_policy_keeps_its_window_whatever_the_configured_quorum() {
    for approvers in [0, 1, 2, 50] {
        let builtin = Policy::builtin(money("1000.00"), money("10000.00"), approvers);
        assert_eq!(builtin.rules.len(), 1, "anti-splitting window kept for {approvers} approvers");
        assert_eq!(builtin.tier3_approvers, approvers.clamp(1, 10));
    }
}

#[test]
fn read_tiers_and_the_rate_come_from_the_reads_section() {
    use crate::domain::reads::{ReadProduct, ReadsPolicy};
    assert_eq!(Policy::default().reads, ReadsPolicy::default());
    let p = policy("[reads]\nper_agent_per_minute = 30\ntiers = { identity = 2, balance = 1 }\n");
    assert_eq!(p.reads.tier(ReadProduct::Identity), Tier::Approve);
    assert_eq!(p.reads.tier(ReadProduct::Balance), Tier::Notify);
    assert_eq!(p.reads.tier(ReadProduct::Auth), Tier::Notify, "unset: DESIGN's default");
    assert_eq!(p.reads.tier(ReadProduct::Transactions), Tier::Auto);
    assert_eq!(p.reads.per_agent_per_minute, 30);
}

#[test]
fn changing_a_read_tier_changes_the_version() {
    let base = policy("label = \"v\"\n");
    let raised = policy("label = \"v\"\n[reads.tiers]\nidentity = 2\n");
    let same = policy("label = \"v\"\n[reads]\ntiers = { identity = 2 }\n");
    assert_ne!(base.version, raised.version);
    assert_eq!(raised.version, same.version, "layout is not meaning");
    assert_ne!(raised.version, policy("label = \"v\"\n[reads.tiers]\nidentity = 1\n").version);
}

#[test]
fn bad_read_rules_are_refused_with_their_line_and_column() {
    let tier3 = refused("label = \"x\"\n[reads.tiers]\nbalance = 3\n");
    assert_eq!((tier3.line, tier3.column), (3, 11), "{tier3}");
    assert!(tier3.message.contains("tier is 0, 1 or 2"), "{tier3}");
    let pii_free = refused("[reads.tiers]\nidentity = 0\n");
    assert_eq!((pii_free.line, pii_free.column), (2, 12), "{pii_free}");
    assert!(pii_free.message.contains("PII"), "{pii_free}");
    let unknown = refused("[reads.tiers]\nidentity = 2\ntransfer = 1\n");
    assert_eq!(unknown.line, 3, "{unknown}");
    assert!(unknown.message.contains("transfer"), "{unknown}");
    let rate = refused("[reads]\nper_agent_per_minute = 0\n");
    assert_eq!((rate.line, rate.column), (2, 24), "{rate}");
    assert_eq!(refused("[reads.tiers]\nbalance = -1\n").line, 2);
    assert_eq!(refused("[reads]\nper_agent_per_min = 5\n").line, 2);
}
