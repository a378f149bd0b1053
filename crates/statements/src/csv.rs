//! CSV statements. (Being written.)

use std::io::BufRead;

use crate::{Error, Event, Format, Result};

/// How a CSV file's columns map to entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {}

pub fn parse<R: BufRead>(_input: R, _mapping: Option<&Mapping>, _sink: &mut dyn FnMut(Event)) -> Result<()> {
    Err(Error::new(Format::Csv, "file", "this format is not supported yet"))
}
