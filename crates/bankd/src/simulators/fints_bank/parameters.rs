//! The bank parameter data (BPD) and user parameter data (UPD) the bank sends at dialog start,
//! in the layouts of `fints`' crate documentation.

use fints::{Element, Segment};

use super::Login;
use super::ledger::{self, BANK_CODE, CAMT_02, CAMT_08};

pub const BPD_VERSION: u32 = 1;
pub const UPD_VERSION: u32 = 3;
pub const BANK_NAME: &str = "Sandbox Bank (FinTS)";

/// A transaction kind's parameter segment: one order a message, one signature, security class 0,
/// then its own parameters.
fn offer(kind: &str, version: u32, parameters: Option<Element>) -> Segment {
    let segment = Segment::new(kind, version).push("1").push("1").push("0");
    match parameters {
        Some(parameters) => segment.push(parameters),
        None => segment,
    }
}

fn group(items: &[&str]) -> Element {
    Element::from(items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
}

/// One TAN procedure's block of HITANS: 21 items in version 6, 26 in version 7.
fn procedure(
    version: u32,
    function: &'static str,
    technical_id: &'static str,
    name: &'static str,
    max_input: &'static str,
    medium_required: bool,
) -> Vec<&'static str> {
    let mut items = vec![
        function,
        "2", // TAN process 2 (two steps: order, then TAN)
        technical_id,
        "", // DK procedure
        "", // its version
        name,
        max_input,
        "1", // numeric
        "TAN",
        "2048",
        "N", // multiple TANs
        "1", // TAN time and dialog relation
        "N", // cancel allowed
        "0", // SMS charge account
        "0", // principal account
        "N", // challenge class
        "N", // structured challenge
        "00",
        if medium_required { "2" } else { "0" }, // TAN medium name required
        "N",                                     // HHD_UC answer
        "0",                                     // active media
    ];
    if version >= 7 {
        items.extend(["10", "1", "1", "N", "J"]);
    }
    items
}

fn hitans(version: u32, login: Login) -> Segment {
    let mut items = vec!["J", "N", "0"];
    let media = !login.media().is_empty();
    items.extend(procedure(version, "912", "HHD1.4", "chipTAN manuell", "6", media));
    items.extend(procedure(version, "946", "Decoupled", "pushTAN 2.0 (Sandbox-App)", "0", false));
    if login.procedures().contains(&"902") {
        items.extend(procedure(version, "902", "MS1.0.0", "photoTAN-Verfahren", "7", false));
    }
    offer("HITANS", version, Some(group(&items)))
}

/// The BPD: the bank, its PIN/TAN rules, the TAN procedures and the transactions it offers.
pub fn bpd(login: Login) -> Vec<Segment> {
    let mut segments = vec![
        Segment::new("HIBPA", 3)
            .push(BPD_VERSION.to_string())
            .push(["280", BANK_CODE])
            .push(BANK_NAME)
            .push("3")
            .push("1")
            .push("300"),
        offer(
            "HIPINS",
            1,
            Some(group(&[
                "4",
                "20",
                "6",
                "Benutzerkennung",
                "Kunden-ID",
                "HKSPA",
                "N",
                "HKSAL",
                "N",
                "HKKAZ",
                "J",
                "HKCAZ",
                "J",
                "HKTAB",
                "N",
                "HKTAN",
                "N",
            ])),
        ),
        hitans(6, login),
        hitans(7, login),
        offer("HISPAS", 1, Some(group(&["J", "N", "N"]))),
        offer("HISALS", 7, None),
    ];
    if login.offers_mt940() {
        segments.push(offer("HIKAZS", 7, Some(group(&["90", "N", "N"]))));
    }
    if login.offers_camt() {
        segments.push(offer("HICAZS", 1, Some(group(&["450", "N", "N", CAMT_08, CAMT_02]))));
    }
    segments.push(offer("HITABS", 4, None));
    segments
}

/// The user's TAN media (HITAB v4): each a mobile phone (class `M`), active (`1`), its name the
/// 13th item (after the card's fields, the account's four and the validity's).
pub fn hitab(login: Login, at: u32) -> Segment {
    let mut hitab = Segment::new("HITAB", 4).answering(at).push("0");
    for name in login.media() {
        hitab = hitab.push(group(&["M", "1", "", "", "", "", "", "", "", "", "", "", name]));
    }
    hitab
}

/// The UPD: the user and one HIUPD per account.
pub fn upd(login: &str) -> Vec<Segment> {
    let holder = format!("{} Mustermann", capitalised(login));
    let mut segments = vec![Segment::new("HIUPA", 4).push(login).push(UPD_VERSION.to_string()).push("1")];
    for account in ledger::accounts(login) {
        segments.push(
            Segment::new("HIUPD", 6)
                .push([account.number.as_str(), "", "280", BANK_CODE])
                .push(account.iban.as_str())
                .push(login)
                .push(account.kind.to_string())
                .push("EUR")
                .push(holder.as_str())
                .push("")
                .push(account.name),
        );
    }
    segments
}

fn capitalised(login: &str) -> String {
    let mut chars = login.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
