//! Safe archiving of accounts: what a sync does with the accounts a bank reports.
//!
//! An account is recognised by its bank id (`webid`). One seen for the first time is discovered
//! (and, by the GDPR consent rule, starts disabled: see `sync`); one the bank reports again is
//! refreshed, and comes back from the archive if it had vanished; one the bank no longer reports
//! is archived (`deleted` set) — never removed, so its history stays readable.

use std::collections::HashSet;

use super::bank::BankAccount;

/// A stored account, as far as archiving is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownAccount {
    pub id: i64,
    pub webid: String,
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AccountChange<'a> {
    /// First time seen: add it.
    Discover(&'a BankAccount),
    /// Seen again: update what the bank says of it, and clear `deleted`.
    Refresh { id: i64, account: &'a BankAccount },
    /// No longer reported: set `deleted`.
    Archive { id: i64 },
}

/// Decides the changes for one connection's accounts. A bank listing the same `webid` twice is
/// read as one account (the first).
pub fn plan_accounts<'a>(known: &[KnownAccount], fetched: &'a [BankAccount]) -> Vec<AccountChange<'a>> {
    let mut seen = HashSet::new();
    let mut changes = Vec::new();
    for account in fetched {
        if !seen.insert(account.webid.as_str()) {
            continue;
        }
        match known.iter().find(|k| k.webid == account.webid) {
            Some(k) => changes.push(AccountChange::Refresh { id: k.id, account }),
            None => changes.push(AccountChange::Discover(account)),
        }
    }
    for k in known {
        if !k.deleted && !seen.contains(k.webid.as_str()) {
            changes.push(AccountChange::Archive { id: k.id });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn bank(webid: &str) -> BankAccount {
        BankAccount {
            webid: webid.into(),
            name: format!("Account {webid}"),
            number: None,
            iban: None,
            bic: None,
            kind: "checking",
            currency: "EUR".into(),
            balance: Decimal::ZERO,
            coming: None,
            usage: "PRIV",
        }
    }

    fn known(id: i64, webid: &str, deleted: bool) -> KnownAccount {
        KnownAccount { id, webid: webid.into(), deleted }
    }

    #[test]
    fn first_sync_discovers_everything() {
        let fetched = [bank("a"), bank("b")];
        assert_eq!(
            plan_accounts(&[], &fetched),
            vec![AccountChange::Discover(&fetched[0]), AccountChange::Discover(&fetched[1])]
        );
    }

    #[test]
    fn same_accounts_again_are_refreshed_only() {
        let fetched = [bank("a")];
        assert_eq!(
            plan_accounts(&[known(1, "a", false)], &fetched),
            vec![AccountChange::Refresh { id: 1, account: &fetched[0] }]
        );
    }

    #[test]
    fn a_vanished_account_is_archived_once() {
        let fetched = [bank("a")];
        let known_now = [known(1, "a", false), known(2, "b", false)];
        assert_eq!(
            plan_accounts(&known_now, &fetched),
            vec![AccountChange::Refresh { id: 1, account: &fetched[0] }, AccountChange::Archive { id: 2 }]
        );
        // Already archived: nothing more to do.
        let archived = [known(1, "a", false), known(2, "b", true)];
        assert_eq!(plan_accounts(&archived, &fetched), vec![AccountChange::Refresh { id: 1, account: &fetched[0] }]);
    }

    #[test]
    fn an_archived_account_that_comes_back_is_refreshed_not_rediscovered() {
        let fetched = [bank("b")];
        assert_eq!(
            plan_accounts(&[known(2, "b", true)], &fetched),
            vec![AccountChange::Refresh { id: 2, account: &fetched[0] }]
        );
    }

    #[test]
    fn an_empty_answer_archives_all_and_never_deletes() {
        let changes = plan_accounts(&[known(1, "a", false), known(2, "b", false)], &[]);
        assert_eq!(changes, vec![AccountChange::Archive { id: 1 }, AccountChange::Archive { id: 2 }]);
    }

    #[test]
    fn a_duplicated_webid_is_one_account() {
        let fetched = [bank("a"), bank("a")];
        assert_eq!(plan_accounts(&[], &fetched), vec![AccountChange::Discover(&fetched[0])]);
    }
}
