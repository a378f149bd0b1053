//! What a bank says of itself and of the user at a dialog's start: the bank parameter data (BPD:
//! which business transactions in which versions, the TAN procedures, which transactions need a
//! TAN) and the user parameter data (UPD: the user's accounts). Both carry a version; bankd sends
//! the versions it holds and the bank sends new data only when they changed, so they are kept
//! (sealed, in the source's state) between syncs.

use std::collections::BTreeMap;

use fints::{Message, Segment};
use serde::{Deserialize, Serialize};

/// The HKTAN versions bankd speaks: 6 (PSD2's) and 7 (adds the decoupled status poll).
const HKTAN_VERSIONS: [u32; 2] = [6, 7];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Parameters {
    /// `0` until the bank sent its BPD.
    pub bpd_version: String,
    pub upd_version: String,
    /// Each business transaction the bank offers (`HKKAZ`) and its versions (from `HIKAZS`).
    pub offered: BTreeMap<String, Vec<u32>>,
    /// Whether a transaction needs a TAN (HIPINS); one the bank does not list needs none.
    pub tan_required: BTreeMap<String, bool>,
    /// The bank's TAN procedures, as its highest HITANS version bankd speaks describes them.
    pub procedures: Vec<TanProcedure>,
    /// The procedures this user may use (return code 3920), by security function.
    pub allowed: Vec<String>,
    /// The camt.052 versions HKCAZ can answer in.
    pub camt_descriptors: Vec<String>,
    pub accounts: Vec<UpdAccount>,
}

/// One TAN procedure (a block of HITANS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TanProcedure {
    /// Its security function code (`912`): what the user picks and HNSHK names.
    pub code: String,
    pub name: String,
    /// The HKTAN version to use with it.
    pub hktan_version: u32,
    /// Approved in the bank's app (no TAN to type): the dialog waits and polls.
    pub decoupled: bool,
    /// What the bank calls the value to type (`TAN-Nummer`).
    pub answer_label: String,
    /// The procedure needs the name of the TAN medium (the phone, the TAN generator).
    pub medium_required: bool,
}

/// An account of the UPD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdAccount {
    pub number: String,
    pub sub_account: String,
    pub iban: Option<String>,
    /// FinTS account kind: 1–9 current, 10–19 savings, 20–29 term deposits, 30–39 securities,
    /// 40–49 loans, 50–59 credit cards, 60–69 funds, 70–79 building savings, 80–89 insurance.
    pub kind: Option<u32>,
    pub currency: Option<String>,
    pub holder: Option<String>,
    pub product: Option<String>,
}

impl Parameters {
    /// Takes in what an answer carries: a new BPD replaces the old one whole, a new UPD likewise,
    /// and a 3920 code names the user's procedures.
    pub fn absorb(&mut self, answer: &Message) {
        if let Some(bpa) = answer.find("HIBPA") {
            let allowed = std::mem::take(&mut self.allowed);
            let (upd_version, accounts) = (std::mem::take(&mut self.upd_version), std::mem::take(&mut self.accounts));
            *self = Parameters { allowed, upd_version, accounts, ..Parameters::default() };
            self.bpd_version = bpa.text(0, 0).unwrap_or("0").to_owned();
            for segment in &answer.segments {
                self.read_bpd_segment(segment);
            }
        }
        if let Some(upa) = answer.find("HIUPA") {
            self.upd_version = upa.text(1, 0).unwrap_or("0").to_owned();
            self.accounts = answer.all("HIUPD").filter_map(upd_account).collect();
        }
        if let Some(allowed) = answer.feedback().into_iter().find(|f| f.code == "3920") {
            self.allowed = allowed.params.into_iter().filter(|p| !p.is_empty()).collect();
        }
    }

    fn read_bpd_segment(&mut self, segment: &Segment) {
        let kind = segment.kind.as_str();
        match kind {
            "HIPINS" => {
                let items = segment.element(3).map(|e| e.texts_from(5)).unwrap_or_default();
                for pair in items.chunks(2) {
                    if let [transaction, required] = pair {
                        self.tan_required.insert((*transaction).to_owned(), *required == "J");
                    }
                }
            }
            "HITANS" if HKTAN_VERSIONS.contains(&segment.version) => {
                let newest = self.procedures.first().map_or(0, |p| p.hktan_version);
                if segment.version > newest {
                    self.procedures = tan_procedures(segment);
                }
            }
            "HICAZS" => {
                let items = segment.element(3).map(|e| e.texts_from(3)).unwrap_or_default();
                self.camt_descriptors =
                    items.into_iter().filter(|d| d.contains("camt.052")).map(str::to_owned).collect();
            }
            _ => {}
        }
        // `HIxxxS` offers the business transaction `HKxxx` in its version.
        if kind.len() == 6 && kind.starts_with("HI") && kind.ends_with('S') {
            let versions = self.offered.entry(format!("HK{}", &kind[2..5])).or_default();
            versions.push(segment.version);
            versions.sort_unstable();
        }
    }

    /// The highest version of `transaction` that both the bank and bankd (`known`) speak.
    pub fn version(&self, transaction: &str, known: &[u32]) -> Option<u32> {
        self.offered.get(transaction)?.iter().rev().copied().find(|v| known.contains(v))
    }

    pub fn needs_tan(&self, transaction: &str) -> bool {
        self.tan_required.get(transaction).copied().unwrap_or(false)
    }

    /// The procedures this user may pick, in the bank's order.
    pub fn usable_procedures(&self) -> Vec<&TanProcedure> {
        self.procedures.iter().filter(|p| self.allowed.contains(&p.code)).collect()
    }

    pub fn procedure(&self, code: &str) -> Option<&TanProcedure> {
        self.procedures.iter().find(|p| p.code == code)
    }
}

/// The procedures of a HITANS: after three items, one block per procedure (21 items in v6, 26 in
/// v7). A last block cut short (trailing empty items left out) is read as far as it goes.
fn tan_procedures(segment: &Segment) -> Vec<TanProcedure> {
    let block = if segment.version >= 7 { 26 } else { 21 };
    let items = segment.element(3).map(|e| e.texts_from(3)).unwrap_or_default();
    items
        .chunks(block)
        .filter(|b| b.len() >= 6 && !b[0].is_empty())
        .map(|b| {
            let item = |i: usize| b.get(i).copied().unwrap_or_default();
            let technical = format!("{} {}", item(2), item(3)).to_ascii_lowercase();
            TanProcedure {
                code: item(0).to_owned(),
                name: item(5).to_owned(),
                hktan_version: segment.version,
                decoupled: technical.contains("decoupled"),
                answer_label: Some(item(8)).filter(|t| !t.is_empty()).unwrap_or("TAN").to_owned(),
                medium_required: item(18) == "2",
            }
        })
        .collect()
}

fn upd_account(segment: &Segment) -> Option<UpdAccount> {
    let text = |i, j| segment.text(i, j).map(str::to_owned);
    Some(UpdAccount {
        number: text(0, 0)?,
        sub_account: text(0, 1).unwrap_or_default(),
        iban: text(1, 0),
        kind: segment.text(3, 0).and_then(|k| k.parse().ok()),
        currency: text(4, 0),
        holder: text(5, 0),
        product: text(7, 0),
    })
}

/// The Powens account type of a FinTS account kind.
pub fn account_type(kind: Option<u32>) -> &'static str {
    match kind {
        Some(1..=9) => "checking",
        Some(10..=19 | 70..=79) => "savings",
        Some(20..=29) => "deposit",
        Some(30..=39 | 60..=69) => "market",
        Some(40..=49) => "loan",
        Some(50..=59) => "card",
        Some(80..=89) => "lifeinsurance",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use fints::Element;
    use fints::message::{Feedback, answer, hirms};

    use super::*;

    fn parameters(segments: Vec<Segment>) -> Parameters {
        let mut parameters = Parameters::default();
        parameters.absorb(&Message::decode(&answer("1", 1, 1, segments)).unwrap());
        parameters
    }

    fn hitans(version: u32, blocks: &[&[&str]]) -> Segment {
        let mut items = vec!["J", "N", "0"];
        for block in blocks {
            items.extend_from_slice(block);
        }
        Segment::new("HITANS", version)
            .push("1")
            .push("1")
            .push("1")
            .push(Element::from(items.into_iter().map(str::to_owned).collect::<Vec<_>>()))
    }

    #[test]
    fn the_bpd_lists_transactions_procedures_and_tan_needs() {
        let chip: [&str; 21] = [
            "912",
            "2",
            "HHD1.4",
            "HHD",
            "1.4",
            "chipTAN manuell",
            "6",
            "1",
            "TAN-Nummer",
            "99",
            "N",
            "1",
            "N",
            "0",
            "0",
            "N",
            "N",
            "00",
            "0",
            "N",
            "1",
        ];
        let mut push: Vec<&str> = chip.to_vec();
        push[0] = "946";
        push[2] = "Decoupled";
        push[5] = "pushTAN 2.0";
        push[18] = "2";
        push.extend(["10", "1", "1", "N", "J"]);
        let mut chip7 = chip.to_vec();
        chip7.extend(["", "", "", "", ""]);
        let segments = vec![
            Segment::new("HIBPA", 3).push("7").push(["280", "99999999"]).push("Sandbox"),
            Segment::new("HIPINS", 1)
                .push("1")
                .push("1")
                .push("0")
                .push(["5", "20", "6", "Login", "", "HKSPA", "N", "HKKAZ", "J"]),
            hitans(6, &[&chip]),
            hitans(7, &[&chip7, &push]),
            Segment::new("HIKAZS", 6).push("1").push("1").push("0").push(["90", "N", "N"]),
            Segment::new("HIKAZS", 7).push("1").push("1").push("0").push(["90", "N", "N"]),
            Segment::new("HICAZS", 1).push("1").push("1").push("0").push([
                "450",
                "N",
                "N",
                "urn:iso:std:iso:20022:tech:xsd:camt.052.001.08",
            ]),
            hirms(4, &[Feedback::new("3920", "Zugelassen").with_params(["946"])]),
        ];
        let parameters = parameters(segments);
        assert_eq!(parameters.bpd_version, "7");
        assert_eq!(parameters.version("HKKAZ", &[5, 6, 7]), Some(7));
        assert_eq!(parameters.version("HKKAZ", &[5]), None);
        assert_eq!(parameters.version("HKTAN", &HKTAN_VERSIONS), Some(7));
        assert!(parameters.needs_tan("HKKAZ") && !parameters.needs_tan("HKSPA") && !parameters.needs_tan("HKSAL"));
        assert_eq!(parameters.camt_descriptors, ["urn:iso:std:iso:20022:tech:xsd:camt.052.001.08"]);
        let codes: Vec<&str> = parameters.procedures.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(codes, ["912", "946"], "the v7 description wins");
        let usable = parameters.usable_procedures();
        assert_eq!(usable.len(), 1);
        assert!(usable[0].decoupled && usable[0].medium_required && usable[0].hktan_version == 7);
        assert_eq!(parameters.procedure("912").unwrap().answer_label, "TAN-Nummer");
    }

    #[test]
    fn the_upd_lists_accounts_and_a_new_bpd_keeps_them() {
        let mut parameters = parameters(vec![
            Segment::new("HIUPA", 4).push("max").push("3").push("0"),
            Segment::new("HIUPD", 6)
                .push(["1234567", "", "280", "99999999"])
                .push("DE02999999990001234567")
                .push("max")
                .push("1")
                .push("EUR")
                .push("Max Mustermann")
                .push("")
                .push("Girokonto"),
        ]);
        assert_eq!(parameters.upd_version, "3");
        let account = &parameters.accounts[0];
        assert_eq!(
            (account.number.as_str(), account.kind, account.product.as_deref()),
            ("1234567", Some(1), Some("Girokonto"))
        );
        parameters.absorb(&Message::decode(&answer("1", 2, 2, vec![Segment::new("HIBPA", 3).push("8")])).unwrap());
        assert_eq!((parameters.bpd_version.as_str(), parameters.accounts.len()), ("8", 1));
        assert_eq!(account_type(Some(12)), "savings");
        assert_eq!(account_type(None), "unknown");
    }
}
