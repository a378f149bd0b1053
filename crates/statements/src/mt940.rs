//! mt940 statements. (Being written: see the crate's README.)

use std::io::BufRead;

use crate::{Error, Event, Format, Result};

pub fn parse<R: BufRead>(_input: R, _sink: &mut dyn FnMut(Event)) -> Result<()> {
    Err(Error::new(Format::Mt940, "file", "this format is not supported yet"))
}
