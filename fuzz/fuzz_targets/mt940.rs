//! Any bytes read as mt940: an error or events, never a panic, a hang or a blown memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statements::{Format, Options, parse};

fuzz_target!(|data: &[u8]| {
    let mut events = 0usize;
    let _ = parse(Format::Mt940, data, &Options::default(), &mut |_| events += 1);
});
