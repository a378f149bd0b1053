//! Whole messages under PIN/TAN security (the "Sicherheitsverfahren PIN/TAN" document): the
//! message header and end (HNHBK, HNHBS), the encryption envelope that PIN/TAN leaves in clear
//! (HNVSK, HNVSD: TLS does the encrypting) and, inside it, the signature head and end (HNSHK,
//! HNSHA) whose "signature" is the PIN and, when the bank asked for one, the TAN.
//!
//! A request's business segments are numbered from [`FIRST_SEGMENT`], in the order given; the
//! bank's answers name those numbers (`HIRMS:4:2:3` answers segment 3).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::codec::{Element, Segment, SyntaxError, Value, decode};

/// The number of a request's first business segment (after HNHBK 1 and HNSHK 2).
pub const FIRST_SEGMENT: u32 = 3;
/// The FinTS version of the messages: 3.0.
const VERSION: &str = "300";
/// The security function of a one-step (PIN only) message: the first, anonymous-to-TAN dialog.
pub const ONE_STEP: &str = "999";
/// A message's size field: twelve digits, so its own length never changes.
const SIZE_DIGITS: usize = 12;

/// Who signs a request and how (the HNSHK/HNSHA and HNVSK fields).
#[derive(Clone)]
pub struct Signer<'a> {
    /// The bank's code (BLZ), with the country 280 (Germany).
    pub bank_code: &'a str,
    /// The login (Benutzerkennung).
    pub user_id: &'a str,
    /// The customer system id the bank gave (HISYN), `0` before there is one.
    pub system_id: &'a str,
    /// The TAN procedure's code (`912`…), or [`ONE_STEP`].
    pub security_function: &'a str,
    pub pin: &'a str,
    pub tan: Option<&'a str>,
    /// A random number that ties HNSHK to HNSHA.
    pub control_reference: &'a str,
    /// When the message is signed: `YYYYMMDD` and `HHMMSS`.
    pub date: &'a str,
    pub time: &'a str,
}

/// A request: `segments` in the signed envelope of dialog `dialog_id`'s message `number`.
pub fn request(dialog_id: &str, number: u32, signer: &Signer<'_>, segments: Vec<Segment>) -> Vec<u8> {
    let profile_version = if signer.security_function == ONE_STEP { "1" } else { "2" };
    let profile = ["PIN", profile_version];
    let party = ["1", "", signer.system_id];
    let stamp = ["1", signer.date, signer.time];
    let key_name = |kind: &'static str| -> Element { ["280", signer.bank_code, signer.user_id, kind, "0", "0"].into() };
    let mut signed = vec![
        Segment::new("HNSHK", 4)
            .push(profile)
            .push(signer.security_function)
            .push(signer.control_reference)
            .push("1")
            .push("1")
            .push(party)
            .push("1")
            .push(stamp)
            .push(["1", "999", "1"])
            .push(["6", "10", "16"])
            .push(key_name("S")),
    ];
    signed.extend(segments);
    let mut signature = vec![signer.pin];
    signature.extend(signer.tan);
    signed.push(
        Segment::new("HNSHA", 2)
            .push(signer.control_reference)
            .push("")
            .push(Element::from(signature.into_iter().map(str::to_owned).collect::<Vec<_>>())),
    );
    let envelope = Segment::new("HNVSK", 3)
        .push(profile)
        .push("998")
        .push("1")
        .push(party)
        .push(stamp)
        .push(Element(vec![
            Value::Text("2".into()),
            Value::Text("2".into()),
            Value::Text("13".into()),
            Value::Binary(vec![0; 8]),
            Value::Text("5".into()),
            Value::Text("1".into()),
        ]))
        .push(key_name("V"))
        .push("0");
    assemble(dialog_id, number, None, envelope, signed, 2)
}

/// The bank's answer to message `answering` of dialog `dialog_id`: `segments` (return codes,
/// parameters, data) in the envelope, numbered from 2.
pub fn answer(dialog_id: &str, number: u32, answering: u32, segments: Vec<Segment>) -> Vec<u8> {
    let envelope = Segment::new("HNVSK", 3)
        .push(["PIN", "2"])
        .push("998")
        .push("1")
        .push(["2", "", ""])
        .push(["1", "", ""])
        .push(["2", "2", "13", "", "5", "1"])
        .push(["280", "", "", "V", "0", "0"])
        .push("0");
    assemble(dialog_id, number, Some(answering), envelope, segments, 2)
}

/// HNHBK, the envelope holding `inner` (numbered from `first`), HNHBS; the size field filled last.
fn assemble(
    dialog_id: &str,
    number: u32,
    answering: Option<u32>,
    mut envelope: Segment,
    mut inner: Vec<Segment>,
    first: u32,
) -> Vec<u8> {
    for (segment, n) in inner.iter_mut().zip(first..) {
        segment.number = n;
    }
    let end_number = first + inner.len() as u32;
    let mut data = Vec::new();
    for segment in &inner {
        segment.encode(&mut data);
    }
    envelope.number = 998;
    let mut sealed = Segment::new("HNVSD", 1).push(Element::binary(data));
    sealed.number = 999;
    let mut header =
        Segment::new("HNHBK", 3).push("0".repeat(SIZE_DIGITS)).push(VERSION).push(dialog_id).push(number.to_string());
    if let Some(answering) = answering {
        header = header.push([dialog_id, &answering.to_string()]);
    }
    header.number = 1;
    let mut end = Segment::new("HNHBS", 1).push(number.to_string());
    end.number = end_number;
    let mut out = Vec::new();
    for segment in [&header, &envelope, &sealed, &end] {
        segment.encode(&mut out);
    }
    let size = format!("{:0width$}", out.len(), width = SIZE_DIGITS);
    let at = b"HNHBK:1:3+".len();
    out[at..at + SIZE_DIGITS].copy_from_slice(size.as_bytes());
    out
}

/// A message on HTTP: base64 of its bytes.
pub fn to_wire(message: &[u8]) -> String {
    STANDARD.encode(message)
}

/// A message off HTTP; the line breaks some servers put in the base64 are skipped.
pub fn from_wire(body: &[u8]) -> Result<Vec<u8>, SyntaxError> {
    let compact: Vec<u8> = body.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).map_err(|e| SyntaxError { offset: 0, why: format!("not base64: {e}") })
}

/// A message read, its envelope opened: HNVSD's segments take its place.
#[derive(Debug, Clone)]
pub struct Message {
    pub segments: Vec<Segment>,
}

impl Message {
    pub fn decode(bytes: &[u8]) -> Result<Message, SyntaxError> {
        let mut segments = Vec::new();
        for segment in decode(bytes)? {
            match (segment.kind.as_str(), segment.binary(0)) {
                ("HNVSD", Some(inner)) => segments.extend(decode(inner)?),
                ("HNVSD", None) => {
                    return Err(SyntaxError { offset: 0, why: "HNVSD holds no binary data".into() });
                }
                _ => segments.push(segment),
            }
        }
        match segments.first() {
            Some(first) if first.kind == "HNHBK" => Ok(Message { segments }),
            _ => Err(SyntaxError { offset: 0, why: "the message does not begin with HNHBK".into() }),
        }
    }

    /// The first segment of `kind`.
    pub fn find(&self, kind: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.kind == kind)
    }

    /// Every segment of `kind`.
    pub fn all<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Segment> + 'a {
        self.segments.iter().filter(move |s| s.kind == kind)
    }

    /// The segments that are neither header, envelope nor signature.
    pub fn business(&self) -> impl Iterator<Item = &Segment> {
        const FRAME: [&str; 6] = ["HNHBK", "HNHBS", "HNVSK", "HNVSD", "HNSHK", "HNSHA"];
        self.segments.iter().filter(|s| !FRAME.contains(&s.kind.as_str()))
    }

    pub fn dialog_id(&self) -> Option<&str> {
        self.find("HNHBK")?.text(2, 0)
    }

    pub fn number(&self) -> Option<u32> {
        self.find("HNHBK")?.text(3, 0)?.parse().ok()
    }

    /// The return codes: the message's (HIRMG) then each segment's (HIRMS), in order.
    pub fn feedback(&self) -> Vec<Feedback> {
        let codes = self.segments.iter().filter(|s| s.kind == "HIRMG" || s.kind == "HIRMS");
        codes
            .flat_map(|s| {
                let segment = if s.kind == "HIRMS" { s.reference } else { None };
                s.elements.iter().filter_map(move |e| Feedback::read(e, segment))
            })
            .collect()
    }

    /// The signer's fields as sent (a bank reads these): the security function, the login, the
    /// system id, the PIN and the TAN.
    pub fn signature(&self) -> Option<Signature> {
        let head = self.find("HNSHK")?;
        let end = self.find("HNSHA")?;
        let text = |segment: &Segment, i, j| segment.text(i, j).unwrap_or_default().to_owned();
        Some(Signature {
            security_function: text(head, 1, 0),
            user_id: text(head, 10, 2),
            system_id: text(head, 5, 2),
            pin: text(end, 2, 0),
            tan: end.text(2, 1).map(str::to_owned),
        })
    }
}

/// What a request's signature carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub security_function: String,
    pub user_id: String,
    pub system_id: String,
    pub pin: String,
    pub tan: Option<String>,
}

/// One return code: `0xxx` done, `3xxx` a warning or a note, `9xxx` an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    pub code: String,
    /// The data element it is about, when one is (`2,1`).
    pub element: Option<String>,
    pub text: String,
    /// The code's parameters: the allowed TAN procedures of 3920, the touchdown point of 3040.
    pub params: Vec<String>,
    /// The request's segment it answers; `None` for the whole message (HIRMG).
    pub segment: Option<u32>,
}

impl Feedback {
    pub fn new(code: &str, text: &str) -> Feedback {
        Feedback { code: code.into(), element: None, text: text.into(), params: Vec::new(), segment: None }
    }

    pub fn with_params<S: Into<String>>(mut self, params: impl IntoIterator<Item = S>) -> Feedback {
        self.params = params.into_iter().map(Into::into).collect();
        self
    }

    fn read(element: &Element, segment: Option<u32>) -> Option<Feedback> {
        Some(Feedback {
            code: element.text(0)?.to_owned(),
            element: element.text(1).map(str::to_owned),
            text: element.text(2).unwrap_or_default().to_owned(),
            params: element.texts_from(3).into_iter().map(str::to_owned).collect(),
            segment,
        })
    }

    pub fn is_error(&self) -> bool {
        self.code.starts_with('9')
    }

    /// The code as a data element group.
    pub fn element(&self) -> Element {
        let mut items = vec![self.code.clone(), self.element.clone().unwrap_or_default(), self.text.clone()];
        items.extend(self.params.iter().cloned());
        Element::from(items)
    }
}

/// The message's return codes (HIRMG).
pub fn hirmg(codes: &[Feedback]) -> Segment {
    codes.iter().fold(Segment::new("HIRMG", 2), |s, code| s.push(code.element()))
}

/// The return codes of the request's segment `reference` (HIRMS).
pub fn hirms(reference: u32, codes: &[Feedback]) -> Segment {
    codes.iter().fold(Segment::new("HIRMS", 2).answering(reference), |s, code| s.push(code.element()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer<'static> {
        Signer {
            bank_code: "12345678",
            user_id: "max?mustermann",
            system_id: "0",
            security_function: "912",
            pin: "pa+ss:'w",
            tan: Some("123456"),
            control_reference: "4711",
            date: "20261204",
            time: "231500",
        }
    }

    #[test]
    fn a_request_is_sized_numbered_and_signed() {
        let hkidn = Segment::new("HKIDN", 2).push(["280", "12345678"]).push("max?mustermann").push("0").push("1");
        let wire = request("0", 1, &signer(), vec![hkidn, Segment::new("HKSYN", 3).push("0")]);
        let size: usize = std::str::from_utf8(&wire[10..22]).unwrap().parse().unwrap();
        assert_eq!(size, wire.len(), "HNHBK's size is the whole message's");
        assert!(wire.starts_with(b"HNHBK:1:3+"), "{}", String::from_utf8_lossy(&wire));
        assert!(wire.ends_with(b"HNHBS:6:1+1'"), "{}", String::from_utf8_lossy(&wire));
        let message = Message::decode(&wire).unwrap();
        let kinds: Vec<(&str, u32)> = message.segments.iter().map(|s| (s.kind.as_str(), s.number)).collect();
        assert_eq!(
            kinds,
            [("HNHBK", 1), ("HNVSK", 998), ("HNSHK", 2), ("HKIDN", 3), ("HKSYN", 4), ("HNSHA", 5), ("HNHBS", 6)]
        );
        let signature = message.signature().unwrap();
        assert_eq!(signature.pin, "pa+ss:'w", "escaped on the wire, whole when read");
        assert_eq!((signature.user_id.as_str(), signature.tan.as_deref()), ("max?mustermann", Some("123456")));
        assert_eq!(message.find("HKIDN").unwrap().text(1, 0), Some("max?mustermann"));
        assert_eq!(message.business().count(), 2);
    }

    #[test]
    fn a_one_step_request_uses_the_first_profile_and_no_tan() {
        let signer = Signer { security_function: ONE_STEP, tan: None, ..signer() };
        let message = Message::decode(&request("0", 1, &signer, Vec::new())).unwrap();
        assert_eq!(message.find("HNSHK").unwrap().text(0, 1), Some("1"));
        assert_eq!(message.signature().unwrap().tan, None);
    }

    #[test]
    fn an_answer_carries_its_codes_by_segment() {
        let codes = vec![
            hirmg(&[Feedback::new("3060", "Teilweise liegen Warnungen/Hinweise vor.")]),
            hirms(3, &[Feedback::new("3920", "Zugelassene TAN-Verfahren").with_params(["912", "946"])]),
            hirms(4, &[Feedback::new("3040", "Es liegen weitere Informationen vor.").with_params(["20261204:17"])]),
        ];
        let wire = answer("DLG?1", 2, 2, codes);
        let message = Message::decode(&from_wire(to_wire(&wire).as_bytes()).unwrap()).unwrap();
        assert_eq!((message.dialog_id(), message.number()), (Some("DLG?1"), Some(2)));
        let feedback = message.feedback();
        assert_eq!(feedback[0].segment, None);
        assert_eq!((feedback[1].segment, &feedback[1].params), (Some(3), &vec!["912".to_owned(), "946".to_owned()]));
        assert_eq!(feedback[2].params, ["20261204:17"], "a touchdown point keeps its colon");
    }

    #[test]
    fn base64_with_line_breaks_is_read() {
        let wire = answer("1", 1, 1, vec![hirmg(&[Feedback::new("0010", "ok")])]);
        let mut text = to_wire(&wire);
        text.insert_str(20, "\r\n");
        assert_eq!(from_wire(text.as_bytes()).unwrap(), wire);
        assert!(from_wire(b"not base64!").is_err());
    }
}
