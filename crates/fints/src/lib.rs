//! FinTS 3.0 (formerly HBCI), the German banks' online-banking protocol, as far as a read-only
//! PIN/TAN client and a bank that answers it need: the syntax ([`codec`]), the PIN/TAN message
//! envelope and return codes ([`message`]). Pure: no I/O, no async.
//!
//! # Segment layouts
//!
//! The business segments both sides of bankd speak, element by element (`+`-separated, from 1;
//! `a:b` is a group). Every layout is the FinTS 3.0 specification's; the lists here are what the
//! client sends and reads, so that a reader of either side can check one against the other.
//!
//! Dialog (Formals, "Dialogspezifikation"):
//! - `HKIDN:n:2` — 1 `280:bank code`, 2 customer id (the login when the user has none), 3 system
//!   id (`0` until HISYN gave one), 4 system status `1` (a system id is required).
//! - `HKVVB:n:3` — 1 BPD version (`0`: none known), 2 UPD version, 3 language `0`, 4 product id,
//!   5 product version.
//! - `HKSYN:n:3` — 1 mode `0` (a new system id). Answer `HISYN:n:4` — 1 the system id.
//! - `HKEND:n:1` — 1 dialog id.
//! - `HKTAN:n:6` / `HKTAN:n:7` — 1 TAN process: `4` (ask for an SCA of the segment in 2), `2`
//!   (the TAN for the task in 5), `S` (v7: has the task of 5 been approved in the app?); 2 the
//!   segment kind (`HKIDN`, `HKKAZ`…, process 4); 5 task reference (processes 2, S); 6 another
//!   TAN follows `N` (processes 2, S); 11 TAN medium name, when the procedure needs one.
//!   Answer `HITAN:n:6|7` — 1 process, 2 task hash (empty), 3 task reference, 4 challenge text,
//!   5 HHD_UC challenge (binary), 6 `date:time` until which the TAN is valid, 7 TAN medium.
//!
//! Bank parameter data (BPD) and user parameter data (UPD), sent by the bank at dialog start:
//! - `HIBPA:n:3` — 1 BPD version, 2 `280:bank code`, 3 bank name, 4 number of transaction
//!   kinds, 5 languages, 6 FinTS versions.
//! - `HIUPA:n:4` — 1 user id, 2 UPD version, 3 UPD usage.
//! - `HIUPD:n:6` — 1 `account number:sub-account:280:bank code`, 2 IBAN, 3 customer id, 4 account
//!   kind (1–9 current, 10–19 savings, 30–39 securities, 50–59 credit card…), 5 currency, 6 holder
//!   name 1, 7 holder name 2, 8 product name (the account's label).
//! - `HIPINS:n:1` — 4 `min PIN length:max PIN length:max TAN length:user id text:customer id
//!   text` followed by pairs `segment kind:TAN required (J/N)`.
//! - `HITANS:n:6|7` — 4 `one step allowed:more than one task:task hash procedure` followed by one
//!   block per TAN procedure, 21 items in v6 and 26 in v7: 1 security function (`912`), 2 TAN
//!   process, 3 technical id, 4 DK procedure, 5 its version, 6 name, 7 max input length, 8 allowed
//!   format, 9 return value text, 10 max return length, 11 multiple TANs, 12 TAN time and dialog
//!   relation, 13 cancel allowed, 14 SMS charge account, 15 principal account, 16 challenge class,
//!   17 structured challenge, 18 initialisation mode, 19 TAN medium name required (`2`:
//!   required), 20 HHD_UC answer, 21 active media; v7 adds 22 max status polls, 23 seconds before
//!   the first poll, 24 seconds between polls, 25 manual confirmation, 26 automated polls allowed.
//! - `HISPAS:n:1`, `HISALS:n:7`, `HIKAZS:n:7` (4 `days of history kept:entry count allowed:all
//!   accounts allowed`), `HICAZS:n:1` (4 `days kept:entry count allowed:all accounts:camt
//!   descriptors…`), `HITABS:n:4`: a transaction kind the bank offers, in the version given.
//!
//! Business transactions (an international account is `IBAN:BIC:account number:sub-account:280:
//! bank code`):
//! - `HKSPA:n:1` — no element: every SEPA account. Answer `HISPA:n:1` — one element per account:
//!   `J:IBAN:BIC:account number:sub-account:280:bank code`.
//! - `HKSAL:n:7` — 1 international account, 2 all accounts `N`. Answer `HISAL:n:7` — 1 account,
//!   2 product name, 3 currency, 4 booked balance `C|D:amount:currency:YYYYMMDD`, 5 balance of
//!   pending entries (same form).
//! - `HKKAZ:n:7` — 1 international account, 2 all accounts `N`, 3 from `YYYYMMDD`, 4 to, 5 max
//!   entries, 6 touchdown point. Answer `HIKAZ:n:7` — 1 booked entries as MT940 (binary), 2
//!   pending entries as MT942 (binary).
//! - `HKCAZ:n:1` — 1 international account, 2 `camt descriptor`s accepted, 3 all accounts `N`, 4
//!   from, 5 to, 6 max entries, 7 touchdown point. Answer `HICAZ:n:1` — 1 account, 2 the camt
//!   descriptor used, 3 booked entries as camt.052 documents (a group of binaries), 4 pending
//!   entries as one camt.052 document (binary).
//! - `HKTAB:n:4` — 1 medium kind `0`, 2 medium class `A`. Answer `HITAB:n:4` — 1 TAN usage
//!   option, then one element per medium: 1 class, 2 status (`1` active), 3 card number, 4 card
//!   sequence, 5 card kind, 6–9 the account (national), 10 valid from, 11 valid to, 12 TAN list
//!   number, 13 the medium's name (HITAB v5 puts the security function after the status: 14).
//!
//! Return codes (HIRMG for the message, HIRMS per segment): `0010`/`0020` done, `0030` a TAN is
//! needed (HITAN follows), `3040` more entries (its parameter is the touchdown point), `3060`
//! warnings, `3076` no strong authentication needed, `3920` the user's TAN procedures (the
//! parameters), `3955` approve in the app (decoupled), `3956` not approved yet, `9xxx` errors.

pub mod codec;
pub mod message;

pub use codec::{Element, Segment, SyntaxError, Value};
pub use message::{Feedback, Message, Signature, Signer};
