//! Statement parsing and import (issue 10): generated 50 MB camt.053, OFX and MT940 files parsed
//! by the `statements` crate, in MB/s and peak RSS, beside the anchors of shared/targets.md (camt:
//! a raw quick-xml pull scan of the same file; OFX and MT940: the Python peers on a file of the same
//! generator, both measured here — else the peers' published figures); and 100,000- and
//! 400,000-entry MT940 imports into SQLite and PostgreSQL: wall time, re-import and peak RSS.
//!
//! Each measurement runs in a child process of this binary, so that its peak RSS is its own.
//! `BANKD_BENCH_STATEMENT_MB` changes the file size (default 50).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use bankd_bench::{Backend, fresh_store, header, peak_rss_mb, row};
use rust_decimal::Decimal;
use statements::{Event, Format, Options};

const IMPORT_ENTRIES: [usize; 2] = [100_000, 400_000];
/// Each parse is timed this many times, and its best time kept: the figure of the code, not of
/// whatever else the machine was doing.
const RUNS: usize = 3;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--parse") => return child_parse(&args[2], Path::new(&args[3])),
        Some("--scan") => return child_scan(Path::new(&args[2])),
        Some("--import") => return child_import(&args[2], Path::new(&args[3])),
        Some("--generate") => return child_generate(&args[2], Path::new(&args[3]), args[4].parse().expect("MB")),
        _ => {}
    }
    if std::env::var_os("BANKD_BENCH_NO_HEADER").is_none() {
        header();
    }
    let mb: usize = std::env::var("BANKD_BENCH_STATEMENT_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let dir = tempfile::tempdir().expect("temp dir");
    let camt = generate(dir.path(), "camt053.xml", mb, write_camt);
    let ofx = generate(dir.path(), "statement.ofx", mb, write_ofx);
    let mt940 = generate(dir.path(), "statement.sta", mb, write_mt940);

    // Alternated, so that a busy moment of a shared machine weighs on both alike.
    let (mut scan, mut parse) = ((0.0, 0.0), (0.0, 0.0));
    for _ in 0..RUNS {
        scan = best(scan, measure(&["--scan", path(&camt)]));
        parse = best(parse, measure(&["--parse", "camt", path(&camt)]));
    }
    let ((scan_speed, scan_rss), (camt_speed, camt_rss)) = (scan, parse);
    let target = "≥ 50 % of the scan; RSS flat in file size";
    row(
        &format!("camt.053 parsing, {mb} MB"),
        &format!("{camt_speed:.0} MB/s, peak RSS {camt_rss:.0} MB"),
        &format!("raw quick-xml scan {scan_speed:.0} MB/s ({scan_rss:.0} MB)"),
        &format!("{:.0} %", camt_speed / scan_speed * 100.0),
        target,
    );
    for (name, format, file, peer, published) in
        [("OFX", "ofx", &ofx, "ofxtools", 1.6), ("MT940", "mt940", &mt940, "mt-940 (Python)", 2.5)]
    {
        let (speed, rss) = (0..RUNS).fold((0.0, 0.0), |b, _| best(b, measure(&["--parse", format, path(file)])));
        let (anchor, peer_speed) = match peer_speed(dir.path(), format) {
            Some(measured) => (format!("{peer} {measured:.1} MB/s, this machine (published: {published})"), measured),
            None => (format!("{peer} {published} MB/s (published, shared/targets.md)"), published),
        };
        row(
            &format!("{name} parsing, {mb} MB"),
            &format!("{speed:.0} MB/s, peak RSS {rss:.0} MB"),
            &anchor,
            &format!("{:.0}×", speed / peer_speed),
            "≥ 30×; RSS flat in file size",
        );
    }
    // Two sizes: the import's memory must not grow with the file.
    for backend in ["sqlite", "postgres"] {
        for entries in IMPORT_ENTRIES {
            let file = dir.path().join(format!("import-{entries}.sta"));
            if !file.exists() {
                write_entries(&file, entries);
            }
            let output =
                Command::new(std::env::current_exe().expect("self")).args(["--import", backend, path(&file)]).output();
            let figure = String::from_utf8_lossy(&output.expect("import child").stdout).trim().to_owned();
            let what = format!("import of {entries} MT940 entries, {backend}");
            row(&what, &figure, "—", "—", "seconds; RSS flat in file size");
        }
    }
}

/// The Python peer's speed on this machine, on a 5 MB file of the same generator (its MB/s does not
/// depend on the size; the full file would take minutes): with `BANKD_BENCH_PEERS_PYTHON`, a Python
/// with bench/peers/requirements.txt installed (`bench/run-all` makes one).
fn peer_speed(dir: &Path, format: &str) -> Option<f64> {
    let python = std::env::var_os("BANKD_BENCH_PEERS_PYTHON")?;
    let write = if format == "ofx" { write_ofx } else { write_mt940 };
    let file = generate(dir, &format!("peer.{format}"), 5, write);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/parse.py");
    let output = Command::new(python).arg(script).arg(format).arg(&file).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace().next()?.parse().ok()
}

fn path(file: &Path) -> &str {
    file.to_str().expect("utf-8 temp path")
}

/// The best speed of runs, and the largest peak RSS.
fn best((speed, rss): (f64, f64), (new_speed, new_rss): (f64, f64)) -> (f64, f64) {
    (speed.max(new_speed), rss.max(new_rss))
}

/// Runs a child measurement; returns its MB/s and peak RSS.
fn measure(args: &[&str]) -> (f64, f64) {
    let output = Command::new(std::env::current_exe().expect("self")).args(args).output().expect("child");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut figures = text.split_whitespace().map(|f| f.parse::<f64>().unwrap_or(f64::NAN));
    (figures.next().unwrap_or(f64::NAN), figures.next().unwrap_or(f64::NAN))
}

fn generate(dir: &Path, name: &str, mb: usize, write: fn(&mut dyn Write, usize)) -> PathBuf {
    let path = dir.join(name);
    let mut out = BufWriter::new(std::fs::File::create(&path).expect("create"));
    write(&mut out, mb << 20);
    out.flush().expect("flush");
    path
}

fn megabytes(file: &Path) -> f64 {
    std::fs::metadata(file).map(|m| m.len() as f64 / f64::from(1 << 20)).unwrap_or(f64::NAN)
}

/// `--generate FORMAT FILE MB`: writes the file the benchmark would parse, for profiling one mode.
fn child_generate(format: &str, file: &Path, mb: usize) {
    let write = match format {
        "camt" => write_camt,
        "ofx" => write_ofx,
        "mt940" => write_mt940,
        other => panic!("no generator for {other}"),
    };
    let dir = file.parent().expect("directory");
    generate(dir, file.file_name().and_then(|n| n.to_str()).expect("file name"), mb, write);
}

/// `--parse FORMAT FILE`: parses, counts, prints "MB/s peak-RSS-MB".
fn child_parse(format: &str, file: &Path) {
    let format = Format::from_name(format).expect("format");
    let reader = std::io::BufReader::with_capacity(256 * 1024, std::fs::File::open(file).expect("open"));
    let started = Instant::now();
    let (mut entries, mut sum) = (0usize, Decimal::ZERO);
    statements::parse(format, reader, &Options::default(), &mut |event| {
        if let Event::Entry(entry) = event {
            entries += 1;
            sum += entry.amount;
        }
    })
    .expect("parse");
    let seconds = started.elapsed().as_secs_f64();
    assert!(entries > 0 && sum != Decimal::MAX);
    println!("{} {}", megabytes(file) / seconds, peak_rss_mb());
}

/// `--scan FILE`: the anchor, quick-xml's pull reader counting `Ntry` and summing `Amt`.
fn child_scan(file: &Path) {
    use quick_xml::events::Event as Xml;
    let reader = std::io::BufReader::with_capacity(256 * 1024, std::fs::File::open(file).expect("open"));
    let mut xml = quick_xml::Reader::from_reader(reader);
    let mut buffer = Vec::new();
    let (mut entries, mut sum, mut in_amount) = (0usize, Decimal::ZERO, false);
    let started = Instant::now();
    loop {
        match xml.read_event_into(&mut buffer).expect("xml") {
            Xml::Start(e) if e.local_name().as_ref() == b"Ntry" => entries += 1,
            Xml::Start(e) => in_amount = e.local_name().as_ref() == b"Amt",
            Xml::Text(t) if in_amount => {
                sum += std::str::from_utf8(&t).ok().and_then(|t| t.parse::<Decimal>().ok()).unwrap_or_default();
                in_amount = false;
            }
            Xml::Eof => break,
            _ => {}
        }
        buffer.clear();
    }
    let seconds = started.elapsed().as_secs_f64();
    assert!(entries > 0 && sum != Decimal::MAX);
    println!("{} {}", megabytes(file) / seconds, peak_rss_mb());
}

/// `--import sqlite|postgres FILE`: imports into a fresh database, then again (every entry already
/// there); prints both wall times and the peak RSS.
fn child_import(backend: &str, file: &Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("dir");
        let backend = if backend == "postgres" { Backend::Postgres } else { Backend::Sqlite };
        let Some((store, _)) = fresh_store(backend, &dir).await else {
            return println!("skipped (set BANKD_BENCH_DATABASE_URL)");
        };
        let catalog = bankd::catalog::Catalog::load(None, false).expect("catalog");
        let key = bankd::crypto::MasterKey::from_bytes(&[7; 32]).expect("key");
        let user = store.create_user(None, "bench").await.expect("user");
        let size = megabytes(file);
        let mut seconds = Vec::new();
        for _ in 0..2 {
            let started = Instant::now();
            let options = bankd::import::ImportOptions { format: Some(Format::Mt940), ..Default::default() };
            let input = std::fs::File::open(file).expect("open");
            let imported =
                bankd::import::import(&store, &catalog, &key, user.id, input, options).await.expect("import");
            assert!(imported.added > 0 || imported.unchanged > 0);
            seconds.push(started.elapsed().as_secs_f64());
        }
        let rss = peak_rss_mb();
        println!("{:.2} s, re-import {:.2} s, peak RSS {rss:.0} MB ({size:.0} MB file)", seconds[0], seconds[1]);
    });
}

// ---- Generated files: realistic entries, deterministic ----

const WORDINGS: [&str; 6] = [
    "CB MONOPRIX PARIS 11",
    "PRLV SEPA EDF CLIENT 123456789",
    "VIR SEPA M DUPONT REMBOURSEMENT DINER",
    "RETRAIT DAB PARIS BASTILLE",
    "CB SNCF INTERNET PARIS",
    "VIR SALAIRE ACME SAS NOVEMBRE",
];

/// The `i`-th entry: a day of 2026, signed cents and a wording.
fn entry(i: usize) -> (chrono::NaiveDate, i64, &'static str) {
    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date") + chrono::Days::new((i / 1000 % 365) as u64);
    let cents = ((i * 7919) % 200_000) as i64 - 150_000;
    (day, cents, WORDINGS[i % WORDINGS.len()])
}

fn amount(cents: i64, separator: char) -> String {
    format!("{}{}{separator}{:02}", if cents < 0 { "-" } else { "" }, cents.abs() / 100, cents.abs() % 100)
}

fn write_camt(out: &mut dyn Write, bytes: usize) {
    let mut out = Counted { out, written: 0 };
    out.put("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\">\
         <BkToCstmrStmt><GrpHdr><MsgId>BENCH</MsgId><CreDtTm>2026-12-31T10:00:00</CreDtTm></GrpHdr><Stmt><Id>1</Id>\
         <CreDtTm>2026-12-31T10:00:00</CreDtTm><Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id><Ccy>EUR</Ccy></Acct>\
         <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">1000.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>\
         <Dt><Dt>2026-01-01</Dt></Dt></Bal>\n".into());
    let mut i = 0;
    while out.written < bytes {
        let (day, cents, wording) = entry(i);
        let indicator = if cents < 0 { "DBIT" } else { "CRDT" };
        out.put(format!(
            "<Ntry><NtryRef>{i}</NtryRef><Amt Ccy=\"EUR\">{}</Amt><CdtDbtInd>{indicator}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>\
             <BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt><AcctSvcrRef>BENCH-{i}</AcctSvcrRef>\
             <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>CCRD</Cd><SubFmlyCd>POSD</SubFmlyCd></Fmly></Domn></BkTxCd>\
             <NtryDtls><TxDtls><Refs><EndToEndId>E2E-{i}</EndToEndId></Refs><RltdPties><Cdtr><Nm>SHOP {}</Nm></Cdtr>\
             </RltdPties><RmtInf><Ustrd>{wording}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\n",
            amount(cents.abs(), '.'),
            i % 97,
        ));
        i += 1;
    }
    out.put(
        "<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">1000.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>\
         <Dt><Dt>2026-12-31</Dt></Dt></Bal></Stmt></BkToCstmrStmt></Document>\n"
            .into(),
    );
}

fn write_ofx(out: &mut dyn Write, bytes: usize) {
    let mut out = Counted { out, written: 0 };
    out.put(
        "OFXHEADER:100\r\nDATA:OFXSGML\r\nVERSION:102\r\nSECURITY:NONE\r\nENCODING:USASCII\r\nCHARSET:1252\r\n\
         COMPRESSION:NONE\r\nOLDFILEUID:NONE\r\nNEWFILEUID:NONE\r\n\r\n<OFX><SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<SEVERITY>INFO</STATUS>\
         <DTSERVER>20261231<LANGUAGE>FRA</SONRS></SIGNONMSGSRSV1><BANKMSGSRSV1><STMTTRNRS><TRNUID>1\
         <STATUS><CODE>0<SEVERITY>INFO</STATUS><STMTRS><CURDEF>EUR<BANKACCTFROM><BANKID>30004<BRANCHID>00001\
         <ACCTID>00012345678<ACCTTYPE>CHECKING</BANKACCTFROM><BANKTRANLIST><DTSTART>20260101<DTEND>20261231\r\n"
            .into(),
    );
    let mut i = 0;
    while out.written < bytes {
        let (day, cents, wording) = entry(i);
        out.put(format!(
            "<STMTTRN>\r\n<TRNTYPE>{}\r\n<DTPOSTED>{}\r\n<TRNAMT>{}\r\n<FITID>BENCH{i}\r\n<NAME>{wording}\r\n<MEMO>REF {i}\r\n</STMTTRN>\r\n",
            if cents < 0 { "DEBIT" } else { "CREDIT" },
            day.format("%Y%m%d"),
            amount(cents, '.'),
        ));
        i += 1;
    }
    out.put("</BANKTRANLIST><LEDGERBAL><BALAMT>1000.00<DTASOF>20261231</LEDGERBAL></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\r\n"
        .into());
}

fn write_mt940(out: &mut dyn Write, bytes: usize) {
    let (mut written, mut i) = (0, 0);
    while written < bytes {
        written += write_message(out, &mut i, 1000);
    }
}

/// A writer that counts what it wrote.
struct Counted<'a> {
    out: &'a mut dyn Write,
    written: usize,
}

impl Counted<'_> {
    fn put(&mut self, text: String) {
        self.written += text.len();
        self.out.write_all(text.as_bytes()).expect("write");
    }
}

/// One MT940 message of `count` entries from entry `*i`; returns the bytes written.
fn write_message(out: &mut dyn Write, i: &mut usize, count: usize) -> usize {
    let mut text = format!(
        ":20:BENCH{i}\r\n:25:FR7630006000011234567890189\r\n:28C:{}/1\r\n:60F:C260101EUR1000,00\r\n",
        *i / count + 1
    );
    for _ in 0..count {
        let (day, cents, wording) = entry(*i);
        let mark = if cents < 0 { 'D' } else { 'C' };
        text.push_str(&format!(
            ":61:{}{}{mark}{}NTRFREF{i}//BANK{i}\r\n:86:{wording}\r\n",
            day.format("%y%m%d"),
            day.format("%m%d"),
            amount(cents.abs(), ','),
            i = *i,
        ));
        *i += 1;
    }
    text.push_str(":62F:C261231EUR1000,00\r\n-\r\n");
    out.write_all(text.as_bytes()).expect("write");
    text.len()
}

fn write_entries(file: &Path, entries: usize) {
    let mut out = BufWriter::new(std::fs::File::create(file).expect("create"));
    let mut i = 0;
    while i < entries {
        let count = 1000.min(entries - i);
        write_message(&mut out, &mut i, count);
    }
    out.flush().expect("flush");
}
