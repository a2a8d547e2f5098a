//! Approver groups: "one of finance and one of ops". A request names one group per approval
//! (or one group for all of them); each approver fills one slot their groups allow, and nobody
//! fills two. Whether a set of approvers fits is a small matching problem, solved exactly.

/// Whether `approvers` (each with their groups) can fill distinct slots of `slots`. An empty
/// `slots` lets anyone approve; a single slot applies to every approval.
pub fn approvers_fit(slots: &[String], approvers: &[Vec<String>]) -> bool {
    match slots {
        [] => true,
        [only] => approvers.iter().all(|groups| groups.contains(only)),
        _ => approvers.len() <= slots.len() && assign(slots, approvers, &mut vec![false; slots.len()]),
    }
}

/// Backtracking over at most ten slots (`approvals` is capped at 10).
fn assign(slots: &[String], approvers: &[Vec<String>], taken: &mut Vec<bool>) -> bool {
    let Some((first, rest)) = approvers.split_first() else { return true };
    for (i, slot) in slots.iter().enumerate() {
        if !taken[i] && first.contains(slot) {
            taken[i] = true;
            if assign(slots, rest, taken) {
                return true;
            }
            taken[i] = false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn one_of_finance_and_one_of_ops_needs_one_of_each() {
        let slots = groups(&["finance", "ops"]);
        assert!(approvers_fit(&slots, &[groups(&["finance"])]));
        assert!(approvers_fit(&slots, &[groups(&["finance"]), groups(&["ops"])]));
        assert!(!approvers_fit(&slots, &[groups(&["finance"]), groups(&["finance"])]), "two of finance");
        assert!(!approvers_fit(&slots, &[groups(&["sales"])]));
    }

    #[test]
    fn a_member_of_both_groups_fills_whichever_slot_is_left() {
        let slots = groups(&["finance", "ops"]);
        assert!(approvers_fit(&slots, &[groups(&["finance", "ops"]), groups(&["finance"])]));
        assert!(!approvers_fit(&slots, &[groups(&["finance", "ops"]), groups(&["finance"]), groups(&["ops"])]));
    }

    #[test]
    fn a_single_group_applies_to_every_approval_and_no_group_to_nobody() {
        let slots = groups(&["finance"]);
        assert!(approvers_fit(&slots, &[groups(&["finance"]), groups(&["finance", "ops"])]));
        assert!(!approvers_fit(&slots, &[groups(&["finance"]), groups(&[])]));
        assert!(approvers_fit(&[], &[groups(&[])]));
    }
}
